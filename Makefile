# The two commands a newcomer needs (see README.md). Both set up .venv/ first if needed.
# The rest are for contributors (docs/contributing.md).
.PHONY: setup demo test test-fast lint docs

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/ramen run recipes/tiny.yaml

# The whole suite (what CI runs), with its 25 slowest tests at the end. Two pytest-xdist
# workers: model tests wait on process starts and imports about a third of the time, which the
# other worker uses (docs/contributing.md). TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
test: setup
	.venv/bin/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --durations=25

# The inner loop: the unit tier only (no model, no subprocess), well under 3 minutes.
test-fast: setup
	.venv/bin/python -m pytest -m unit -q

lint: setup
	.venv/bin/ruff check .

docs: setup
	.venv/bin/ramen docs
