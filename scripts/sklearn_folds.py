#!/usr/bin/env python3
"""Rerun synthcti's `none` arm on the same folds with scikit-learn.

    synthcti eval --input data/tram2_single_label.json --output out/eval \
        --arms oversample --ratios 0 --save-folds out/folds.csv
    python3 scripts/sklearn_folds.py out/folds.csv --results out/eval/results.json

Reads the folds that `--save-folds` wrote (seed, row, fold, dropped, label, text, group),
trains TfidfVectorizer + LinearSVC (the probe's scikit-learn counterpart) on every fold's
training part, scores its test part with macro-F1 over the labels of the test truth (as
synthcti does), and prints the per-run scores next to synthcti's `none` runs when given
`--results`. Needs scikit-learn (`python3 -m pip install scikit-learn`).
"""
import argparse
import csv
import json
import statistics
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folds", help="CSV written by synthcti eval --save-folds")
    ap.add_argument("--results", help="synthcti's results.json, to compare per run")
    ap.add_argument("--features", default="char:2-5",
                    help="char:MIN-MAX or word:MIN-MAX (as synthcti eval --features)")
    args = ap.parse_args()
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.metrics import f1_score
        from sklearn.svm import LinearSVC
    except ImportError:
        print("scikit-learn is missing: python3 -m pip install scikit-learn", file=sys.stderr)
        return 2

    kind, _, rng = args.features.partition(":")
    lo, _, hi = rng.partition("-")
    ngram = (int(lo), int(hi or lo))
    csv.field_size_limit(1 << 24)
    runs: dict[int, list[dict]] = {}
    with open(args.folds, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            runs.setdefault(int(row["seed"]), []).append(row)

    ours = {}
    if args.results:
        with open(args.results, encoding="utf-8") as f:
            for r in json.load(f)["none"]["runs"]:
                ours[(r["seed"], r["fold"])] = r["scores"]["macro_f1"]

    print(f"{'seed':>4} {'fold':>4} {'train':>6} {'test':>5} {'sklearn':>8} {'synthcti':>8} {'diff':>7}")
    diffs, scores = [], []
    for seed, rows in sorted(runs.items()):
        for fold in sorted({int(r["fold"]) for r in rows}):
            train = [r for r in rows if int(r["fold"]) != fold]
            test = [r for r in rows if int(r["fold"]) == fold and r["dropped"] == "false"]
            vec = TfidfVectorizer(analyzer="char" if kind == "char" else "word",
                                  ngram_range=ngram, sublinear_tf=True, lowercase=True)
            x_train = vec.fit_transform([r["text"] for r in train])
            clf = LinearSVC(C=1.0).fit(x_train, [r["label"] for r in train])
            pred = clf.predict(vec.transform([r["text"] for r in test]))
            truth = [r["label"] for r in test]
            score = f1_score(truth, pred, labels=sorted(set(truth)), average="macro",
                             zero_division=0)
            scores.append(score)
            theirs = ours.get((seed, fold))
            diff = "" if theirs is None else f"{theirs - score:+.4f}"
            if theirs is not None:
                diffs.append(theirs - score)
            print(f"{seed:>4} {fold:>4} {len(train):>6} {len(test):>5} {score:>8.4f} "
                  f"{'' if theirs is None else f'{theirs:.4f}':>8} {diff:>7}")
    print(f"scikit-learn macro-F1: {statistics.mean(scores):.4f} over {len(scores)} runs")
    if diffs:
        print(f"synthcti - scikit-learn: mean {statistics.mean(diffs):+.4f}, "
              f"max |diff| {max(abs(d) for d in diffs):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
