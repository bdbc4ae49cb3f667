#!/usr/bin/env python3
"""parquet_check.py — synthcti's Parquet in and out, checked with pandas + pyarrow.

1. pandas writes the bundled TRAM rows (text, label, doc_title) as Parquet (its defaults:
   pyarrow engine, snappy); `synthcti stats --json` must count the same rows and techniques
   as for the original JSON.
2. `synthcti export --to parquet` and `--to jsonl` of that Parquet file: pandas reads
   `dataset.parquet` with the JSONL's columns, rows and values, and the rows equal those
   exported from the original JSON.
3. pandas writes the small TRAM fixture as Parquet; `synthcti augment --source procedures`
   (no LLM; the embedding model of scripts/setup.sh) writes `augmented.parquet`, which
   pandas reads with the columns, rows and values of `augmented.jsonl`; synthcti reads it
   back in.
4. When the `datasets` package is installed, `datasets.load_dataset("parquet", ...)` reads
   both files too (skipped otherwise).

    python3 scripts/parquet_check.py --bin target/debug/synthcti [--work DIR]

Exit 0: every check passed; 1: a check failed; 2: pandas/pyarrow missing
(scripts/setup_python.sh installs them).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BUNDLED = os.path.join(ROOT, "data", "tram2_single_label.json")
TINY = os.path.join(ROOT, "tests", "fixtures", "tiny_tram.json")
FLAT = ["text", "label", "split", "origin", "group"]
AUGMENTED = ["text", "label", "origin", "group", "provenance"]

try:
    import pandas as pd
    import pyarrow.parquet as pq
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"parquet_check: {e} (run scripts/setup_python.sh)", file=sys.stderr)
    sys.exit(2)


def fail(msg):
    print(f"parquet_check: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def run(binary, *args):
    """Runs synthcti; its stdout (a failure stops the check with its stderr)."""
    env = dict(os.environ, RUST_LOG="warn")
    p = subprocess.run([binary, *args], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        fail(f"synthcti {' '.join(args)} exited {p.returncode}: {p.stderr[-2000:]}")
    return p.stdout


def pandas_parquet(source, dest):
    """The TRAM JSON rows as a pandas DataFrame written with pandas' Parquet defaults."""
    with open(source, encoding="utf-8") as f:
        rows = json.load(f)
    df = pd.DataFrame(rows, columns=["text", "label", "doc_title"])
    df.to_parquet(dest)
    codecs = {
        pq.ParquetFile(dest).metadata.row_group(0).column(i).compression
        for i in range(3)
    }
    return df, codecs


def stats(binary, path):
    return json.loads(run(binary, "stats", "--input", path, "--json"))


def jsonl(path):
    """A JSONL file as a DataFrame, parsed by `json` (pandas' own parser rounds floats)."""
    with open(path, encoding="utf-8") as f:
        return pd.DataFrame([json.loads(line) for line in f if line.strip()])


def same_rows(a, b, columns, what):
    """Equal values column by column (nulls equal), in row order."""
    check(list(a.columns) == columns, f"{what}: columns {list(a.columns)}, not {columns}")
    check(len(a) == len(b), f"{what}: {len(a)} rows, the JSONL has {len(b)}")
    for c in columns:
        left = a[c].astype(object).where(a[c].notna(), None).tolist()
        right = b[c].astype(object).where(b[c].notna(), None).tolist()
        check(left == right, f"{what}: column {c} differs from the JSONL")


def check_stats(binary, work):
    pq_path = os.path.join(work, "tram2.parquet")
    df, codecs = pandas_parquet(BUNDLED, pq_path)
    original, from_parquet = stats(binary, BUNDLED), stats(binary, pq_path)
    for key in ["rows", "techniques", "quality", "labels", "per_technique"]:
        check(original[key] == from_parquet[key], f"stats {key}: JSON and Parquet differ")
    print(
        f"bundled data: pandas wrote {len(df)} rows ({', '.join(sorted(codecs))}); "
        f"synthcti stats: {from_parquet['rows']} rows, {from_parquet['techniques']} techniques "
        f"(JSON original: {original['rows']} rows, {original['techniques']} techniques)"
    )
    return pq_path


def check_export(binary, work, pq_path):
    out = {}
    for name, src, to in [
        ("pq", pq_path, "parquet"),
        ("pq-jsonl", pq_path, "jsonl"),
        ("json-jsonl", BUNDLED, "jsonl"),
    ]:
        d = os.path.join(work, f"export-{name}")
        run(binary, "export", "--input", src, "--to", to, "--output", d)
        out[name] = d
    exported = pd.read_parquet(os.path.join(out["pq"], "dataset.parquet"))
    from_pq = jsonl(os.path.join(out["pq-jsonl"], "dataset.jsonl"))
    from_json = jsonl(os.path.join(out["json-jsonl"], "dataset.jsonl"))
    same_rows(exported, from_pq, FLAT, "export dataset.parquet")
    same_rows(from_pq, from_json, FLAT, "export of the Parquet input vs the JSON input")
    splits = exported["split"].value_counts().to_dict()
    print(
        f"export --to parquet: dataset.parquet {len(exported)} rows, columns "
        f"{list(exported.columns)}, splits {splits}; equal to dataset.jsonl "
        f"({len(from_pq)} rows) and to the JSON input's export"
    )
    return os.path.join(out["pq"], "dataset.parquet")


def check_augment(binary, work):
    tiny = os.path.join(work, "tiny.parquet")
    df, _ = pandas_parquet(TINY, tiny)
    cfg = os.path.join(work, "augment.toml")
    with open(cfg, "w") as f:
        f.write("[embed]\ncache = false\n")
    out = os.path.join(work, "augment")
    run(binary, "augment", "--no-progress", "--input", tiny, "--output", out,
        "--config", cfg, "--source", "procedures", "--target", "absolute:4", "--seed", "1")
    aug = pd.read_parquet(os.path.join(out, "augmented.parquet"))
    lines = jsonl(os.path.join(out, "augmented.jsonl"))
    lines["provenance"] = [
        None if not isinstance(p, dict) else p for p in lines.get("provenance", [None] * len(lines))
    ]
    parsed = aug.copy()
    # pandas gives a null string cell as None or NaN, depending on its version.
    parsed["provenance"] = [json.loads(p) if isinstance(p, str) else None for p in aug["provenance"]]
    same_rows(parsed, lines[AUGMENTED], AUGMENTED, "augmented.parquet")
    added = int((aug["origin"] != "original").sum())
    check(added > 0, "augment added no rows: the check would prove little")
    back = stats(binary, os.path.join(out, "augmented.parquet"))
    check(back["rows"] == len(aug), f"stats of augmented.parquet: {back['rows']} rows")
    print(
        f"augment of a pandas Parquet file ({len(df)} rows): augmented.parquet {len(aug)} rows "
        f"({added} added), columns {list(aug.columns)}; equal to augmented.jsonl "
        f"({len(lines)} rows); synthcti reads it back: {back['rows']} rows"
    )
    return os.path.join(out, "augmented.parquet")


def check_datasets(files, work):
    # Local files only: nothing to fetch, and the cache stays in the work directory.
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import datasets
    except ImportError:
        print("datasets.load_dataset: skipped (the datasets package is not installed)")
        return
    datasets.disable_progress_bars()
    for path in files:
        ds = datasets.load_dataset(
            "parquet", data_files=path, split="train", cache_dir=os.path.join(work, "hf-cache")
        )
        check(len(ds) == len(pd.read_parquet(path)), f"load_dataset({path}): {len(ds)} rows")
        print(f"datasets.load_dataset(\"parquet\"): {os.path.basename(path)} {len(ds)} rows, "
              f"features {list(ds.features)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "debug", "synthcti"))
    ap.add_argument("--work", help="keep the files here (default: a temporary directory)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = a.work or tmp
        os.makedirs(work, exist_ok=True)
        pq_path = check_stats(a.bin, work)
        exported = check_export(a.bin, work, pq_path)
        augmented = check_augment(a.bin, work)
        check_datasets([exported, augmented], work)
    print("parquet_check: ok")


if __name__ == "__main__":
    main()
