# The two commands a newcomer needs (see README.md). Both set up .venv/ first if needed.
# The rest are for contributors (docs/contributing.md).
.PHONY: setup demo test test-fast lint docs

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/ramen run recipes/tiny.yaml

# The whole suite (what CI runs), with its 25 slowest tests at the end.
test: setup
	.venv/bin/python -m pytest --durations=25

# The inner loop: the unit tier only (no model, no subprocess), well under 3 minutes.
test-fast: setup
	.venv/bin/python -m pytest -m unit -q

lint: setup
	.venv/bin/ruff check .

docs: setup
	.venv/bin/ramen docs
