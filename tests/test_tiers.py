"""The test tiers (docs/contributing.md): every test has exactly one of unit, slow, e2e, slurm,
and a unit test cannot start a process or load a tiny model, so `make test-fast` stays fast
on a fresh machine."""

import multiprocessing
import re
import subprocess

import pytest
from conftest import COLLECTED, ROOT, TIER_PROBLEMS

from ramen.testing import tiny

pytestmark = pytest.mark.unit


def test_every_test_has_exactly_one_tier(request):
    problems = request.config.stash[TIER_PROBLEMS]
    assert not problems, "tests without exactly one tier (unit|slow|e2e|slurm):\n" + "\n".join(
        problems
    )


def test_a_unit_test_cannot_start_a_process_or_load_a_tiny_model():
    with pytest.raises(AssertionError, match="unit test started a process"):
        subprocess.run(["true"], check=False)
    with pytest.raises(AssertionError, match="unit test started a process"):
        multiprocessing.get_context("spawn").Process(target=print).start()
    with pytest.raises(AssertionError, match="unit test needs a tiny model"):
        tiny.model_path("weak")


def _named_tests(doc: str) -> list[tuple[str, str | None]]:
    """(file, test or None) for every `tests/...py[::name]` in a doc; `::name` alone continues
    the file named before it; parameters in [...] are left off."""
    named, last = [], None
    for span in re.findall(r"`([^`]+)`", doc):
        if span.startswith("tests/") and ".py" in span:
            file, _, name = span.partition("::")
            last = file
        elif span.startswith("::") and last:
            file, name = last, span[2:]
        else:
            continue
        named.append((file, name.split("[")[0] or None))
    return named


def test_every_guarantee_names_a_test_that_ci_runs(request):
    """docs/reliability.md names a test for each guarantee: each must exist in the suite that
    `make test` (CI) runs, in whichever tier."""
    collected = request.config.stash[COLLECTED]
    files = {nodeid.split("::")[0] for nodeid in collected}
    if len(files) < len(list((ROOT / "tests").glob("test_*.py"))):
        pytest.skip("only part of the suite was collected; run `make test-fast` or `make test`")
    functions = {nodeid.split("[")[0] for nodeid in collected}
    named = _named_tests((ROOT / "docs" / "reliability.md").read_text())
    assert len(named) >= 30
    missing = [
        f"{file}::{name}" if name else file
        for file, name in named
        if (f"{file}::{name}" not in functions if name else file not in files)
    ]
    assert not missing, f"docs/reliability.md names tests that do not exist: {missing}"
