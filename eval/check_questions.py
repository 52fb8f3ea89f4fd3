#!/usr/bin/env python3
"""Check eval/questions.jsonl against the corpus in eval/.corpus/pages/.

- every line is a valid question object (id, question, style, answers);
- ids are unique, styles are known, unanswerable <=> empty answers;
- every answer page exists in eval/.corpus/pages/;
- every (question, answer page) pair has a line in eval/evidence.jsonl whose
  regular expression matches the page's text (tags stripped, entities
  decoded, whitespace collapsed, case-insensitive).

Standard library only. Run ./fetch-corpus.sh first. Exits 1 on any problem.
"""
import collections
import html
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PAGES = os.path.join(HERE, ".corpus", "pages")
STYLES = {"paraphrase", "keyword", "typo", "long", "unanswerable"}


def page_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        t = f.read()
    t = re.sub(r"(?is)<(script|style)[^>]*>.*?</\1>", " ", t)
    t = re.sub(r"<[^>]+>", " ", t)
    return " ".join(html.unescape(t).split())


def main():
    if not os.path.isdir(PAGES):
        sys.exit(f"{PAGES} missing: run eval/fetch-corpus.sh first")
    errors = []
    questions = []
    with open(os.path.join(HERE, "questions.jsonl"), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                q = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"questions.jsonl:{n}: {e}")
                continue
            if set(q) != {"id", "question", "style", "answers"}:
                errors.append(f"questions.jsonl:{n}: unexpected keys {sorted(q)}")
                continue
            questions.append(q)

    evidence = collections.defaultdict(list)
    with open(os.path.join(HERE, "evidence.jsonl"), encoding="utf-8") as f:
        for line in f:
            e = json.loads(line)
            evidence[(e["id"], e["page"])].append(e["pattern"])

    texts = {}
    ids = collections.Counter(q["id"] for q in questions)
    for qid, c in ids.items():
        if c > 1:
            errors.append(f"{qid}: duplicate id")
    for q in questions:
        qid, style, answers = q["id"], q["style"], q["answers"]
        if style not in STYLES:
            errors.append(f"{qid}: unknown style {style!r}")
        if (style == "unanswerable") != (answers == []):
            errors.append(f"{qid}: style {style} with answers {answers}")
        for page in answers:
            path = os.path.join(PAGES, page)
            if not os.path.isfile(path):
                errors.append(f"{qid}: answer page {page} not in corpus")
                continue
            if page not in texts:
                texts[page] = page_text(path)
            pats = evidence.get((qid, page))
            if not pats:
                errors.append(f"{qid}: no evidence pattern for {page}")
            elif not any(re.search(p, texts[page], re.I) for p in pats):
                errors.append(f"{qid}: evidence not found in {page}: {pats}")

    styles = collections.Counter(q["style"] for q in questions)
    pages = {p for q in questions for p in q["answers"]}
    print(f"{len(questions)} questions: " +
          ", ".join(f"{s} {styles[s]}" for s in sorted(styles)))
    print(f"{len(pages)} distinct answer pages out of "
          f"{len([p for p in os.listdir(PAGES) if p.endswith('.html')])} corpus pages")
    for e in errors:
        print("ERROR", e)
    if errors:
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
