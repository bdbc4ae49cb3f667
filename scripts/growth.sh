#!/usr/bin/env bash
# How time and peak memory grow with input size: TRAM ×1, ×10, ×100 (grown by
# `examples/grow_dataset.rs`: resampled with light EDA perturbation, one document per copy),
# through `stats`, `clusters` (cold embedding cache, then warm), `augment --dry-run` and
# `eval --arms oversample --quick`. Prints a markdown table with the growth ratio of each
# step against the factor before it (×10 input → ratio 10 is linear).
#
#   scripts/growth.sh                       # FACTORS="1 10 100"
#   FACTORS="1 10" EVAL_FACTORS="1 10" scripts/growth.sh
#
# Needs `scripts/setup.sh` (the embedding model). Files go under $WORK (default
# /tmp/synthcti-growth, ~150 MB at ×100 plus a 0.8 GB embedding cache); nothing is written
# into the repository. Run it on an otherwise idle machine: times are wall clock.
set -euo pipefail
cd "$(dirname "$0")/.."
FACTORS=${FACTORS:-"1 10 100"}
EVAL_FACTORS=${EVAL_FACTORS:-$FACTORS}
WORK=${WORK:-/tmp/synthcti-growth}
INPUT=${INPUT:-data/tram2_single_label.json}
mkdir -p "$WORK"
cargo build --release --locked --quiet --bin synthcti --example grow_dataset
BIN=target/release/synthcti
GROW=target/release/examples/grow_dataset

declare -A T M   # "step factor" → seconds, MB
STEPS=(stats clusters-cold clusters-warm augment-dry-run eval-oversample)

# measure STEP FACTOR CMD...: wall seconds and peak RSS (MB) of one command.
measure() {
  local step=$1 factor=$2; shift 2
  local log="$WORK/$step-x$factor.log"
  if ! /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >"$log" 2>&1; then
    echo "$step ×$factor failed, see $log" >&2
    tail -5 "$log" >&2
    exit 1
  fi
  read -r secs kb <"$WORK/time"
  T["$step $factor"]=$secs
  M["$step $factor"]=$((kb / 1024))
  echo "  $step ×$factor: ${secs}s, $((kb / 1024)) MB" >&2
}

for f in $FACTORS; do
  data="$WORK/tram-x$f.json"
  [ -s "$data" ] || "$GROW" "$INPUT" "$f" "$data"
  cache="$WORK/cache-x$f"
  rm -rf "$cache" "$WORK/aug-x$f" "$WORK/eval-x$f"
  echo "×$f: $(du -h "$data" | cut -f1)" >&2
  measure stats "$f" "$BIN" stats --input "$data"
  measure clusters-cold "$f" "$BIN" clusters --input "$data" --embed-cache "$cache"
  measure clusters-warm "$f" "$BIN" clusters --input "$data" --embed-cache "$cache"
  measure augment-dry-run "$f" "$BIN" augment --input "$data" --output "$WORK/aug-x$f" \
    --embed-cache "$cache" --dry-run
  if [[ " $EVAL_FACTORS " == *" $f "* ]]; then
    measure eval-oversample "$f" "$BIN" eval --input "$data" --output "$WORK/eval-x$f" \
      --embed-cache "$cache" --arms oversample --ratios 0,1 --quick --no-progress
  fi
done

# The table: one column per factor, "s / MB", and the time ratio to the previous factor.
read -r -a fs <<<"$FACTORS"
printf '| step |'; for f in "${fs[@]}"; do printf ' ×%s: s / MB |' "$f"; done
for ((i = 1; i < ${#fs[@]}; i++)); do printf ' time ×%s / ×%s |' "${fs[i]}" "${fs[i-1]}"; done
echo
printf '|---|'; for ((i = 0; i < 2 * ${#fs[@]} - 1; i++)); do printf -- '---:|'; done; echo
for s in "${STEPS[@]}"; do
  printf '| %s |' "$s"
  for f in "${fs[@]}"; do
    if [ -n "${T["$s $f"]:-}" ]; then printf ' %s / %s |' "${T["$s $f"]}" "${M["$s $f"]}"; else printf ' – |'; fi
  done
  for ((i = 1; i < ${#fs[@]}; i++)); do
    a=${T["$s ${fs[i-1]}"]:-}; b=${T["$s ${fs[i]}"]:-}
    if [ -n "$a" ] && [ -n "$b" ]; then
      awk -v a="$a" -v b="$b" 'BEGIN { printf " %.1f |", (a > 0 ? b / a : 0) }'
    else printf ' – |'; fi
  done
  echo
done
