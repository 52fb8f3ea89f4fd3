#!/usr/bin/env python3
"""Fits the answerability model (src/chat/answerable.rs) on the tuning split.

Usage:  python3 eval/run.py --data DIR --dump FILE   # signals of every question
        python3 eval/fit.py FILE [--l2 0.1]

For each retriever set the chat turn can run with — hybrid search (an
embedding model: WITH_DENSE) and keyword search alone (KEYWORD_ONLY) — it fits
a logistic regression of "the corpus answers this question" on the signals
the search endpoint reports, using only the tuning split's questions (the
follow-ups excepted: the search endpoint sees them without their
conversation). It prints the coefficients as Rust constants, the abstain and
false-abstain rates on the tuning split over a range of thresholds, and a
5-fold cross-validation on the tuning split, so that the held-out split stays
unseen: eval/run.py reports on it. Standard library only.
"""

import argparse
import json
import math
import random

# The order of Signals::features in src/chat/answerable.rs.
FEATURES = ["cosine", "coverage", "coverage_top3", "support", "unknown", "agreement", "terms"]
MODELS = {"hybrid": "WITH_DENSE", "keyword": "KEYWORD_ONLY"}


def features(signals):
    x = []
    for name in FEATURES:
        value = signals[name]
        if name == "cosine":
            value = value if value is not None else 0.0
        elif name == "terms":
            value = math.log(1 + value)
        x.append(float(value))
    return x


def solve(a, b):
    """Solves a x = b by Gaussian elimination with partial pivoting."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        if abs(m[col][col]) < 1e-12:
            continue
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                for c in range(col, n + 1):
                    m[r][c] -= f * m[col][c]
    return [m[i][n] / m[i][i] if abs(m[i][i]) > 1e-12 else 0.0 for i in range(n)]


def fit(xs, ys, l2, used):
    """Newton's method for L2-regularised logistic regression (intercept not
    penalised); features not in `used` stay at weight 0."""
    k = len(used) + 1
    w = [0.0] * k
    rows = [[1.0] + [x[i] for i in used] for x in xs]
    for _ in range(50):
        grad = [0.0] * k
        hess = [[0.0] * k for _ in range(k)]
        for row, y in zip(rows, ys):
            p = 1 / (1 + math.exp(-max(-30, min(30, sum(a * b for a, b in zip(w, row))))))
            for i in range(k):
                grad[i] += (p - y) * row[i]
                for j in range(k):
                    hess[i][j] += p * (1 - p) * row[i] * row[j]
        for i in range(1, k):
            grad[i] += l2 * w[i]
            hess[i][i] += l2
        step = solve(hess, grad)
        w = [a - b for a, b in zip(w, step)]
        if max(abs(s) for s in step) < 1e-9:
            break
    full = [0.0] * len(FEATURES)
    for position, i in enumerate(used):
        full[i] = w[position + 1]
    return w[0], full


def score(model, x):
    intercept, weights = model
    z = intercept + sum(a * b for a, b in zip(weights, x))
    return 1 / (1 + math.exp(-max(-30, min(30, z))))


def rates(model, xs, ys, threshold):
    abstain = sum(score(model, x) < threshold for x, y in zip(xs, ys) if y == 0)
    false_abstain = sum(score(model, x) < threshold for x, y in zip(xs, ys) if y == 1)
    return abstain / max(1, ys.count(0)), false_abstain / max(1, ys.count(1))


def log_loss(model, xs, ys):
    total = 0.0
    for x, y in zip(xs, ys):
        p = min(1 - 1e-9, max(1e-9, score(model, x)))
        total -= y * math.log(p) + (1 - y) * math.log(1 - p)
    return total / len(xs)


def cross_validate(xs, ys, l2, used, threshold, folds=5):
    order = list(range(len(xs)))
    random.Random(7).shuffle(order)
    loss, abstain, false_abstain = 0.0, [], []
    for f in range(folds):
        test = set(order[f::folds])
        train = [i for i in order if i not in test]
        model = fit([xs[i] for i in train], [ys[i] for i in train], l2, used)
        tx, ty = [xs[i] for i in test], [ys[i] for i in test]
        loss += log_loss(model, tx, ty) * len(tx)
        a, fa = rates(model, tx, ty, threshold)
        abstain.append((a, ty.count(0)))
        false_abstain.append((fa, ty.count(1)))
    mean = lambda pairs: sum(r * n for r, n in pairs) / sum(n for _, n in pairs)
    return loss / len(xs), mean(abstain), mean(false_abstain)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dump")
    parser.add_argument("--l2", type=float, default=0.1)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--drop", default="", help="comma-separated signals to leave out")
    args = parser.parse_args()
    data = json.load(open(args.dump))
    questions = [q for q in data["questions"] if q["split"] == "tuning" and q["style"] != "follow-up"]
    dropped = set(filter(None, args.drop.split(",")))
    for mode, name in MODELS.items():
        judged = data["answerability"].get(mode)
        if not judged:
            continue
        xs = [features(judged[q["id"]]["signals"]) for q in questions]
        ys = [1 if q["answers"] else 0 for q in questions]
        used = [
            i
            for i, f in enumerate(FEATURES)
            if f not in dropped and not (mode == "keyword" and f in ("cosine", "agreement"))
        ]
        model = fit(xs, ys, args.l2, used)
        print(f"\n{mode}: {ys.count(1)} answerable, {ys.count(0)} unanswerable tuning questions")
        weights = ", ".join(f"{w:.3f}" for w in model[1])
        print(f"const {name}: Model = Model {{ intercept: {model[0]:.3f}, weights: [{weights}] }};")
        print("  signals:", ", ".join(f"{f} {w:+.2f}" for f, w in zip(FEATURES, model[1])))
        loss, a, fa = cross_validate(xs, ys, args.l2, used, args.threshold)
        print(
            f"  5-fold cross-validation on tuning: log loss {loss:.3f}, at {args.threshold}: "
            f"abstain {a:.3f}, false abstain {fa:.3f}"
        )
        for threshold in [0.2, 0.3, 0.4, 0.5, 0.6, 0.7]:
            a, fa = rates(model, xs, ys, threshold)
            print(f"  threshold {threshold:.1f}: abstain {a:.3f}, false abstain {fa:.3f} (fitted data)")


if __name__ == "__main__":
    main()
