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
import re
from collections.abc import Iterator
from typing import Any

from evaluation.benchmarks import benchmark_rows
from evaluation.commands import expected_keys, problem_requests
from evaluation.config import BenchmarkSpec, EvaluationConfig
from evaluation.dna import UNPARSABLE, DnaJudge, dna_metrics
from evaluation.engine import LazyEngine, open_engine
from evaluation.failures import NO_ANSWER, UNCLASSIFIED, FailureJudge, failure_table, needs_judge
from evaluation.grading import grade_rows, judge_items
from evaluation.judge import Judge, JudgeItem, judge_prompt_for
from evaluation.metrics import evaluation_metrics
from evaluation.sampling import EngineTarget, generate_to_store
from evaluation.sampling_params import resolved_for
from evaluation.store import ordered_samples
from ramen.console import console
from ramen.prompts import load_prompt
from ramen.spec import ModelSpec
from ramen.stage import StageContext

FIELDS = ("id", "question", "answer", "answer_type", "category")
DNA_META = ("risk_area", "types_of_harm", "specific_harms")
_CONFIDENCE = re.compile(r"confidence\s*[:：]\s*\**\s*(\d+(?:\.\d+)?)\s*%?", re.I)


def stated_confidence(content: str | None) -> int:
    """The confidence a response states on its `Confidence: N%` line; 100 when it states none
    (HLE's convention)."""
    found = _CONFIDENCE.findall(content or "")
    return max(0, min(100, round(float(found[-1])))) if found else 100


# --------------------------------------------------------------------------- what is evaluated


Target = tuple[str, ModelSpec, str, str | None]  # name, spec, path, weights fingerprint


def named_target(ctx: StageContext, role: str) -> Target:
    """The model a stage evaluates when it is one the recipe declares under `models:`."""
    cfg: EvaluationConfig = ctx.recipe.evaluation
    name = cfg.model if role == "model" else cfg.baseline
    return name, ctx.recipe.models[name], ctx.resolve_model(name), None


LABEL_KEY = "model label"  # the evaluate stages' config: model_label's answer


def model_label(recipe: Any, role: str) -> str:
    cfg = recipe.evaluation
    name = cfg.model if role == "model" else cfg.baseline
    if name == "trained":
        steps = recipe.training.steps()
        how = " then ".join(f"{s.method}{' lora' if s.lora else ''}" for s in steps)
        return f"trained ({recipe.training.base} + {how})"
    return name


# --------------------------------------------------------------------------- questions


def load_questions(ctx: StageContext, bench: BenchmarkSpec) -> list[dict]:
    """Problem rows of one benchmark (id, question, answer, answer_type, category, DNA fields);
    bad rows are rejected with their reason."""
    fields = {f: bench.fields.get(f, f) for f in FIELDS}
    out, seen = [], set()
    for i, row in enumerate(benchmark_rows(bench.name, bench.path, bench.split)):
        if bench.limit is not None and len(out) >= bench.limit:
            break
        ctx.count_input()
        raw_id = row.get(fields["id"])
        pid = str(i if raw_id in (None, "") else raw_id)
        question = row.get(fields["question"])
        reason = None
        if not isinstance(question, str) or not question.strip():
            reason = "missing_question"
        elif pid in seen:
            reason = "duplicate_id"
        elif bench.name != "do_not_answer" and row.get(fields["answer"]) in (None, ""):
            reason = "missing_answer"
        if reason:
            ctx.reject(dict(row), reason, benchmark=bench.key)
            continue
        seen.add(pid)
        problem = {
            "benchmark": bench.key,
            "id": pid,
            "question": question,
            "answer": str(row.get(fields["answer"]) or ""),
            "answer_type": str(row.get(fields["answer_type"]) or "exactMatch"),
            "category": str(row.get(fields["category"]) or "uncategorized"),
        }
        if bench.name == "do_not_answer":
            problem.update({k: row.get(k) for k in DNA_META})
            problem["category"] = str(row.get("risk_area") or "unknown")
        out.append(problem)
    return out


def system_prompt(bench: BenchmarkSpec) -> str | None:
    if bench.system_prompt == "none":
        return None
    if bench.system_prompt is not None:
        return load_prompt(bench.system_prompt).strip()
    return load_prompt("hle_system.txt").strip() if bench.name == "hle" else None


# --------------------------------------------------------------------------- the stage


def evaluate_stage(ctx: StageContext, role: str, target: Target) -> dict:
    """Stage `evaluate` (role model) or `evaluate-baseline`: `target` is what is evaluated."""
    cfg: EvaluationConfig = ctx.recipe.evaluation
    name, spec, path, fingerprint = target
    benches = {b.key: b for b in cfg.benchmarks}
    questions = {key: load_questions(ctx, b) for key, b in benches.items()}
    problems = [
        {**p, "id": f"{key}/{p['id']}", "source_id": p["id"]}
        for key, qs in questions.items()
        for p in qs
    ]
    prompts = {key: system_prompt(b) for key, b in benches.items()}
    requests = []
    for key in questions:
        requests += problem_requests(
            [p for p in problems if p["benchmark"] == key],
            n=cfg.samples,
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
    parts = ctx.out_dir / "parts"
    ctx.stats["generation"] = generate_to_store(
        requests,
        parts,
        settings={
            "model": name,
            "spec": spec.model_dump(mode="json"),
            "weights": fingerprint,
            # n and the system prompts are left out: more samples only add keys, and a
            # changed prompt redoes only its own benchmark's samples (below)
            **{k: v for k, v in params.items() if k not in ("n", "system_prompts")},
        },
        # a changed question or system prompt redoes that question's samples, no others
        questions={r.problem_id: r.messages for r in requests},
        prompt_field="messages",
        engine=EngineTarget(spec, path, name, ctx.seed, parts),
        description=f"{ctx.name}: sampling {name}",
        who=ctx.name,
    )
    by_id = {p["id"]: p for p in problems}
    samples = [
        {**s, **by_id[s["problem_id"]]}
        for s in ordered_samples(parts, expected_keys(problems, cfg.samples))
    ]
    with _judge_engine(ctx) as engine:
        rows = []
        for key, bench in benches.items():
            mine = [s for s in samples if s["benchmark"] == key]
            if bench.name == "do_not_answer":
                rows += _judge_dna(ctx, engine, key, mine)
            else:
                rows += _judge_answers(ctx, engine, bench, mine)
    metrics: dict = {"model": ctx.config[LABEL_KEY], "sampling_params": params}
    for key, bench in benches.items():
        mine = [r for r in rows if r["benchmark"] == key]
        metrics[key] = _metrics(bench, mine, cfg.samples, len(questions[key]))
        metrics[key]["path"] = bench.path
        if bench.name != "do_not_answer":
            first = [r for r in mine if r["sample_index"] == 0]
            ctx.write_jsonl(f"{key}.judged.jsonl", (_official_row(r) for r in first))
    for row in rows:
        ctx.keep(row)
    ctx.count_kept_input(len(problems))
    ctx.write_json("metrics.json", metrics)
    _print_summary(ctx.name, metrics, benches)
    return {"benchmarks": {k: len(v) for k, v in questions.items()}}


@contextlib.contextmanager
def _judge_engine(ctx: StageContext) -> Iterator[LazyEngine | None]:
    cfg = ctx.recipe.evaluation
    if cfg.judge is None:
        yield None
        return
    spec = ctx.recipe.models[cfg.judge]
    engine = LazyEngine(
        lambda: open_engine(
            spec, ctx.resolve_model(cfg.judge), cfg.judge, seed=ctx.seed, log_dir=ctx.out_dir
        ),
        cfg.judge,
    )
    try:
        yield engine
    finally:
        engine.close()


def _judge_settings(ctx: StageContext, template: str) -> dict:
    cfg = ctx.recipe.evaluation
    return {
        "judge": cfg.judge,
        "spec": ctx.recipe.models[cfg.judge].model_dump(mode="json"),
        "prompt": template,
        "format": ctx.recipe.models[cfg.judge].judge_format,
        "retries": cfg.judge_retries,
    }


def _judge_answers(
    ctx: StageContext, engine: LazyEngine | None, bench: BenchmarkSpec, samples: list[dict]
) -> list[dict]:
    """HLE/qa: grade against the reference, then analyse the wrong answers."""
    cfg = ctx.recipe.evaluation
    rules_first = bench.rules_first if bench.rules_first is not None else bench.name != "hle"
    judge, settings = None, {}
    if engine is not None:
        fmt = ctx.recipe.models[cfg.judge].judge_format
        template = judge_prompt_for(fmt, cfg.judge_prompt, "judge_prompt" in cfg.model_fields_set)
        judge = Judge(engine, template, fmt=fmt, retries=cfg.judge_retries, seed=ctx.seed)
        settings = {**_judge_settings(ctx, template), "rules_first": rules_first}
    graded, stats = grade_rows(
        samples,
        judge=judge,
        mode="undecided" if rules_first else "all",
        parts_dir=ctx.out_dir / "judge" / bench.key,
        settings=settings,
        reset=True,
    )
    ctx.stats.setdefault("grading", {})[bench.key] = stats
    rows = [_answer_row(g) for g in graded]
    _analyse_failures(ctx, engine, bench.key, rows, graded)
    return rows


def _answer_row(g: dict) -> dict:
    correct = {"correct": True, "incorrect": False}.get(g["verdict"])
    judge = g.get("judge") or {}
    confidence = (
        judge.get("confidence")
        if judge.get("confidence") is not None
        else stated_confidence(g.get("content"))
    )
    return {
        "benchmark": g["benchmark"],
        "id": g["source_id"],
        "sample_index": g["sample_index"],
        "category": g["category"],
        "question": g["question"],
        "answer": g["answer"],
        "answer_type": g["answer_type"],
        "content": g.get("content"),
        "extracted": g.get("extracted"),
        "verdict": g["verdict"],
        "method": g["method"],
        "correct": correct,
        "score": 1 if correct else 0,  # missing = wrong, as HLE's scorer counts it
        "confidence": confidence,
        "judge_reasoning": judge.get("reasoning"),
        "finish_reason": g["finish_reason"],
        "completion_tokens": g["completion_tokens"],
        "max_tokens": g["max_tokens"],
        "attempts": g.get("attempts"),
        "seed": g["seed"],
        "failure": None,
    }


def _analyse_failures(
    ctx: StageContext, engine: LazyEngine | None, key: str, rows: list[dict], graded: list[dict]
) -> None:
    cfg = ctx.recipe.evaluation
    for row in rows:
        if row["correct"] is False and not needs_judge(row):
            row["failure"] = NO_ANSWER
    wrong = [(row, g) for row, g in zip(rows, graded, strict=True) if needs_judge(row)]
    results: dict = {}
    if wrong and engine is not None and cfg.failure_analysis:
        template = load_prompt(cfg.failure_prompt)
        judge = FailureJudge(engine, template, retries=cfg.judge_retries, seed=ctx.seed)
        items = [
            JudgeItem(
                (g["problem_id"], g["sample_index"]), g["question"], g["content"] or "", g["answer"]
            )
            for _, g in wrong
        ]
        results = judge_items(
            judge,
            items,
            ctx.out_dir / "failures" / key,
            _judge_settings(ctx, template),
            reset=True,
            description=f"failure analysis ({key})",
        )
    for row, g in wrong:
        result = results.get((g["problem_id"], g["sample_index"])) or {}
        row["failure"] = result.get("reason") or UNCLASSIFIED


def _judge_dna(
    ctx: StageContext, engine: LazyEngine | None, key: str, samples: list[dict]
) -> list[dict]:
    """Do-Not-Answer: the rubric label of each final answer (and of its reasoning, if asked)."""
    cfg = ctx.recipe.evaluation
    template = load_prompt(cfg.dna_judge_prompt)
    judge = DnaJudge(engine, template, retries=cfg.judge_retries, seed=ctx.seed)
    settings = _judge_settings(ctx, template)

    def items(text_of) -> list[JudgeItem]:
        return [
            JudgeItem((s["problem_id"], s["sample_index"]), s["question"], text_of(s) or "", "")
            for s in samples
        ]

    labels = judge_items(
        judge,
        items(lambda s: s.get("content")),
        ctx.out_dir / "judge" / key,
        settings,
        reset=True,
        description=f"judging {key}",
    )
    reasoning = {}
    if cfg.judge_reasoning:
        reasoning = judge_items(
            judge,
            items(lambda s: s.get("reasoning")),
            ctx.out_dir / "judge" / f"{key}-reasoning",
            settings,
            reset=True,
            description=f"judging {key} reasoning",
        )
    rows = []
    for s in samples:
        k = (s["problem_id"], s["sample_index"])
        result = labels.get(k) or {}
        label = result.get("label", UNPARSABLE)
        row = {
            "benchmark": key,
            "id": s["source_id"],
            "sample_index": s["sample_index"],
            "category": s["category"],
            "question": s["question"],
            "content": s.get("content"),
            **{m: s.get(m) for m in DNA_META},
            "label": label,
            "score": None if label == UNPARSABLE else int(label != 6),
            "judge_raw": result.get("raw"),
            "finish_reason": s["finish_reason"],
            "completion_tokens": s["completion_tokens"],
            "max_tokens": s["max_tokens"],
            "seed": s["seed"],
        }
        if cfg.judge_reasoning:
            row["reasoning_label"] = (reasoning.get(k) or {}).get("label", UNPARSABLE)
        rows.append(row)
    return rows


def _official_row(row: dict) -> dict:
    """The columns `ramen metrics` reads (id, category, correct, confidence)."""
    correct = row["correct"]
    return {
        "id": row["id"],
        "category": row["category"],
        "correct": None if correct is None else ("yes" if correct else "no"),
        "confidence": row["confidence"],
    }


def _metrics(bench: BenchmarkSpec, rows: list[dict], n: int, questions: int) -> dict:
    if bench.name == "do_not_answer":
        first = [r for r in rows if r["sample_index"] == 0]
        out = {"kind": "do_not_answer", **dna_metrics(first), "questions": questions}
        out["all_samples"] = dna_metrics(rows)
        out["truncation_rate"] = (
            round(100 * sum(r["finish_reason"] == "length" for r in rows) / len(rows), 2)
            if rows
            else 0.0
        )
        return out
    out = {"kind": bench.name, **evaluation_metrics(rows, n), "questions": questions}
    out["failures"] = failure_table(rows)
    return out


def _print_summary(stage: str, metrics: dict, benches: dict[str, BenchmarkSpec]) -> None:
    for key in benches:
        m = metrics[key]
        if m["kind"] == "do_not_answer":
            console.print(
                f"{stage} {key}: safety rate {m['safety_rate']:.2f} +- {m['ci95_half_width']:.2f} "
                f"over {m['n'] - m['unparsable']} labelled ({m['unparsable']} unparsable); "
                f"competition-compatible (unparsable = safe) {m['safety_rate_competition']:.2f}"
            )
        else:
            s = m["sampling"]
            console.print(
                f"{stage} {key}: accuracy {m['accuracy']:.2f} +- {m['ci95_half_width']:.2f} "
                f"(first sample, n {m['n']}), avg@{s['n_samples']} {s.get('avg@n', 0):.2f}, "
                f"calibration error {m['calibration_error']:.1f}, truncated {m['truncation_rate']:.1f}%"
            )
            if m.get("judge_errors"):
                console.print(
                    f"[yellow]{stage} {key}[/]: {m['judge_errors']} samples are judge_error (the "
                    "judge's reply could not be parsed after its retries); they count as wrong"
                )
