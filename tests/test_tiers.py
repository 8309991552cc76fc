"""The test tiers (docs/contributing.md): every test has exactly one of unit, slow, e2e, slurm,
and a unit test cannot start a process or load a tiny model, so `make test-fast` stays fast
on a fresh machine."""

import multiprocessing
import subprocess

import pytest
from conftest import TIER_PROBLEMS

from training import tiny

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
        tiny.ensure_tiny("weak")
