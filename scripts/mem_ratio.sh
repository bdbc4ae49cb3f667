#!/usr/bin/env bash
# Peak memory of `synthcti stats` on a large generated CSV, as a multiple of the file size.
#
#   scripts/mem_ratio.sh [ROWS] [BINARY]      (default 1000000 rows, target/release/synthcti)
#
# The CSV (`text,label`) repeats the rows of data/tram2_single_label.json, each text made
# distinct with its row number (about 85 bytes a row); it is written to a temporary
# directory and removed afterwards. Prints the file size, the peak RSS (GNU time's
# "Maximum resident set size") and their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
BIN=${2:-${CARGO_TARGET_DIR:-target}/release/synthcti}
[ -x "$BIN" ] || { echo "no binary at $BIN (cargo build --release, or pass its path)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FILE="$TMP/big.csv"
python3 - "$ROWS" "$FILE" <<'PY'
import csv, json, sys
rows, path = int(sys.argv[1]), sys.argv[2]
tram = json.load(open("data/tram2_single_label.json"))
with open(path, "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["text", "label"])
    for i in range(rows):
        r = tram[i % len(tram)]
        w.writerow([f"{r['text']} (row {i})", r["label"]])
PY
SIZE=$(stat -c %s "$FILE")
/usr/bin/time -v "$BIN" stats --input "$FILE" --unknown-labels warn >/dev/null 2>"$TMP/time.log" || {
    cat "$TMP/time.log" >&2
    exit 1
}
PEAK_KB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$TMP/time.log")
WALL=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$TMP/time.log")
python3 - "$ROWS" "$SIZE" "$PEAK_KB" "$WALL" <<'PY'
import sys
rows, size, peak_kb, wall = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
peak = peak_kb * 1024
print(f"rows {rows}, file {size / 2**20:.1f} MiB, peak RSS {peak / 2**20:.1f} MiB, "
      f"ratio {peak / size:.2f}x, wall {wall}")
PY
