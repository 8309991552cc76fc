"""The Recipe: the sections each package owns, composed; loading, overrides and readable errors."""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from ramen.benchmarks import KINDS
from ramen.benchmarks.spec import BenchmarkSpec
from ramen.curation.config import CurationConfig, DataConfig
from ramen.errors import RecipeError
from ramen.evaluation.config import MOVED, EvaluationConfig
from ramen.io import hash_obj
from ramen.launch.config import LaunchConfig, PlanConfig, RoundsConfig
from ramen.spec import SAFE_NAME, ModelSpec, StrictModel
from ramen.stage import round_stage_name, train_stage_name
from ramen.training.config import TrainingConfig


class Recipe(StrictModel):
    name: str = Field(
        pattern=SAFE_NAME,
        description="Run name; artifacts go to `<workdir>/<name>/<stage>/`.",
    )
    seed: int = Field(default=0, ge=0, description="Seed for every sampler, shuffle and trainer.")
    workdir: str = Field(default="runs", description="Folder that holds the run folders.")
    models: dict[str, ModelSpec] = Field(
        default_factory=dict,
        description="Every model of the run, declared once, referred to by name.",
    )
    data: DataConfig | None = Field(
        default=None, description="Sources and row-level data processing."
    )
    curation: CurationConfig | None = Field(
        default=None,
        description="Difficulty filter, sampling, grading, selection, pairs and SFT sets.",
    )
    training: TrainingConfig | None = Field(default=None, description="SFT or DPO training.")
    evaluation: EvaluationConfig | None = Field(
        default=None, description="Benchmarks and comparison."
    )
    launch: LaunchConfig = Field(
        default_factory=LaunchConfig, description="Where and how stages run."
    )
    plan: PlanConfig = Field(
        default_factory=PlanConfig,
        description="What `ramen plan` assumes about the cluster (GPU and host memory, "
        "throughput); the plan prints every value it used.",
    )
    rounds: RoundsConfig | None = Field(
        default=None,
        description="On-policy rounds: repeat sample -> grade -> select -> sets -> train -> "
        "evaluate with each round's trained model (null = one round).",
    )

    @field_validator("models")
    @classmethod
    def _model_names(cls, models: dict[str, ModelSpec], info) -> dict[str, ModelSpec]:
        reserved = {"trained"}
        # a later round's recipe (launch/rounds.py) declares the earlier rounds' models itself
        in_round = bool(info.context and info.context.get("round"))
        for name in models:
            if in_round and re.fullmatch(r"trained-r\d+", name):
                continue
            if not re.fullmatch(SAFE_NAME, name):
                raise ValueError(
                    f"model name '{name}' must be letters, digits, '.', '_' or '-' (it names "
                    "folders of the run)"
                )
            if name in reserved or re.fullmatch(r"trained-r\d+", name):
                raise ValueError(
                    f"'{name}' is reserved for the training output; pick another model name"
                )
        return models

    @property
    def run_dir(self) -> Path:
        return Path(self.workdir) / self.name

    def round_recipe(self, round_: int) -> Recipe:
        """The recipe round `round_`'s stages read (`round_recipe`)."""
        return round_recipe(self, round_)

    def hash(self) -> str:
        """What the recipe asks for, not where it runs: `workdir` is left out, so the same
        recipe run in two folders (or moved) names the same hash in cards and reports."""
        return hash_obj(self.model_dump(mode="json", exclude={"workdir"}, context={"hashed": True}))


# --------------------------------------------------------------------------- schema walking


def unwrap(annotation: Any) -> list[Any]:
    """The concrete types inside Optional/Union/Annotated."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return unwrap(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                out.extend(unwrap(arg))
        return out
    return [annotation]


def _step(annotation: Any, key: str | int) -> Any | None:
    """The annotation one key below `annotation` (a model field, a dict value or a list item)."""
    for t in unwrap(annotation):
        if t is Any:  # free-form mappings (`training.args`, `rounds.set`): any key below
            return Any
        origin = typing.get_origin(t)
        if isinstance(t, type) and issubclass(t, BaseModel):
            if isinstance(key, str) and key in t.model_fields:
                return t.model_fields[key].annotation
            if t is BenchmarkSpec:  # a benchmark kind's option, beside the common keys
                for kind in KINDS.values():
                    if key in kind.Options.model_fields:
                        return kind.Options.model_fields[key].annotation
        elif origin is dict:
            return typing.get_args(t)[1]
        elif origin is list and isinstance(key, int | str):
            return typing.get_args(t)[0]
    return None


def annotation_at(path: tuple[str | int, ...]) -> Any | None:
    """The schema type at a key path of the Recipe, or None if there is no such key."""
    annotation: Any = Recipe
    for key in path:
        annotation = _step(annotation, key)
        if annotation is None:
            return None
    return annotation


def _known_keys(path: tuple[str | int, ...]) -> list[str]:
    annotation = annotation_at(path)
    keys: list[str] = []
    for t in unwrap(annotation) if annotation is not None else []:
        if isinstance(t, type) and issubclass(t, BaseModel):
            keys.extend(t.model_fields)
    return keys


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out or "(top level)"


def _unknown_key_message(path: tuple[str | int, ...]) -> str:
    parent, key = path[:-1], str(path[-1])
    if parent == ("evaluation",) and key in MOVED:
        return (
            f"evaluation.{key}: moved into the do_not_answer benchmark's entry; write "
            f"`{{name: do_not_answer, {MOVED[key]}: ...}}` under evaluation.benchmarks"
        )
    known = _known_keys(parent)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(known)}"
    return f"{_dotted(path)}: unknown key; {hint}"


def format_error(err: dict) -> str:
    # Model-level validators (like the `benchmarks: [hle]` shorthand) add their class name to loc.
    path = tuple(p for p in err["loc"] if not (isinstance(p, str) and p[:1].isupper()))
    if err["type"] == "extra_forbidden":
        return _unknown_key_message(path)
    msg = err["msg"].removeprefix("Value error, ")
    got = err.get("input")
    shown = "" if isinstance(got, dict | list) or err["type"] == "missing" else f" (got {got!r})"
    return f"{_dotted(path)}: {msg}{shown}"


# --------------------------------------------------------------------------- overrides


def _parse_override_value(path: tuple[str, ...], raw: str) -> Any:
    annotation = annotation_at(path)
    if annotation is None:
        raise RecipeError(_unknown_key_message(path))
    if all(t is str for t in unwrap(annotation)):
        return raw  # a string field keeps the text as typed (`name=010` stays "010")
    if raw.strip().lower() in ("null", "none", "~"):
        return None
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def set_path(raw: dict, keys: tuple[str, ...], value: Any, where: str | None = None) -> None:
    """Set `value` at a key path of a raw recipe dict, making the mappings on the way."""
    node = raw
    for depth, key in enumerate(keys[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise RecipeError(
                f"{'.'.join(keys[: depth + 1])}: is not a mapping; cannot set '{'.'.join(keys)}'",
                where=where,
            )
        node = child
    node[keys[-1]] = value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply `a.b.c=value` overrides to the raw recipe dict, typed by the schema."""
    for item in overrides:
        if "=" not in item:
            raise RecipeError(
                f"override '{item}' must look like key.path=value (e.g. curation.sample.n=8)"
            )
        dotted, value = item.split("=", 1)
        keys = tuple(k for k in dotted.strip().split("."))
        if not all(keys):
            raise RecipeError(f"override '{item}': empty key in '{dotted}'")
        set_path(raw, keys, _parse_override_value(keys, value))
    return raw


# --------------------------------------------------------------------------- loading


# The sections whose `check(recipe)` runs once the recipe has parsed, in this order: the rules
# that span keys (a model name used under another section, a number bounded by another key),
# each written beside its section's schema.
CHECKED_SECTIONS = ("curation", "data", "evaluation", "training", "rounds")


def check_sections(recipe: Recipe) -> None:
    """Cross-field checks pydantic cannot see, each section's own (`check(recipe)`)."""
    for name in CHECKED_SECTIONS:
        section = getattr(recipe, name)
        if section is not None:
            section.check(recipe)


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping (plain safe_load keeps
    the last one silently: `seed: 0` ... `seed: 1` would run with seed 1 unannounced)."""

    def construct_mapping(self, node, deep=False):
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}'", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_raw(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe file not found: {path}")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise RecipeError(f"YAML syntax error: {problem}", where=where) from None
    except UnicodeDecodeError:
        raise RecipeError("recipe is not UTF-8 text", where=str(path)) from None
    if not isinstance(raw, dict):
        raise RecipeError(
            "a recipe is a YAML mapping (key: value lines) at the top level", where=str(path)
        )
    return raw


def recipe_from_dict(raw: dict, source: str = "recipe") -> Recipe:
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as e:
        errors = e.errors()
        first = format_error(errors[0])
        more = (
            f" (+{len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
            if len(errors) > 1
            else ""
        )
        raise RecipeError(first + more, where=source) from None
    try:
        check_sections(recipe)
    except RecipeError as e:
        raise RecipeError(str(e), where=source) from None
    return recipe


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read, override and validate a recipe. Any problem raises RecipeError (one line, exit 2)."""
    raw = load_raw(path)
    try:
        apply_overrides(raw, overrides or [])
    except RecipeError as e:
        raise RecipeError(str(e), where=f"{path} (override)") from None
    return recipe_from_dict(raw, source=str(path))


# --------------------------------------------------------------------------- a round's recipe
# (`rounds:`; launch/rounds.py declares the round stages that read it)


def model_name(round_: int) -> str:
    """The model name round `round_`'s trained model has in later rounds' recipes."""
    return f"trained-r{round_}"


def _set_key(raw: dict, dotted: str, value: Any, where: str) -> None:
    keys = tuple(dotted.split("."))
    if annotation_at(keys) is None:
        raise RecipeError(f"'{dotted}' is not a recipe key", where=where)
    set_path(raw, keys, copy.deepcopy(value), where=where)


@functools.lru_cache(maxsize=64)
def _round_recipe(dumped: str, run_dir: str, round_: int):
    raw = json.loads(dumped)
    rounds = raw.pop("rounds")
    raw["rounds"] = None
    where = f"rounds.set.{round_}"
    for dotted, value in (rounds["set"].get(str(round_)) or {}).items():
        _set_key(raw, dotted, value, where)
    previous = model_name(round_ - 1)
    base = raw["training"]["base"]
    # the folder round r-1's last training step leaves: merged (LoRA) or model (full)
    prev_raw = json.loads(dumped)
    for dotted, value in (rounds["set"].get(str(round_ - 1)) or {}).items():
        _set_key(prev_raw, dotted, value, f"rounds.set.{round_ - 1}")
    prev_steps = [prev_raw["training"], *prev_raw["training"].get("then", [])]
    folder = "merged" if prev_steps[-1].get("lora") else "model"
    stage = round_stage_name(train_stage_name(len(prev_steps) - 1), round_ - 1)
    raw["models"][previous] = {**raw["models"][base], "path": f"run:{stage}/{folder}"}
    raw["curation"]["sample"]["model"] = previous
    if rounds["refilter"] and raw["curation"].get("filter"):
        raw["curation"]["filter"]["model"] = previous
        raw["curation"]["filter"]["decide_by"] = None
    if rounds["train_from"] == "previous":
        raw["training"]["base"] = previous
    try:
        recipe = Recipe.model_validate(raw, context={"round": round_})
        check_sections(recipe)
    except ValidationError as e:
        raise RecipeError(format_error(e.errors()[0]), where=f"{where} (round {round_})") from None
    except RecipeError as e:
        raise RecipeError(f"round {round_}: {e}", where=where) from None
    return recipe


def round_recipe(recipe: Any, round_: int) -> Any:
    """The recipe round `round_`'s stages read (see the module docstring); round 1's is the
    recipe itself."""
    if round_ == 1 or recipe.rounds is None:
        return recipe
    return _round_recipe(recipe.model_dump_json(), str(recipe.run_dir), round_)
