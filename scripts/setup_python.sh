#!/usr/bin/env bash
# Installs the Python packages of the test scripts from PyPI when missing: pandas and pyarrow
# (scripts/parquet_check.py, run by tests/parquet.rs). Idempotent: does nothing when both
# import already.
set -euo pipefail
if python3 -c 'import pandas, pyarrow' >/dev/null 2>&1; then
  exit 0
fi
# A Debian-managed Python refuses plain `pip install` (PEP 668); retry with its escape hatch.
python3 -m pip install --quiet pandas pyarrow 2>/dev/null \
  || python3 -m pip install --quiet --break-system-packages pandas pyarrow
python3 -c 'import pandas, pyarrow; print("pandas", pandas.__version__, "pyarrow", pyarrow.__version__)'
