# Developer targets; `make check` never rewrites files.
.PHONY: setup fmt lint test check up bench

setup:
	bash scripts/setup.sh

fmt:
	uv run ruff format .
	uv run ruff check --fix .

lint:
	uv run ruff format --check .
	uv run ruff check .
	uv run mypy

test:
	uv run pytest

check:
	bash scripts/check.sh

up:
	bash scripts/setup.sh up

bench:
	uv run tars bench all
