#!/usr/bin/env bash
# Installs oxloop with its dev dependencies, then runs every test:
# the reactor's cargo tests, lint, pytest (which includes the CPython
# asyncio conformance runner), CPython's test_concurrent_futures on
# oxloop's pools, then the version matrix on every other CPython already
# on the machine or cached (scripts/test-matrix.sh; it builds no
# interpreter). Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
python -m pip install --quiet -e '.[dev]'

echo "== cargo test (reactor core)"
cargo test --quiet -p reactor

echo "== lint"
cargo fmt --all --check
cargo clippy --quiet --workspace -- -D warnings
python -m ruff check .
python -m mypy.stubtest oxloop._core

echo "== pytest"
python -m pytest -q tests

echo "== CPython test_concurrent_futures on oxloop's pools"
# One child per test class; ends with "N passed, N failed", non-zero on failures.
python tests/concurrent_futures/run_cf_tests.py

echo "== version matrix (the other CPython versions on this machine)"
bash scripts/test-matrix.sh --skip "$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
