# The two commands a newcomer needs (see README.md). Both set up .venv/ first if needed.
.PHONY: setup demo test lint docs

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/ramen run recipes/tiny.yaml

test: setup
	.venv/bin/python -m pytest

lint: setup
	.venv/bin/ruff check .

docs: setup
	.venv/bin/ramen docs
