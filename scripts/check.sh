#!/usr/bin/env bash
# Every check the project has, read-only: formatting, lint, types, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "[check] ruff format --check"; uv run --frozen ruff format --check --quiet .
echo "[check] ruff check"; uv run --frozen ruff check --quiet .
echo "[check] mypy"; uv run --frozen mypy
echo "[check] pytest"; uv run --frozen pytest "$@"
