"""Every shipped recipe's stage config hashes are the recorded ones: a refactor that would make
users' finished stages run again (a renamed config key, a new default, a moved name that a
config records) fails here. A deliberate change records the new table
(`.venv/bin/python scripts/stage_hashes.py --write`) and says why in its commit."""

import importlib.util
import json

import pytest
from conftest import ROOT

pytestmark = pytest.mark.unit


def _script():
    spec = importlib.util.spec_from_file_location(
        "stage_hashes", ROOT / "scripts" / "stage_hashes.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_shipped_recipes_stage_hashes_are_the_recorded_ones():
    script = _script()
    recorded = json.loads(script.TABLE.read_text())
    now = script.shipped_hashes()
    assert sorted(now) == sorted(recorded), "a recipe was added or removed: record the table"
    changed = [
        f"{recipe}:{stage}"
        for recipe, stages in now.items()
        for stage in sorted(set(stages) | set(recorded[recipe]))
        if stages.get(stage) != recorded[recipe].get(stage)
    ]
    assert not changed, (
        f"these finished stages would run again for users: {', '.join(changed)}; if that is "
        "meant, run `.venv/bin/python scripts/stage_hashes.py --write` and say why in the commit"
    )


def test_a_changed_default_is_caught():
    """The table can fail: a stage config that changes changes its recorded hash."""
    from ramen.launch.recipe import load_recipe
    from ramen.launch.runner import config_hashes
    from ramen.launch.stages import STAGES

    recipe = load_recipe(ROOT / "recipes" / "tiny.yaml")
    before = config_hashes(recipe, STAGES)
    changed = load_recipe(ROOT / "recipes" / "tiny.yaml", ["curation.sample.n=5"])
    after = config_hashes(changed, STAGES)
    assert before["sample"] != after["sample"] and before["prepare"] == after["prepare"]
