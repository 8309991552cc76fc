"""The `evaluate` and `evaluate-baseline` stages: generate, judge and score every benchmark.

1. Questions: each benchmark's rows (hub set or local file, `qa` through its field mapping);
   a row without a question, or with an id seen before, is a reject with its reason.
2. Generation: n samples per question from the model, through the engine at the largest
   completion budget its context allows (truncated answers re-requested per the model's
   `engine.length_retries`), HLE under its official system prompt, Do-Not-Answer under the
   model's own template. Samples land in `parts/` as they finish: a killed stage resumes.
3. Judging (one judge engine, opened only if needed, results stored as they finish):
   HLE/qa answers against the reference (HLE: every answer, as its harness does; qa: rules
   first); failure analysis of wrong answers; Do-Not-Answer's 0-6 rubric (and the reasoning,
   if asked).
4. Outputs: `data.jsonl` (one judged row per sample, every benchmark), `<bench>.judged.jsonl`
   (each question's first sample in the columns `ramen metrics` reads: the official numbers
   can be recomputed from it), `metrics.json`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ramen.benchmarks import kind
from ramen.benchmarks.spec import BenchmarkSpec
from ramen.bundled import resolve_bundled
from ramen.console import console
from ramen.evaluation.config import EvaluationConfig
from ramen.inference.engine import LazyEngine
from ramen.inference.sampling import (
    EngineTarget,
    expected_keys,
    generate_to_store,
    problem_requests,
)
from ramen.inference.sampling_params import resolved_for
from ramen.inference.store import ordered_samples
from ramen.io import hash_file
from ramen.prompts import load_prompt
from ramen.spec import ModelSpec
from ramen.stage import (
    TRAIN_STAGE_NAMES,
    StageContext,
    StageDef,
    model_entries,
    model_folder,
)

FIELDS = ("id", "question", "answer", "answer_type", "category")
# --------------------------------------------------------------------------- what is evaluated


def evaluated_name(recipe: Any, role: str) -> str:
    """`evaluation.model` (role `model`) or `evaluation.baseline`: a name under `models:` or
    `trained`."""
    return recipe.evaluation.model if role == "model" else recipe.evaluation.baseline


def spec_name(recipe: Any, role: str) -> str:
    """The name under `models:` whose spec the evaluated model runs with (the base model's
    for `trained`)."""
    name = evaluated_name(recipe, role)
    return recipe.training.base if name == "trained" else name


LABEL_KEY = "model label"  # the evaluate stages' config: model_label's answer


def model_label(recipe: Any, role: str) -> str:
    """The evaluated model's name in metrics and reports: `trained (strong + dpo lora)`."""
    name = evaluated_name(recipe, role)
    if name == "trained":
        steps = recipe.training.steps()
        how = " then ".join(f"{s.method}{' lora' if s.lora else ''}" for s in steps)
        return f"trained ({recipe.training.base} + {how})"
    return name


@dataclass(frozen=True)
class EvaluatedModel:
    """What an evaluate stage evaluates, resolved once."""

    name: str  # `trained` or the name under `models:`
    label: str  # model_label's answer
    spec: ModelSpec
    path: str  # a local folder or hub id
    weights: str | None  # the training stage's output hash for `trained` (its samples key)


def evaluated_model(ctx: StageContext, role: str) -> EvaluatedModel:
    name = evaluated_name(ctx.recipe, role)
    spec = ctx.recipe.models[spec_name(ctx.recipe, role)]
    if name == "trained":  # the last training step this run has
        stage = next(s for s in reversed(TRAIN_STAGE_NAMES) if s in ctx.inputs)
        path, weights = str(model_folder(ctx.inputs[stage])), ctx.input_hashes[stage]
    else:
        path, weights = ctx.resolve_model(name), None
    return EvaluatedModel(name, ctx.config[LABEL_KEY], spec, path, weights)


# --------------------------------------------------------------------------- questions


def load_questions(ctx: StageContext, bench: BenchmarkSpec) -> list[dict]:
    """Problem rows of one benchmark (id, question, answer, answer_type, category, DNA fields);
    bad rows are rejected with their reason."""
    fields = {f: bench.fields.get(f, f) for f in FIELDS}
    k = kind(bench.name)
    out, seen = [], set()
    for i, row, prefix in k.rows(bench):  # a prefixed row is extra: `limit` counts the others
        if bench.limit is not None and len(out) >= bench.limit and not prefix:
            continue
        ctx.count_input()
        raw_id = row.get(fields["id"])
        pid = prefix + str(i if raw_id in (None, "") else raw_id)
        question = row.get(fields["question"])
        reason = k.reject_reason(row)
        if reason is not None:
            pass
        elif not isinstance(question, str) or not question.strip():
            reason = "missing_question"
        elif pid in seen:
            reason = "duplicate_id"
        elif k.needs_reference and row.get(fields["answer"]) in (None, ""):
            reason = "missing_answer"
        if reason:
            ctx.reject(dict(row), reason, benchmark=bench.key)
            continue
        seen.add(pid)
        problem = k.problem(
            row,
            {
                "benchmark": bench.key,
                "id": pid,
                "question": question,
                "answer": str(row.get(fields["answer"]) or ""),
                "answer_type": str(row.get(fields["answer_type"]) or "exactMatch"),
                "category": str(row.get(fields["category"]) or "uncategorized"),
            },
        )
        out.append(problem)
    return out


def system_prompt(bench: BenchmarkSpec) -> str | None:
    if bench.system_prompt == "none":
        return None
    if bench.system_prompt is not None:
        return load_prompt(bench.system_prompt).strip()
    default = kind(bench.name).default_system_prompt
    return load_prompt(default).strip() if default else None


# --------------------------------------------------------------------------- the stage


def evaluate_stage(ctx: StageContext, role: str) -> dict:
    """Stage `evaluate` (role model) or `evaluate-baseline`."""
    cfg: EvaluationConfig = ctx.recipe.evaluation
    target = evaluated_model(ctx, role)
    benches = {b.key: b for b in cfg.benchmarks}
    questions = {key: load_questions(ctx, b) for key, b in benches.items()}
    rows, metrics = evaluate_questions(ctx, target, questions, ctx.out_dir)
    for key, bench in benches.items():
        official = kind(bench.name).official_rows([r for r in rows if r["benchmark"] == key])
        if official is not None:
            ctx.write_jsonl(f"{key}.judged.jsonl", official)
    for row in rows:
        ctx.keep(row)
    ctx.count_kept_input(sum(len(q) for q in questions.values()))
    ctx.write_json("metrics.json", metrics)
    for key, bench in benches.items():
        for line in kind(bench.name).summary(ctx.name, key, metrics[key]):
            console.print(line)
    return {"benchmarks": {k: len(v) for k, v in questions.items()}}


def evaluate_questions(
    ctx: StageContext, target: EvaluatedModel, questions: dict[str, list[dict]], folder: Path
) -> tuple[list[dict], dict]:
    """Generate, judge and score `questions` (per benchmark key) for one model; the sample
    and judge stores live under `folder` (the stage's own, or one per checkpoint of a sweep),
    so each resumes on its own. Returns the judged rows and metrics.json's content."""
    cfg: EvaluationConfig = ctx.recipe.evaluation
    own = folder == ctx.out_dir
    if not own:  # the judges keep their stores under the context's folder
        ctx = dataclasses.replace(ctx, out_dir=folder)
    name, spec, path = target.name, target.spec, target.path
    benches = {b.key: b for b in cfg.benchmarks}
    problems = [
        {**p, "id": f"{key}/{p['id']}", "source_id": p["id"]}
        for key, qs in questions.items()
        for p in qs
    ]
    prompts = {key: system_prompt(b) for key, b in benches.items()}
    n_of = {key: b.samples or cfg.samples for key, b in benches.items()}
    requests, expected = [], []
    for key in questions:
        mine = [p for p in problems if p["benchmark"] == key]
        expected += expected_keys(mine, n_of[key])
        requests += problem_requests(
            mine,
            n=n_of[key],
            seed=ctx.seed,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            max_tokens=cfg.max_tokens,
            system_prompt=prompts[key],
            knobs=cfg.knobs(),
        )
    params = {
        "n": cfg.samples,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "sampling": resolved_for(spec, path, cfg.knobs()),
        "max_tokens": cfg.max_tokens,
        "seed": ctx.seed,
        "system_prompts": prompts,
    }
    if any(n != cfg.samples for n in n_of.values()):  # a benchmark with its own `samples`
        params["n_per_benchmark"] = n_of
    parts = folder / "parts"
    generation = generate_to_store(
        requests,
        parts,
        settings={
            "model": name,
            "spec": spec.model_dump(mode="json"),
            "weights": target.weights,
            # n and the system prompts are left out: more samples only add keys, and a
            # changed prompt redoes only its own benchmark's samples (below)
            **{
                k: v
                for k, v in params.items()
                if k not in ("n", "n_per_benchmark", "system_prompts")
            },
        },
        engine=EngineTarget(spec, path, name, ctx.seed, parts),
        description=f"{ctx.name}: sampling {target.label}",
        who=ctx.name,
    )
    if own:
        ctx.stats["generation"] = generation
    else:  # a sweep: one entry per checkpoint folder
        ctx.stats.setdefault("generation", {})[folder.name] = generation
    by_id = {p["id"]: p for p in problems}
    samples = [{**s, **by_id[s["problem_id"]]} for s in ordered_samples(parts, expected)]
    with _judge_engine(ctx) as engine:
        rows = []
        for key, bench in benches.items():
            mine = [s for s in samples if s["benchmark"] == key]
            rows += kind(bench.name).judge(ctx, engine, bench, mine)
    metrics: dict = {"model": target.label, "sampling_params": params}
    for key, bench in benches.items():
        k = kind(bench.name)
        mine = [r for r in rows if r["benchmark"] == key]
        metrics[key] = k.metrics(mine, n_of[key], len(questions[key]))
        metrics[key]["path"] = bench.path
    return rows, metrics


@contextlib.contextmanager
def _judge_engine(ctx: StageContext) -> Iterator[LazyEngine | None]:
    cfg = ctx.recipe.evaluation
    if cfg.judge is None:
        yield None
        return
    spec, path = ctx.recipe.models[cfg.judge], ctx.resolve_model(cfg.judge)
    engine = LazyEngine.of(spec, path, cfg.judge, seed=ctx.seed, log_dir=ctx.out_dir)
    try:
        yield engine
    finally:
        engine.close()


# --------------------------------------------------------------------------- the declarations


def evaluate_config(role: str):
    """The config of the stage that evaluates `role` ("model" or "baseline"): what decides
    whether it reruns. The candidates' and checkpoints' stages extend it."""

    def config(r: Any) -> dict:
        e = r.evaluation
        name = evaluated_name(r, role)
        return {
            "evaluation": e.model_dump(
                mode="json",
                context={"hashed": True},
                exclude={"model", "baseline", "checkpoints", "models"},
            ),
            f"evaluation.{role}": name,
            LABEL_KEY: model_label(r, role),  # "trained (strong + dpo lora)"
            **({"training.base": r.training.base} if name == "trained" else {}),
            **model_entries(r, spec_name(r, role), e.judge),
            "benchmark files": {
                b.key: hash_file(resolve_bundled(b.path))
                for b in e.benchmarks
                if b.path and Path(resolve_bundled(b.path)).is_file()
            },
            "seed": r.seed,
        }

    return config


def _fn(role: str):
    def run(ctx: StageContext) -> dict:
        return evaluate_stage(ctx, role)

    run.__name__ = f"evaluate_{role}"
    return run


def _evaluates_trained(r: Any) -> bool:
    return r.evaluation is not None and r.evaluation.model == "trained"


EVALUATE = StageDef(
    name="evaluate",
    fn=_fn("model"),
    # the training stages are inputs only when the trained model is evaluated
    needs=lambda r: TRAIN_STAGE_NAMES if _evaluates_trained(r) else (),
    config=evaluate_config("model"),
    enabled=lambda r: r.evaluation is not None,
    models=lambda r: [spec_name(r, "model"), r.evaluation.judge],
    help="generate, judge and score every benchmark for evaluation.model (HLE, DNA, qa)",
)
EVALUATE_BASELINE = StageDef(
    name="evaluate-baseline",
    fn=_fn("baseline"),
    needs=(),
    config=evaluate_config("baseline"),
    enabled=lambda r: r.evaluation is not None and r.evaluation.baseline is not None,
    models=lambda r: [spec_name(r, "baseline"), r.evaluation.judge],
    help="the same for evaluation.baseline, on the same questions and seeds",
)
