#!/usr/bin/env bash
# Opens a synthcti HTML page (report.html or results.html) in Debian's headless Chromium and
# checks it as a reader would: no console error, no network request, the expected number of
# map points, and typing into the rows filter narrows the rows table.
#
#   scripts/browser_check.sh PAGE.html [--points N] [--count SELECTOR N]... [--require-rows]
#                            [--search WORD] [--screenshot OUT.png [--at SELECTOR]]
#
# Exit 0: every check passed; 1: a check failed; 2: Chromium or Python is missing
# (scripts/setup_chromium.sh installs Chromium). Details: scripts/browser_check.py.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v python3 >/dev/null; then
  echo "browser_check: python3 not found" >&2
  exit 2
fi
exec python3 "$here/browser_check.py" "$@"
