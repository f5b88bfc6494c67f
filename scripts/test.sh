#!/usr/bin/env bash
# Set up a virtualenv with bench-jobs and its test extras, then run ruff, mypy and the test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/bench/test_bench.py -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
.venv/bin/ruff check .
.venv/bin/mypy  # settings in pyproject.toml: the whole package, the core packages strictly
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure, not a pass" >&2
    exit 1
fi
exit "$status"
