"""What is hashed is what is read. A stage's config is keyed by the recipe paths it holds; the
stage reads the recipe through a view that answers only those paths (every `ramen run`, so
every e2e test, runs each stage that way); and over every leaf of every shipped recipe, a
change reaches exactly the stages whose config holds that leaf."""

import copy
from pathlib import Path

import pytest
import yaml

from ramen.io import hash_obj
from ramen.launch.recipe import RecipeError, load_raw, recipe_from_dict
from ramen.launch.runner import changed_keys
from ramen.launch.slices import RecipeView, SliceError, UndeclaredSeed, declared_paths
from ramen.launch.stages import STAGES
from ramen.stage import split_round

pytestmark = pytest.mark.unit

RECIPES = sorted((Path(__file__).resolve().parent.parent / "recipes").glob("*.yaml"))


def tiny():
    return recipe_from_dict(load_raw(RECIPES[[p.name for p in RECIPES].index("tiny.yaml")]))


def test_a_stage_reads_only_what_its_config_holds():
    recipe = tiny()
    view = RecipeView(recipe, ("curation.sample", "models.strong", "data.sources"), "sample")
    assert view.curation.sample.temperature == recipe.curation.sample.temperature
    assert view.models["strong"].dtype == "float32"
    assert view.data.sources == recipe.data.sources
    assert sorted(view.models) == ["judge", "strong", "weak"]  # names, not what they hold
    assert view.run_dir == recipe.run_dir  # where the run lives is always open
    for read in (
        lambda: view.curation.filter,
        lambda: view.models["weak"],
        lambda: view.seed,
        lambda: view.data.clean,
        lambda: dict(view.models.items()),
    ):
        with pytest.raises(SliceError, match="launch/stages.py"):
            read()
    with pytest.raises(SliceError, match="seed"):
        f"{UndeclaredSeed('sample')}"


def test_every_stage_config_names_recipe_paths():
    """Keys of a stage config are recipe paths that exist (derived values have a space)."""
    for path in RECIPES:
        recipe = recipe_from_dict(load_raw(path))
        for stage in STAGES:
            if not stage.enabled(recipe):
                continue
            config = stage.config(recipe)
            for key in declared_paths(config):
                # the recipe the stage reads: a later round's stage, its round's
                view = RecipeView(stage.recipe_of(recipe), (key,), stage.name)
                node = view
                for part in key.replace("[", ".[").split("."):
                    if node is None:  # an absent section: the key says so with None
                        assert config[key] is None, f"{path.name}: {stage.name} declares {key}"
                        break
                    if part.startswith("["):
                        node = node[int(part[1:-1])]
                    elif isinstance(node, RecipeView) and isinstance(node._obj, dict):
                        node = node[part]
                    else:
                        node = getattr(node, part)


def _leaves(node, prefix=""):
    if isinstance(node, dict) and node:
        for k, v in node.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, node


def _set(raw: dict, path: str, value) -> dict:
    out = copy.deepcopy(raw)
    node = out
    parts = path.split(".")

    def key(node, part):  # a YAML mapping's integer keys (`rounds.set: {2: ...}`)
        return int(part) if part not in node and part.isdigit() and int(part) in node else part

    for part in parts[:-1]:
        node = node[key(node, part)]
    node[key(node, parts[-1])] = value
    return out


def _changes(value):
    """Other values of a leaf a recipe may hold (the first that validates is used)."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value * 2, max(value - 1, 0)]
    if isinstance(value, float):
        return [value * 0.5, value + 0.05, round(value / 2 + 0.01, 4)]
    if isinstance(value, list) and len(value) > 1:
        return [value[:-1]]
    if isinstance(value, str):
        return [value + "x", value.upper(), value + "-2"]
    return []


def _configs(recipe):
    return {s.name: s.config(recipe) for s in STAGES if s.enabled(recipe)}


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_a_changed_leaf_reruns_exactly_the_stages_that_hold_it(path):
    raw = yaml.safe_load(path.read_text())
    before = _configs(recipe_from_dict(load_raw(path)))
    tried = 0
    for leaf, value in _leaves(raw):
        if leaf == "workdir":  # where runs go: no stage computes with it
            continue
        for new in _changes(value):
            if new == value:
                continue
            try:
                recipe = recipe_from_dict(_set(raw, leaf, new))
            except RecipeError:
                continue
            break
        else:
            continue
        tried += 1
        after = _configs(recipe)
        for stage in set(before) & set(after):
            old, cfg = before[stage], after[stage]
            holds = any(
                key == leaf or key.startswith(leaf + ".") or leaf.startswith(key + ".")
                for key in set(declared_paths(old)) | set(declared_paths(cfg))
            )
            round_ = split_round(stage)[1]
            if round_ > 1 and any(
                leaf == key or leaf.startswith(key + ".")
                for key in (recipe.rounds.set.get(round_) or {})
            ):
                continue  # the round's own `set` gives this key its value in that round
            if holds:
                assert hash_obj(old) != hash_obj(cfg), f"{leaf}={new!r} does not rerun {stage}"
                continue
            if leaf.startswith("rounds.") and split_round(stage)[1] > 1:
                # a later round's stage holds its round's recipe, which `rounds:` derives
                # (launch/rounds.py): its sampler, its base, its `set` changes
                continue
            # a stage that does not hold the leaf changes only through a value derived from
            # it (a resolved model name, a label) or a model it now uses
            unexplained = [
                k
                for k in changed_keys(old, cfg)
                if " " not in k.split(".")[0] and not k.startswith("models.")
            ]
            assert not unexplained, f"{leaf}={new!r} changes {stage}: {unexplained}"
    assert tried >= 10, f"only {tried} leaves of {path.name} could be changed"
