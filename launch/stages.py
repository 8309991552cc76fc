"""The stages a recipe can run, in order. Each names its inputs, its config and when it is on."""

from __future__ import annotations

from pathlib import Path

from curation.balance import balance
from curation.clean import TOKENIZER_KEY, clean, tokenizer_model
from curation.decontaminate import AGAINST_KEY, decontaminate, resolve_against
from curation.dedup import dedup
from curation.generation import filter_stage, grade_stage, sample_stage
from curation.pairs import pairs, sft
from curation.select import select
from curation.sources import prepare
from launch.recipe import Recipe
from launch.runner import read_manifest
from ramen.bundled import resolve_bundled
from ramen.console import err_console
from ramen.errors import UserError
from ramen.io import hash_file
from ramen.stage import StageContext, StageDef
from training import tiny
from training.launcher import preset_path
from training.stage import LATER_STEPS_KEY, stage_name, step_path, train_stage


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


# A stage's config is keyed by the recipe key paths it holds ("curation.sample",
# "models.strong"), so that a changed leaf names itself ("curation.sample.temperature") in
# `ramen run --dry-run` and in the reason a stage reruns. Keys with a space are not recipe keys:
# files a stage reads whose content counts (hashed), and ramen's own versions.


def _dump(value):
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def _models(r: Recipe, *names: str | None) -> dict:
    """`models.<name>` entries of the models a stage uses."""
    return {f"models.{n}": _dump(r.models[n]) for n in sorted({n for n in names if n})}


def _models_config(r: Recipe) -> dict:
    uses_tiny = any(m.path.startswith("tiny:") for m in r.models.values())
    return {
        **_models(r, *r.models),
        "tiny builder version": tiny.BUILDER_VERSION if uses_tiny else None,
    }


def _prepare_config(r: Recipe) -> dict:
    d = r.data
    return {
        "data.sources": [_dump(s) for s in d.sources],
        "data.allow_licences": d.allow_licences,
        "data.forbid_generators": d.forbid_generators,
    }


def _clean_config(r: Recipe) -> dict:
    model = tokenizer_model(r) if r.models else None
    return {"data.clean": _dump(r.data.clean), TOKENIZER_KEY: model, **_models(r, model)}


def _decontaminate_config(r: Recipe) -> dict:
    against = [
        {"name": name, "path": path, "sha256": hash_file(resolve_bundled(path)) if path else None}
        for name, path in resolve_against(r)
    ]
    return {"data.decontaminate": _dump(r.data.decontaminate), AGAINST_KEY: against}


def _grade_settings(r: Recipe) -> dict:
    g = r.curation.grade
    return {"curation.grade": _dump(g), **_models(r, g.judge, *(g.panel or [])), "seed": r.seed}


def _filter_config(r: Recipe) -> dict:
    f = r.curation.filter
    return {"curation.filter": _dump(f), **_models(r, *f.models), **_grade_settings(r)}


def _sample_config(r: Recipe) -> dict:
    return {
        "curation.sample": _dump(r.curation.sample),
        **_models(r, r.curation.sample.model),
        "seed": r.seed,  # each sample's seed derives from it
    }


def _select_config(r: Recipe) -> dict:
    return {"curation.select": _dump(r.curation.select), "curation.sample.n": r.curation.sample.n}


def _set_config(section: str):
    def config(r: Recipe) -> dict:
        c = r.curation
        roles = {  # None: the recipe has no such section (the card says so)
            "curation.filter.models": c.filter.models if c.filter else None,
            "curation.sample.model": c.sample.model if c.sample else None,
            "curation.grade.judges": c.grade.judges,  # the judge and the panel
        }
        return {
            f"curation.{section}": _dump(getattr(c, section)),
            # the turns are rendered by the sampler's template; the card names the recipe,
            # its sources and the models in their roles
            "name": r.name,
            "seed": r.seed,  # the order pairs are capped in; the card states it
            "data.sources": [_dump(s) for s in r.data.sources],
            "data.allow_licences": r.data.allow_licences,
            "data.forbid_generators": r.data.forbid_generators,
            **roles,
            **_models(
                r,
                *(c.filter.models if c.filter else []),
                roles["curation.sample.model"],
                *c.grade.judges,
            ),
        }

    return config


def _report(ctx: StageContext) -> dict:
    from evaluation.report import report_stage

    return report_stage(ctx)


def with_models(fn):
    """Give a stage function a resolver from model names to paths (building tiny models)."""

    def run(ctx: StageContext) -> dict | None:
        ctx.resolve_model = lambda name: resolve_model_path(name, ctx.recipe.models[name].path)
        return fn(ctx)

    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


def _has_data(r: Recipe) -> bool:
    return r.data is not None


def _has(section: str):
    return lambda r: r.curation is not None and getattr(r.curation, section) is not None


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
        enabled=_has_data,
        help="read sources, map fields, apply the licence/provenance gate -> Problem rows",
    ),
    StageDef(
        name="clean",
        fn=with_models(clean),
        needs=("prepare",),
        config=_clean_config,
        enabled=_has_data,
        help="drop empty, placeholder, broken, looping and over-long rows; profile every row",
    ),
    StageDef(
        name="dedup",
        fn=dedup,
        needs=("clean",),
        config=lambda r: {"data.dedup": _dump(r.data.dedup)},
        enabled=_has_data,
        help="drop exact and near-duplicate questions (MinHash LSH); the first stays",
    ),
    StageDef(
        name="decontaminate",
        fn=decontaminate,
        needs=("dedup",),
        config=_decontaminate_config,
        enabled=_has_data,
        help="drop questions that overlap the evaluation sets (exact or word n-gram)",
    ),
    StageDef(
        name="balance",
        fn=balance,
        needs=("decontaminate",),
        config=lambda r: {"data.balance": _dump(r.data.balance), "seed": r.seed},
        enabled=lambda r: r.data is not None and r.data.balance is not None,
        help="downsample to target category shares (the HLE preset or the recipe's)",
    ),
    StageDef(
        name="filter",
        fn=with_models(filter_stage),
        needs=("balance", "decontaminate"),
        config=_filter_config,
        enabled=_has("filter"),
        help="the weak model(s) try each problem k times; solved = easy = dropped; tiers",
        models=lambda r: [*r.curation.filter.models, *r.curation.grade.judges],
    ),
    StageDef(
        name="sample",
        fn=with_models(sample_stage),
        needs=("filter", "balance", "decontaminate"),
        config=_sample_config,
        enabled=_has("sample"),
        help="the strong model samples n answers per problem at the full completion budget",
        models=lambda r: [r.curation.sample.model],
    ),
    StageDef(
        name="grade",
        fn=with_models(grade_stage),
        needs=("sample",),
        config=_grade_settings,
        enabled=_has("sample"),
        help="grade every sample: rules first, the LLM judge for the undecided",
        models=lambda r: list(r.curation.grade.judges),
    ),
    StageDef(
        name="select",
        fn=select,
        needs=("grade",),
        config=_select_config,
        enabled=_has("sample"),
        help="keep problems whose correct count is in the pass band (drop 0/n and n/n)",
    ),
    StageDef(
        name="pairs",
        fn=with_models(pairs),
        needs=("select",),
        config=_set_config("pairs"),
        enabled=_has("pairs"),
        help="DPO pairs (TRL prompt/chosen/rejected) + datasets folder + dataset card",
    ),
    StageDef(
        name="sft",
        fn=with_models(sft),
        needs=("grade",),
        config=_set_config("sft"),
        enabled=_has("sft"),
        help="SFT set by rejection sampling (majority vote without a reference) + card",
    ),
]


def _train_config(index: int):
    def config(r: Recipe) -> dict:
        step = r.training.steps()[index]
        data = None
        if step.data:
            path = Path(step.data)
            data = {
                "path": step.data,
                "sha256": hash_file(path) if path.is_file() else None,
            }
        dump = step.model_dump(mode="json", exclude={"then"})
        # the first step is `training` but for `then`, which belongs to the later steps' stages
        declared = (
            {f"training.{k}": v for k, v in dump.items()}
            if index == 0
            else {step_path(index): dump, "training.base": r.training.base}
        )
        return {
            **declared,
            "name": r.name,  # the trainer's run name
            **_models(r, r.training.base),
            # the first step checks the later steps' data exist before it trains for hours
            LATER_STEPS_KEY: [{"method": s.method, "data": s.data} for s in r.training.steps()[1:]]
            if index == 0
            else None,
            "training data file": data,
            "seed": r.seed,
            "deepspeed preset file": (
                hash_file(preset_path(step.deepspeed)) if step.deepspeed else None
            ),
        }

    return config


def _train_fn(index: int):
    def run(ctx: StageContext) -> dict:
        return train_stage(ctx, index)

    run.__name__ = f"train_{index}"
    return with_models(run)


def _has_step(index: int):
    return lambda r: r.training is not None and len(r.training.steps()) > index


TRAIN_STAGES = [
    StageDef(
        name=stage_name(i),
        fn=_train_fn(i),
        needs=("pairs", "sft") if i == 0 else ("pairs", "sft", stage_name(i - 1)),
        config=_train_config(i),
        enabled=_has_step(i),
        help=(
            "TRL SFT or DPO (LoRA or full parameters, DeepSpeed ZeRO) via accelerate launch"
            if i == 0
            else f"training step {i + 1} (training.then[{i - 1}]), from the previous model"
        ),
    )
    for i in range(4)
]
STAGES += TRAIN_STAGES


# --------------------------------------------------------------------------- evaluation


def _evaluate_fn(role: str):
    def run(ctx: StageContext) -> dict:
        from evaluation.evaluate import evaluate_stage, named_target
        from training.stage import model_folder

        cfg = ctx.recipe.evaluation
        name = cfg.model if role == "model" else cfg.baseline
        if name == "trained":
            stage = next(s.name for s in reversed(TRAIN_STAGES) if s.name in ctx.inputs)
            weights = read_manifest(ctx.inputs[stage])["output_hash"]
            spec = ctx.recipe.models[ctx.recipe.training.base]
            target = ("trained", spec, str(model_folder(ctx.inputs[stage])), weights)
        else:
            target = named_target(ctx, role)
        return evaluate_stage(ctx, role, target)

    run.__name__ = f"evaluate_{role}"
    return with_models(run)


def _evaluated(r: Recipe, role: str) -> tuple[str, str]:
    """(evaluation.model or .baseline, the name under `models:` whose spec it runs with)."""
    name = r.evaluation.model if role == "model" else r.evaluation.baseline
    return name, r.training.base if name == "trained" else name


def _evaluate_config(role: str):
    def config(r: Recipe) -> dict:
        from evaluation.evaluate import LABEL_KEY, model_label

        e = r.evaluation
        name, spec = _evaluated(r, role)
        return {
            "evaluation": e.model_dump(mode="json", exclude={"model", "baseline"}),
            f"evaluation.{role}": name,
            LABEL_KEY: model_label(r, role),  # "trained (strong + dpo lora)"
            **({"training.base": r.training.base} if name == "trained" else {}),
            **_models(r, spec, e.judge),
            "benchmark files": {
                b.key: hash_file(resolve_bundled(b.path))
                for b in e.benchmarks
                if b.path and Path(resolve_bundled(b.path)).is_file()
            },
            "seed": r.seed,
        }

    return config


def _evaluated_models(role: str):
    return lambda r: [_evaluated(r, role)[1], r.evaluation.judge]


def _has_baseline(r: Recipe) -> bool:
    return r.evaluation is not None and r.evaluation.baseline is not None


def _evaluates_trained(r: Recipe) -> bool:
    return r.evaluation is not None and r.evaluation.model == "trained"


STAGES += [
    StageDef(
        name="evaluate",
        fn=_evaluate_fn("model"),
        # the training stages are inputs only when the trained model is evaluated
        needs=lambda r: tuple(s.name for s in TRAIN_STAGES) if _evaluates_trained(r) else (),
        config=_evaluate_config("model"),
        enabled=lambda r: r.evaluation is not None,
        models=_evaluated_models("model"),
        help="generate, judge and score every benchmark for evaluation.model (HLE, DNA, qa)",
    ),
    StageDef(
        name="evaluate-baseline",
        fn=_evaluate_fn("baseline"),
        needs=(),
        config=_evaluate_config("baseline"),
        enabled=_has_baseline,
        models=_evaluated_models("baseline"),
        help="the same for evaluation.baseline, on the same questions and seeds",
    ),
    StageDef(
        name="report",
        fn=_report,
        needs=("evaluate", "evaluate-baseline"),
        config=lambda r: {"evaluation": _dump(r.evaluation), "name": r.name, "seed": r.seed},
        enabled=lambda r: r.evaluation is not None,
        help="markdown report with plots; paired comparison with the baseline (compare.json)",
    ),
]
