"""The recipe schema: strict keys with did-you-mean, key paths in errors, overrides, docs."""

from pathlib import Path

import pytest
import yaml
from conftest import ROOT, cli
from pydantic import BaseModel

from ramen.errors import RecipeError
from ramen.launch import docs
from ramen.launch.recipe import Recipe, apply_overrides, load_recipe, recipe_from_dict

pytestmark = pytest.mark.unit

MINIMAL = {"name": "t", "models": {"m": {"path": "tiny:weak"}}}


def with_sample(**sample):
    return {
        **MINIMAL,
        "data": {"sources": [{"path": "bundled:problems.jsonl", "licence": "cc0-1.0"}]},
        "curation": {"sample": {"model": "m", **sample}},
    }


def error_of(raw: dict) -> str:
    with pytest.raises(RecipeError) as e:
        recipe_from_dict(raw)
    return str(e.value)


def test_misspelled_top_level_key_via_cli_exits_2_with_suggestion(write_recipe):
    path = write_recipe("name: t\nmodles:\n  m: {path: 'tiny:weak'}\n")
    proc = cli("validate", str(path))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "modles" in lines[0] and "did you mean 'models'" in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout


def test_nested_unknown_key_names_its_path():
    raw = with_sample()
    raw["curation"]["sample"]["temprature"] = 0.5
    msg = error_of(raw)
    assert "curation.sample.temprature: unknown key; did you mean 'temperature'?" in msg


def test_unknown_key_in_a_list_item_and_a_model():
    raw = with_sample()
    raw["data"]["sources"][0]["licnse"] = "mit"
    assert "data.sources[0].licnse: unknown key; did you mean 'licence'?" in error_of(raw)
    raw = {**MINIMAL, "models": {"m": {"path": "x", "max_model_length": 5}}}
    assert "models.m.max_model_length: unknown key; did you mean 'max_model_len'?" in error_of(raw)


def test_range_and_type_errors_name_the_key():
    assert "curation.sample.n:" in error_of(with_sample(n=0))
    assert "greater than or equal to 1" in error_of(with_sample(n=0))
    assert "curation.sample.temperature:" in error_of(with_sample(temperature="hot"))


def test_unknown_model_name_is_named():
    raw = with_sample()
    raw["curation"]["sample"]["model"] = "strnog"
    msg = error_of(raw)
    assert "curation.sample.model" in msg and "unknown model 'strnog'" in msg


def test_pass_band_outside_n():
    raw = with_sample(n=4)
    raw["curation"]["select"] = {"min_correct": 1, "max_correct": 5}
    assert "curation.select.max_correct: must be within [0, curation.sample.n = 4]" in error_of(raw)


def test_yaml_syntax_error_names_the_line(write_recipe):
    path = write_recipe("name: t\nmodels: {m: [unclosed\n")
    proc = cli("validate", str(path))
    assert proc.returncode == 2
    assert f"{path}:" in proc.stderr and "YAML syntax error" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_overrides_are_typed_by_the_schema():
    raw = apply_overrides(
        with_sample(), ["curation.sample.n=8", "curation.sample.temperature=0.7", "name=010"]
    )
    recipe = recipe_from_dict(raw)
    assert recipe.curation.sample.n == 8 and isinstance(recipe.curation.sample.n, int)
    assert recipe.curation.sample.temperature == 0.7
    assert recipe.name == "010"  # a string field keeps the text as typed
    raw = apply_overrides(
        with_sample(), ["models.m.enable_thinking=false", "data.forbid_generators=[gpt, claude]"]
    )
    recipe = recipe_from_dict(raw)
    assert recipe.models["m"].enable_thinking is False
    assert recipe.data.forbid_generators == ["gpt", "claude"]


def test_override_of_unknown_key_suggests(write_recipe):
    path = write_recipe(yaml.safe_dump(with_sample()))
    proc = cli("validate", str(path), "curation.sample.nn=3")
    assert proc.returncode == 2
    assert "curation.sample.nn: unknown key; did you mean 'n'?" in proc.stderr
    proc = cli("validate", str(path), "curation.sample.n=zero")
    assert proc.returncode == 2 and "curation.sample.n:" in proc.stderr


@pytest.mark.parametrize("path", sorted((ROOT / "recipes").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_recipe_validates(path: Path):
    recipe = load_recipe(path)
    assert recipe.name


def test_every_field_has_a_description():
    missing = []
    seen = set()

    def walk(model: type[BaseModel], prefix: str):
        if model in seen:
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            if not (field.description or "").strip():
                missing.append(f"{prefix}{name}")
            sub = docs._submodel(field.annotation)
            if sub is not None:
                walk(sub, f"{prefix}{name}.")

    walk(Recipe, "")
    assert len(seen) > 10  # the walk reached the nested sections
    assert not missing, f"fields without a description: {missing}"


def test_recipe_reference_is_not_stale():
    assert docs.REFERENCE.read_text() == docs.render(), (
        "docs/recipe-reference.md is stale: run `ramen docs`"
    )
    assert "`curation.sample.n`" in docs.render()


def test_engine_and_judge_prompt_errors_name_the_key():
    raw = {**MINIMAL, "models": {"m": {"path": "x", "engine": {"backend": "endpoint"}}}}
    assert "models.m.engine:" in error_of(raw) and "needs `url`" in error_of(raw)
    raw = {**MINIMAL, "models": {"m": {"path": "x", "engine": {"api_key_env": "sk-abc123"}}}}
    assert "NAME of an environment variable" in error_of(raw)
    raw = {**MINIMAL, "models": {"m": {"path": "x", "engine": {"backend": "serf"}}}}
    assert "models.m.engine.backend:" in error_of(raw)
    raw = with_sample()
    raw["curation"]["grade"] = {"judge_prompt": "missing.txt"}
    assert "curation.grade.judge_prompt: no prompt file 'missing.txt'" in error_of(raw)


def test_a_training_arg_of_the_wrong_kind_is_a_recipe_error(write_recipe):
    """`learning_rate: 2e-4` is text to YAML 1.1 (no dot); TRL's config would take it and the
    Trainer fail minutes later in the training processes. The kinds come from TRL's own config
    dataclasses, so each message names TRL's field as it is declared."""
    training = {"method": "dpo", "base": "m", "args": {"learning_rate": "2e-4"}}
    message = error_of({**MINIMAL, "training": training})
    assert "training.args.learning_rate: TRL's DPOConfig takes a number" in message
    assert "2.0e-04" in message
    for key, value, want in (
        ("max_steps", 1.5, "a whole number"),
        ("max_steps", True, "a whole number"),
        ("bf16", "yes", "true or false"),
        ("beta", "0.1", "a number"),
    ):
        raw = {**MINIMAL, "training": {**training, "args": {key: value}}}
        assert f"training.args.{key}: TRL's DPOConfig takes {want}" in error_of(raw), key
    for args in ({"learning_rate": 2.0e-4, "beta": 1, "max_steps": 3, "bf16": False},
                 {"loss_type": ["sigmoid", "sft"], "lr_scheduler_type": "cosine"}):  # fmt: skip
        recipe_from_dict({**MINIMAL, "training": {**training, "args": args}})
    path = write_recipe(yaml.safe_dump({**MINIMAL, "training": training}))
    proc = cli("validate", str(path), "training.args.learning_rate=5e-4")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr


@pytest.mark.unit
def test_each_section_checks_its_own_cross_field_rules():
    """The loader runs `check(recipe)` of each section that has cross-field rules, written
    beside that section's schema (curation/config.py, evaluation/config.py, ...), in a loop;
    a section's rule fires through the loader with its one line."""
    import typing

    from ramen.launch.recipe import CHECKED_SECTIONS, Recipe, recipe_from_dict

    hints = typing.get_type_hints(Recipe)
    for name in CHECKED_SECTIONS:
        (section,) = [t for t in typing.get_args(hints[name]) if t is not type(None)]
        assert callable(getattr(section, "check", None)), name
        assert section.check.__module__ == section.__module__, name
    raw = {
        "name": "x",
        "models": {"strong": {"path": "tiny:strong"}},
        "training": {"method": "sft", "base": "strnog"},
    }
    with pytest.raises(RecipeError, match="training.base: unknown model 'strnog'; did you mean"):
        recipe_from_dict(raw)
