"""The stages a recipe can run, in order. Each names its inputs, its config and when it is on."""

from __future__ import annotations

from pathlib import Path

from curation.sources import prepare
from launch.recipe import Recipe
from launch.runner import StageDef
from ramen.console import err_console
from ramen.errors import UserError
from ramen.stage import StageContext
from training import tiny


def resolve_model_path(name: str, path: str) -> str:
    """`tiny:NAME` -> the built tiny model; a local folder must exist; anything else is a hub id."""
    if path.startswith("tiny:"):
        which = path.removeprefix("tiny:")
        if which not in tiny.NAMES:
            raise UserError(
                f"unknown tiny model '{which}'; use one of {', '.join(tiny.NAMES)}",
                where=f"models.{name}.path",
            )
        return str(tiny.ensure_tiny(which, log=lambda m: err_console.print(m)))
    local = Path(path).expanduser()
    looks_local = path.startswith((".", "/", "~")) or local.exists()
    if looks_local:
        if not (local / "config.json").is_file():
            raise UserError(
                f"no model folder with a config.json at '{path}'", where=f"models.{name}.path"
            )
        return str(local.resolve())
    return path  # a hub id: the engine or trainer loads it (or finds it in the HF cache)


def models_stage(ctx: StageContext) -> dict:
    """Stage `models`: resolve every declared model (building tiny ones) into models.json."""
    resolved = {}
    for name, spec in ctx.recipe.models.items():
        if spec.trust_remote_code:
            err_console.print(
                f"[yellow]warning[/]: models.{name}.trust_remote_code is on: code shipped with '{spec.path}' will run"
            )
        resolved[name] = {
            **spec.model_dump(mode="json"),
            "resolved_path": resolve_model_path(name, spec.path),
        }
    ctx.write_json("models.json", resolved)
    return {"models": sorted(resolved)}


def _models_config(r: Recipe) -> dict:
    uses_tiny = any(m.path.startswith("tiny:") for m in r.models.values())
    return {
        "models": {k: v.model_dump(mode="json") for k, v in sorted(r.models.items())},
        "tiny_builder": tiny.BUILDER_VERSION if uses_tiny else None,
    }


def _prepare_config(r: Recipe) -> dict:
    d = r.data
    return {
        "sources": [s.model_dump(mode="json") for s in d.sources],
        "allow_licences": d.allow_licences,
        "forbid_generators": d.forbid_generators,
    }


STAGES: list[StageDef] = [
    StageDef(
        name="models",
        fn=models_stage,
        needs=(),
        config=_models_config,
        enabled=lambda r: bool(r.models),
        help="resolve the recipe's models; build the tiny family when a recipe names tiny:*",
    ),
    StageDef(
        name="prepare",
        fn=prepare,
        needs=(),
        config=_prepare_config,
        enabled=lambda r: r.data is not None,
        help="read sources, map fields, apply the licence/provenance gate -> Problem rows",
    ),
]

# Recipe sections whose stages this version does not run yet; `ramen run` says so instead of
# skipping them silently.
NOT_YET = {
    "curation": "filter, sample, grade, select, pairs, sft",
    "training": "train, export",
    "evaluation": "evaluate, report, compare",
}


def pending_sections(recipe: Recipe) -> list[str]:
    return [
        f"{section} ({stages})"
        for section, stages in NOT_YET.items()
        if getattr(recipe, section) is not None
    ]
