#!/usr/bin/env bash
# eval-replay.sh — rerun a published evaluation from its committed files and check that it
# reproduces the committed results.json exactly (every number; timings aside).
#
#   bash scripts/eval-replay.sh docs/eval/tram-llm      # one table
#   bash scripts/eval-replay.sh                          # every docs/eval/*/ with a command
#
# Each docs/eval/NAME/ holds `command` (the eval arguments, one line, without --output),
# `results.json` and `results.md` (what the run wrote) and, for runs with LLM arms,
# `journals.tar.xz` (every LLM answer the run used). The journals are unpacked into the
# output directory first, so the LLM arms replay their answers: 0 requests, no endpoint
# needed beyond the local default that `setup.sh` installs. A published table can be grown
# (more seeds) on another machine the same way: unpack, rerun with more --seeds, repack.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
cargo build --release --locked --quiet
bin=target/release/synthcti
dirs=("$@")
if [ ${#dirs[@]} -eq 0 ]; then
  for d in docs/eval/*/; do [ -f "$d/command" ] && dirs+=("${d%/}"); done
fi
status=0
for dir in "${dirs[@]}"; do
  name=$(basename "$dir")
  out=out/replay/$name
  rm -rf "$out" && mkdir -p "$out"
  if [ -f "$dir/journals.tar.xz" ]; then
    tar -xJf "$dir/journals.tar.xz" -C "$out"
  fi
  read -r -a args < "$dir/command"
  echo "[replay] $name: synthcti ${args[*]}" >&2
  "$bin" "${args[@]}" --output "$out" --no-progress > "$out/stdout.txt"
  python3 - "$dir/results.json" "$out/results.json" <<'PY' || status=1
import json, sys
TIMINGS = {"wall_seconds", "probe_seconds", "augment_seconds"}
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in TIMINGS}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
want, got = (strip(json.load(open(p))) for p in sys.argv[1:3])
if want == got:
    print(f"[replay] {sys.argv[2]}: identical to {sys.argv[1]} (timings aside)", file=sys.stderr)
else:
    print(f"[replay] {sys.argv[2]} DIFFERS from {sys.argv[1]}", file=sys.stderr)
    sys.exit(1)
PY
  if grep -q "LLM requests" "$out/results.md"; then
    echo "[replay] LLM requests sent by this replay, per arm (expected: 0):" >&2
    grep -A20 "| arm | LLM requests" "$out/results.md" | sed -n '3,/^$/p' >&2 || true
  fi
done
exit $status
