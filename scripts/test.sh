#!/usr/bin/env bash
# test.sh — set up everything (idempotent) and run the whole test suite:
# formatting, clippy with warnings as errors, unit + integration tests (real embedding model,
# real local LLM server, fault-injecting fake endpoints).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
# pandas + pyarrow for the Parquet round trip (tests/parquet.rs), from PyPI.
bash scripts/setup_python.sh
export RUST_BACKTRACE=1
cargo fmt --all -- --check
# The evaluation tables (docs/evaluation.md, and the README's headline result) must equal the
# committed results.json behind them; every relative link in README.md and docs/*.md resolves.
python3 scripts/eval_tables.py check docs/evaluation.md README.md
python3 scripts/check_links.py
# Imports only point down the layers of ARCHITECTURE.md, with no cycle.
python3 scripts/check_layers.py
cargo clippy --all-targets --locked -- -D warnings
# Headless Chromium opens the HTML pages in tests/html_report.rs (Debian package).
bash scripts/setup_chromium.sh
SYNTHCTI_REQUIRE_LLM=1 SYNTHCTI_REQUIRE_BROWSER=1 SYNTHCTI_REQUIRE_PYARROW=1 cargo test --locked
