"""The `grade` stage: every sample graded, rules first, then the judge (or a panel of judges)
for what the rules leave undecided (or for every sample); safety and benign prompts by the
rubric judge (curation/safety.py). The filter stage grades its attempts the same way."""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ramen.console import err_console
from ramen.curation.model_stages import has_section
from ramen.curation.safety import grade_safety, is_safety
from ramen.grading.grader import grade_rows, row_key
from ramen.grading.judge import Judge, JudgePanel, judge_identity, judge_prompt_for
from ramen.inference.engine import LazyEngine
from ramen.stage import StageContext, StageDef, dump, model_entries


def _member(ctx: StageContext, name: str) -> tuple[Judge, LazyEngine, dict]:
    """One judge of the recipe: its Judge (engine opened on first use) and its settings."""
    grade = ctx.recipe.curation.grade
    spec = ctx.recipe.models[name]
    template = judge_prompt_for(
        spec.judge_format, grade.judge_prompt, "judge_prompt" in grade.model_fields_set
    )
    engine = LazyEngine.of(spec, ctx.resolve_model(name), name, seed=ctx.seed, log_dir=ctx.out_dir)
    judge = Judge(
        engine, template, fmt=spec.judge_format, retries=grade.judge_retries, seed=ctx.seed
    )
    return judge, engine, judge_identity(name, spec, template)


@contextlib.contextmanager
def open_judge(ctx: StageContext) -> Iterator[tuple[Judge | JudgePanel | None, str, dict]]:
    """The recipe's judge, or its panel (engines opened only if something needs judging), its
    mode and settings."""
    grade = ctx.recipe.curation.grade
    if grade.judge is None:
        yield None, "none", {"judge": None}
        return
    members = [_member(ctx, name) for name in grade.judges]
    settings = {
        **members[0][2],
        "retries": grade.judge_retries,
        "mode": "undecided" if grade.rules_first else "all",
    }
    judge: Judge | JudgePanel = members[0][0]
    if len(members) > 1:
        judge = JudgePanel(
            [(name, m[0]) for name, m in zip(grade.judges, members, strict=True)],
            grade.panel_rule,
        )
        settings["panel"] = [m[2] for m in members[1:]]
        settings["panel_rule"] = grade.panel_rule
    try:
        yield judge, settings["mode"], settings
    finally:
        for _, engine, _ in members:
            engine.close()


def grade_samples(
    ctx: StageContext, samples: list[dict], parts_dir: Path
) -> tuple[list[dict], dict]:
    """Grade samples (rules, then the judge or panel); a panel's disagreements are written
    beside the judge parts and counted among the stage's outputs. Samples of safety and
    benign prompts go to the safety judge instead (curation/safety.py); the rows come back in
    their input order."""
    safety_rows = [s for s in samples if is_safety(s)]
    if safety_rows:
        maths, maths_stats = _grade_maths(ctx, [s for s in samples if not is_safety(s)], parts_dir)
        judged, safety_stats = grade_safety(
            ctx, safety_rows, parts_dir.with_name(parts_dir.name.replace("judge", "safety-judge"))
        )
        by_key = {row_key(r): r for r in [*maths, *judged]}
        graded = [by_key[row_key(s)] for s in samples]
        for row in judged:
            maths_stats["verdicts"][row["verdict"]] = (
                maths_stats["verdicts"].get(row["verdict"], 0) + 1
            )
            maths_stats["methods"][row["method"]] = maths_stats["methods"].get(row["method"], 0) + 1
        return graded, {**maths_stats, "safety": safety_stats}
    return _grade_maths(ctx, samples, parts_dir)


def _grade_maths(
    ctx: StageContext, samples: list[dict], parts_dir: Path
) -> tuple[list[dict], dict]:
    disagreements = parts_dir.name.replace("judge-parts", "judge-disagreements") + ".jsonl"
    with open_judge(ctx) as (judge, mode, settings):
        graded, stats = grade_rows(
            samples,
            judge=judge,
            mode=mode,
            parts_dir=parts_dir,
            settings=settings,
            reset=True,
            disagreements_path=ctx.out_dir / disagreements,
        )
    if (ctx.out_dir / disagreements).exists():
        ctx.add_output(disagreements)
    return graded, stats


def grade_stage(ctx: StageContext) -> dict:
    """Stage `grade`: rules first, the judge for what rules leave undecided (or for all)."""
    rows = list(ctx.input_rows("sample"))
    graded, stats = grade_samples(ctx, rows, ctx.out_dir / "judge-parts")
    by_category: dict[str, Counter] = defaultdict(Counter)
    for row in graded:
        ctx.count_input()
        by_category[str(row.get("category"))][row["verdict"]] += 1
        ctx.keep(row)
    if stats["verdicts"].get("judge_error"):
        err_console.print(
            f"[yellow]grade[/]: {stats['verdicts']['judge_error']} samples are judge_error "
            "(the judge's reply could not be parsed); they are neither chosen nor rejected"
        )
    return {
        **stats,
        "unit": "samples",
        "by_category": {k: dict(sorted(v.items())) for k, v in sorted(by_category.items())},
    }


def grade_config(r: Any) -> dict:
    g = r.curation.grade
    return {
        "curation.grade": dump(g),
        **model_entries(r, g.judge, *(g.panel or []), g.safety_judge),
        "seed": r.seed,
    }


STAGE = StageDef(
    name="grade",
    fn=grade_stage,
    needs=("sample",),
    config=grade_config,
    enabled=has_section("sample"),
    help="grade every sample: rules first, the LLM judge for the undecided",
    models=lambda r: [*r.curation.grade.judges, *filter(None, [r.curation.grade.safety_judge])],
)
