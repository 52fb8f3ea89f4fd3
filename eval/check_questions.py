#!/usr/bin/env python3
"""Check eval/questions.jsonl against the corpus in eval/.corpus/pages/.

- every line is a valid question object with the keys, in this order: id,
  question, previous (follow-up only), style, kind (unanswerable only),
  answers, split;
- ids are unique, styles are known, unanswerable <=> empty answers, answers
  are sorted and without duplicates;
- "kind" is present exactly for unanswerable questions and is one of
  neighbour, feature, tool, policy, term;
- "previous" (the visitor's earlier question) is present exactly for
  follow-up questions and is a non-empty string;
- "split" is tuning or held-out on every line; held-out is every third
  question, starting with the first, when the questions of a style (of an
  unanswerable kind) are sorted by the sha256 of their id; for each style
  the held-out share is between 25% and 40%;
- every answer page exists in eval/.corpus/pages/;
- every (question, answer page) pair has a line in eval/evidence.jsonl whose
  regular expression matches the page's text (tags stripped, entities
  decoded, whitespace collapsed, case-insensitive).

Standard library only. Run ./fetch-corpus.sh first. Exits 1 on any problem.
"""
import collections
import hashlib
import html
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PAGES = os.path.join(HERE, ".corpus", "pages")
STYLES = {"paraphrase", "keyword", "typo", "long", "unanswerable", "follow-up"}
KINDS = {"neighbour", "feature", "tool", "policy", "term"}
SPLITS = {"tuning", "held-out"}
HELD_OUT_SHARE = (0.25, 0.40)


def expected_keys(q):
    keys = ["id", "question"]
    if q.get("style") == "follow-up":
        keys.append("previous")
    keys.append("style")
    if q.get("style") == "unanswerable":
        keys.append("kind")
    return keys + ["answers", "split"]


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
            if not isinstance(q, dict) or list(q) != expected_keys(q):
                got = list(q) if isinstance(q, dict) else type(q).__name__
                errors.append(f"questions.jsonl:{n}: keys {got}, "
                              f"expected {expected_keys(q) if isinstance(q, dict) else 'an object'}")
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
        if answers != sorted(set(answers)):
            errors.append(f"{qid}: answers not sorted or not unique: {answers}")
        if style == "unanswerable" and q.get("kind") not in KINDS:
            errors.append(f"{qid}: unknown kind {q.get('kind')!r}")
        if style == "follow-up":
            prev = q.get("previous")
            if not isinstance(prev, str) or not prev.strip():
                errors.append(f"{qid}: previous must be a non-empty string")
        if q["split"] not in SPLITS:
            errors.append(f"{qid}: unknown split {q['split']!r}")
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

    # held-out: every third question, starting with the first, of each style
    # (each unanswerable kind) sorted by the sha256 of its id
    groups = collections.defaultdict(list)
    for q in questions:
        groups[(q["style"], q.get("kind"))].append(q)
    for group in groups.values():
        group.sort(key=lambda q: hashlib.sha256(q["id"].encode()).hexdigest())
        for i, q in enumerate(group):
            want = "held-out" if i % 3 == 0 else "tuning"
            if q["split"] != want:
                errors.append(f"{q['id']}: split {q['split']!r}, expected {want!r}")
    styles = collections.Counter(q["style"] for q in questions)
    held = collections.Counter(q["style"] for q in questions if q["split"] == "held-out")
    for style, count in styles.items():
        share = held[style] / count
        if not HELD_OUT_SHARE[0] <= share <= HELD_OUT_SHARE[1]:
            errors.append(f"style {style}: held-out share {share:.1%} outside "
                          f"{HELD_OUT_SHARE[0]:.0%}-{HELD_OUT_SHARE[1]:.0%}")

    pages = {p for q in questions for p in q["answers"]}
    print(f"{len(questions)} questions: " +
          ", ".join(f"{s} {styles[s]} ({held[s]} held-out)" for s in sorted(styles)))
    kinds = collections.Counter(q.get("kind") for q in questions if q["style"] == "unanswerable")
    print("unanswerable kinds: " + ", ".join(f"{k} {kinds[k]}" for k in sorted(kinds, key=str)))
    splits = collections.Counter(q["split"] for q in questions)
    print("splits: " + ", ".join(f"{k} {splits[k]}" for k in sorted(splits)))
    print(f"{len(pages)} distinct answer pages out of "
          f"{len([p for p in os.listdir(PAGES) if p.endswith('.html')])} corpus pages")
    for e in errors:
        print("ERROR", e)
    if errors:
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
