"""What the kinds answered against a reference share (`hle` in hle.py, `qa` in qa.py).

Each sample is graded against the reference (HLE: every answer by the judge, as its harness
does; qa: rules first, the judge for the undecided); wrong answers get a failure reason;
accuracy (first sample, missing = wrong), calibration, pass@k/maj@k and truncation per
category; `<key>.judged.jsonl` holds the columns `ramen metrics` recomputes HLE's numbers from.
"""

from __future__ import annotations

import re
from pathlib import Path

from ramen.benchmarks.kind import BenchmarkKind, judge_settings
from ramen.benchmarks.metrics import evaluation_metrics
from ramen.benchmarks.plots import (
    plot_categories,
    plot_lengths,
    plot_reliability,
    plot_truncation,
    plus_minus,
)
from ramen.benchmarks.spec import BenchmarkSpec
from ramen.grading.failures import (
    NO_ANSWER,
    REASONS,
    UNCLASSIFIED,
    FailureJudge,
    failure_table,
    needs_judge,
)
from ramen.grading.grader import grade_rows, judge_items
from ramen.grading.judge import Judge, JudgeItem, judge_prompt_for
from ramen.inference.engine import LazyEngine
from ramen.prompts import load_prompt
from ramen.stage import StageContext

_CONFIDENCE = re.compile(r"confidence\s*[:：]\s*\**\s*(\d+(?:\.\d+)?)\s*%?", re.I)


def stated_confidence(content: str | None) -> int:
    """The confidence a response states on its `Confidence: N%` line; 100 when it states none
    (HLE's convention)."""
    found = _CONFIDENCE.findall(content or "")
    return max(0, min(100, round(float(found[-1])))) if found else 100


class AnswerBenchmark(BenchmarkKind):
    """A kind whose every question has a reference answer: graded by rules and the judge,
    wrong answers analysed, HLE's official metrics. Subclasses name the kind and its
    defaults."""

    def judge(self, ctx, engine, bench, samples):
        rules_first = bench.rules_first if bench.rules_first is not None else self.rules_first
        return judge_answers(ctx, engine, bench, samples, rules_first)

    def metrics(self, rows, n, questions):
        out = {"kind": self.name, **evaluation_metrics(rows, n), "questions": questions}
        out["failures"] = failure_table(rows)
        return out

    def official_rows(self, rows):
        return [_official_row(r) for r in rows if r["sample_index"] == 0]

    def summary(self, stage, key, m):
        s = m["sampling"]
        lines = [
            f"{stage} {key}: accuracy {m['accuracy']:.2f} +- {m['ci95_half_width']:.2f} "
            f"(first sample, n {m['n']}), avg@{s['n_samples']} {s.get('avg@n', 0):.2f}, "
            f"calibration error {m['calibration_error']:.1f}, truncated {m['truncation_rate']:.1f}%"
        ]
        if m.get("judge_errors"):
            lines.append(
                f"[yellow]{stage} {key}[/]: {m['judge_errors']} samples are judge_error (the "
                "judge's reply could not be parsed after its retries); they count as wrong"
            )
        return lines

    def report(self, key, runs, rows, source, plots_dir):
        files = [f"{key}-{p}.png" for p in ("categories", "reliability", "truncation", "lengths")]
        plot_categories(runs, key, plots_dir / files[0])
        plot_reliability(rows, key, plots_dir / files[1])
        plot_truncation(runs, key, plots_dir / files[2])
        plot_lengths(rows, key, plots_dir / files[3])
        return answers_section(key, runs, source, files), files

    def source(self, stage_dir: Path, key: str, run_cmd: str) -> str:
        return f"ramen metrics --input {stage_dir / f'{key}.judged.jsonl'} --json"


# --------------------------------------------------------------------------- judging


def judge_answers(
    ctx: StageContext,
    engine: LazyEngine | None,
    bench: BenchmarkSpec,
    samples: list[dict],
    rules_first: bool,
) -> list[dict]:
    """HLE/qa: grade against the reference, then analyse the wrong answers."""
    cfg = ctx.recipe.evaluation
    judge, settings = None, {}
    if engine is not None:
        fmt = ctx.recipe.models[cfg.judge].judge_format
        template = judge_prompt_for(fmt, cfg.judge_prompt, "judge_prompt" in cfg.model_fields_set)
        judge = Judge(engine, template, fmt=fmt, retries=cfg.judge_retries, seed=ctx.seed)
        settings = {**judge_settings(ctx.recipe, template), "rules_first": rules_first}
    graded, stats = grade_rows(
        samples,
        judge=judge,
        mode="undecided" if rules_first else "all",
        parts_dir=ctx.out_dir / "judge" / bench.key,
        settings=settings,
        reset=True,
    )
    ctx.stats.setdefault("grading", {})[bench.key] = stats
    rows = [answer_row(g) for g in graded]
    analyse_failures(ctx, engine, bench.key, rows, graded)
    return rows


def answer_row(g: dict) -> dict:
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
        "reasoning": g.get("reasoning"),
        "content": g.get("content"),
        "extracted": g.get("extracted"),
        "verdict": g["verdict"],
        "method": g["method"],
        "correct": correct,
        "score": 1 if correct else 0,  # missing = wrong, as HLE's scorer counts it
        "confidence": confidence,
        "judge_reasoning": judge.get("reasoning"),
        "judge_raw": judge.get("raw"),
        "finish_reason": g["finish_reason"],
        "completion_tokens": g["completion_tokens"],
        "max_tokens": g["max_tokens"],
        "attempts": g.get("attempts"),
        "seed": g["seed"],
        "failure": None,
    }


def analyse_failures(
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
            judge_settings(ctx.recipe, template),
            reset=True,
            description=f"failure analysis ({key})",
        )
    for row, g in wrong:
        result = results.get((g["problem_id"], g["sample_index"])) or {}
        row["failure"] = result.get("reason") or UNCLASSIFIED


def _official_row(row: dict) -> dict:
    """The columns `ramen metrics` reads (id, category, correct, confidence)."""
    correct = row["correct"]
    return {
        "id": row["id"],
        "category": row["category"],
        "correct": None if correct is None else ("yes" if correct else "no"),
        "confidence": row["confidence"],
    }


# --------------------------------------------------------------------------- the report


def answers_section(
    key: str, runs: dict[str, dict], source: dict[str, str], plots: list[str]
) -> list[str]:
    names = list(runs)
    first = runs[names[0]][key]
    out = [f"## {key}", ""]
    out.append(
        f"{first['questions']} questions, {first['sampling']['n_samples']} sample(s) each. "
        "Accuracy: first sample of each question, a missing judgement counts as wrong (HLE's "
        "official rule); Wald 95% half-width; calibration error with HLE's binning "
        "(0 under 200 judged answers)."
    )
    out += ["", "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]

    def row(label: str, fn) -> None:
        out.append(f"| {label} | " + " | ".join(fn(runs[n][key]) for n in names) + " |")

    row("accuracy (all questions)", plus_minus)
    row(
        "accuracy over judged answers (competition fork's variant)",
        lambda m: f"{m['accuracy_judged']:.2f} ({m['judged']} judged)",
    )
    row("calibration error", lambda m: f"{m['calibration_error']:.1f}")
    row(
        "judge errors (unparsable judgements, all samples)", lambda m: str(m.get("judge_errors", 0))
    )
    row("judged invalid (verifier's C, all samples)", lambda m: str(m.get("judge_invalid", 0)))
    for k in first["sampling"]:
        if k != "n_samples":
            row(k, lambda m, k=k: f"{m['sampling'].get(k, 0):.2f}")
    row("truncation rate (all samples)", lambda m: f"{m['truncation_rate']:.2f}%")
    row("no-answer rate (all samples)", lambda m: f"{m['no_answer_rate']:.2f}%")
    row("mean completion tokens", lambda m: f"{m['mean_completion_tokens']:.1f}")
    out += ["", "Source: " + "; ".join(f"{n}: `{source[n]}`" for n in names), ""]
    cats = sorted({c for n in names for c in runs[n][key]["by_category"]})
    out += [
        "Per category (accuracy ± Wald 95%, truncation, no answer):",
        "",
        "| category | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for c in cats:
        cells = []
        for n in names:
            m = runs[n][key]["by_category"].get(c)
            cells.append(
                "-"
                if m is None
                else f"{plus_minus(m)} (n {m['n']}; trunc {m['truncation_rate']:.0f}%, no answer {m['no_answer_rate']:.0f}%)"
            )
        out.append(f"| {c} | " + " | ".join(cells) + " |")
    out += ["", "Failure analysis (wrong answers by the judge's stated reason, all samples):", ""]
    out += ["| model | " + " | ".join(REASONS) + " |", "|---|" + "---|" * len(REASONS)]
    for n in names:
        f = runs[n][key]["failures"]["overall"]
        out.append(f"| {n} | " + " | ".join(str(f[r]) for r in REASONS) + " |")
    by_cat = runs[names[0]][key]["failures"]["by_category"]
    if by_cat:
        out += ["", f"By category ({names[0]}):", ""]
        out += ["| category | " + " | ".join(REASONS) + " |", "|---|" + "---|" * len(REASONS)]
        for c, counts in by_cat.items():
            out.append(f"| {c} | " + " | ".join(str(counts[r]) for r in REASONS) + " |")
    out += [""] + [f"![{p}](plots/{p})" for p in plots] + [""]
    return out
