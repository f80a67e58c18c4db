#!/usr/bin/env bash
# Set up a fresh virtual environment with covalue and its test tools, then run lint,
# the benchmarks in short mode and the tests. This is the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${COVALUE_VENV:-.venv}"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e ".[dev]"
"$VENV/bin/ruff" check src tests benchmarks scripts
for bench in benchmarks/bench_*.py; do
  [ -e "$bench" ] || continue
  "$VENV/bin/python" "$bench" --short
done
"$VENV/bin/python" -m pytest -q -n 2 tests
