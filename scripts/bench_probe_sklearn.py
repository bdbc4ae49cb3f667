#!/usr/bin/env python3
"""scikit-learn side of `cargo bench --bench probe_speed`.

Reads a JSON file {"train": [[text, label], ...], "test": [[text, label], ...]} whose
texts are already normalised (lower-cased, whitespace collapsed and trimmed, as synthcti's
probe does), fits TfidfVectorizer(char 2-5-grams, sublinear tf) + LinearSVC(C=1) on the
training rows, predicts the test rows and prints one JSON line:
{"seconds": ..., "vectorize_seconds": ..., "features": ..., "classes": ..., "accuracy": ...,
 "predictions": [...]}.

Usage: python3 scripts/bench_probe_sklearn.py DATA.json
Exit code 3 when scikit-learn is not installed (the bench then skips the comparison).
"""

import json
import sys
import time

try:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC
except ImportError:  # pragma: no cover - reported by the bench
    print("scikit-learn is not installed (python3 -m pip install scikit-learn)", file=sys.stderr)
    sys.exit(3)


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        data = json.load(f)
    train_x = [t for t, _ in data["train"]]
    train_y = [y for _, y in data["train"]]
    test_x = [t for t, _ in data["test"]]
    test_y = [y for _, y in data["test"]]

    start = time.perf_counter()
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(2, 5), sublinear_tf=True)
    x_train = vectorizer.fit_transform(train_x)
    x_test = vectorizer.transform(test_x)
    vectorized = time.perf_counter()
    model = LinearSVC(C=1.0, dual=True, max_iter=1000, tol=1e-4)
    model.fit(x_train, train_y)
    predictions = model.predict(x_test)
    end = time.perf_counter()

    accuracy = sum(p == y for p, y in zip(predictions, test_y)) / max(len(test_y), 1)
    print(
        json.dumps(
            {
                "seconds": end - start,
                "vectorize_seconds": vectorized - start,
                "features": x_train.shape[1],
                "classes": len(model.classes_),
                "accuracy": accuracy,
                "predictions": [str(p) for p in predictions],
            }
        )
    )


if __name__ == "__main__":
    main()
