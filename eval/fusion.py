#!/usr/bin/env python3
"""Compares ways of fusing keyword and dense rankings, offline, on the rankings
that `eval/run.py --dump FILE` saved (so no re-ingestion per variant).

Usage:  python3 eval/fusion.py FILE

Scores by document like run.py (the first result from each page counts).
"""

import json
import sys


def score(questions, ranked_sources):
    n = hit1 = hit5 = 0
    rr = 0.0
    for q in questions:
        if not q["answers"]:
            continue
        pages = []
        for source in ranked_sources[q["id"]]:
            if source not in pages:
                pages.append(source)
        rank = next((i + 1 for i, p in enumerate(pages[:10]) if p in q["answers"]), None)
        n += 1
        hit1 += rank == 1
        hit5 += rank is not None and rank <= 5
        rr += 1 / rank if rank else 0.0
    return hit1 / n, hit5 / n, rr / n


def rrf(keyword, dense, k=60.0, wk=1.0, wd=1.0, depth=50):
    scores, source = {}, {}
    for weight, ranking in ((wk, keyword[:depth]), (wd, dense[:depth])):
        for rank, r in enumerate(ranking):
            scores[r["chunk_id"]] = scores.get(r["chunk_id"], 0.0) + weight / (k + rank + 1)
            source[r["chunk_id"]] = r["source"]
    order = sorted(scores, key=lambda c: -scores[c])
    return [(c, source[c], scores[c]) for c in order]


def minmax(ranking, key):
    """Each result's `key` scaled to [0, 1] over this ranking (best 1, worst 0)."""
    values = [r[key] for r in ranking]
    if not values:
        return {}
    top, bottom = max(values), min(values)
    spread = (top - bottom) or 1.0
    return {r["chunk_id"]: (r[key] - bottom) / spread for r in ranking}


def convex(keyword, dense, alpha, depth=50):
    """alpha * BM25 + (1 - alpha) * cosine, each min-max scaled over its own
    candidates; a chunk only one retriever found gets 0 from the other."""
    kw, de = minmax(keyword[:depth], "score"), minmax(dense[:depth], "similarity")
    source = {r["chunk_id"]: r["source"] for r in keyword[:depth] + dense[:depth]}
    scores = {c: alpha * kw.get(c, 0.0) + (1 - alpha) * de.get(c, 0.0) for c in source}
    order = sorted(scores, key=lambda c: -scores[c])
    return [(c, source[c], scores[c]) for c in order]


def with_document_bonus(fused, bonus):
    """Adds `bonus` times the sum of the other scores of the same document."""
    per_doc = {}
    for _, source, s in fused:
        per_doc[source] = per_doc.get(source, 0.0) + s
    rescored = [(c, source, s + bonus * (per_doc[source] - s)) for c, source, s in fused]
    return sorted(rescored, key=lambda x: -x[2])


def main():
    data = json.load(open(sys.argv[1]))
    questions, rankings = data["questions"], data["rankings"]
    kw, de = rankings["keyword"], rankings["dense"]
    rows = []
    for name in ("keyword", "dense", "hybrid"):
        if name in rankings:
            rows.append((f"{name} (as served)", score(questions, {q: [r["source"] for r in rs] for q, rs in rankings[name].items()})))
    for k in (10, 20, 40, 60, 100):
        for wk, wd in ((1, 1), (1, 1.5), (1.5, 1), (1, 2)):
            fused = {q["id"]: [s for _, s, _ in rrf(kw[q["id"]], de[q["id"]], k, wk, wd)] for q in questions}
            rows.append((f"rrf k={k} wk={wk} wd={wd}", score(questions, fused)))
    for alpha in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        fused = {q["id"]: [s for _, s, _ in convex(kw[q["id"]], de[q["id"]], alpha)] for q in questions}
        rows.append((f"convex alpha={alpha} (min-max)", score(questions, fused)))
    for k in (20, 60):
        for bonus in (0.1, 0.25, 0.5):
            fused = {
                q["id"]: [s for _, s, _ in with_document_bonus(rrf(kw[q["id"]], de[q["id"]], k), bonus)]
                for q in questions
            }
            rows.append((f"rrf k={k} + document bonus {bonus}", score(questions, fused)))
    print(f"{'fusion':<36} {'hit@1':>7} {'hit@5':>7} {'MRR@10':>7}")
    for name, (h1, h5, mrr) in rows:
        print(f"{name:<36} {h1:>7.3f} {h5:>7.3f} {mrr:>7.3f}")


if __name__ == "__main__":
    main()
