"""The model stages of curation: `filter` (weak model(s), k attempts, drop what is solved),
`sample` (strong model, n samples at the full completion budget) and `grade` (rules, then the
judge).

They run on evaluation's engine, sample store and grader. Samples land in `<stage>/parts/`
as they finish, so a killed stage resumes without losing or repeating a sample. A stored
sample stays valid while the model, the sampling settings and its problem's question are
unchanged: raising `curation.sample.n` from 4 to 6 generates only samples 4 and 5.
"""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ramen.console import console, err_console
from ramen.grading.grader import grade_rows, row_key
from ramen.grading.judge import Judge, JudgePanel, judge_identity, judge_prompt_for
from ramen.inference.engine import LazyEngine
from ramen.inference.sampling import (
    PROBLEM_KEEP,
    EngineTarget,
    expected_keys,
    generate_to_store,
    problem_requests,
)
from ramen.inference.sampling_params import resolved_for
from ramen.inference.store import ordered_samples
from ramen.io import sha256_text
from ramen.stage import StageContext, StageDef, dump, model_entries


def problems_stage(ctx: StageContext) -> str:
    """The stage a model stage reads its problems from: the first of its declared inputs this
    run has (a stage's `needs` lists them by preference: `filter`, then `balance`, then
    `decontaminate`; launch/stages.py)."""
    return next(iter(ctx.inputs))


def derived_seed(seed: int, *parts: str) -> int:
    """A seed of its own for each use (filter attempts of one model, samples, the judge)."""
    return int(sha256_text(":".join([str(seed), *parts]))[:8], 16)


def produced_by(ctx: StageContext, path: str) -> str | None:
    """The output hash of the input stage whose folder holds the model at `path` (a later
    round's sampler is round r-1's trained model), else None. The sample store's settings
    carry it: a retrained model's folder has the same path, and its old samples must not be
    resumed as its own."""
    target = Path(path).resolve()
    for name, folder in ctx.inputs.items():
        if target.is_relative_to(Path(folder).resolve()):
            return ctx.input_hashes.get(name)
    return None


def generate_samples(
    ctx: StageContext,
    problems: list[dict],
    model: str,
    *,
    n: int,
    temperature: float,
    top_p: float,
    max_tokens: int | None,
    seed: int,
    parts_dir: Path,
    description: str,
    knobs: dict | None = None,
) -> Iterator[dict]:
    """n samples per problem from `model`, resumably; yields them in problem order."""
    spec = ctx.recipe.models[model]
    path = ctx.resolve_model(model)
    settings = {
        "model": model,
        "spec": spec.model_dump(mode="json"),
        "temperature": temperature,
        "top_p": top_p,
        "sampling": resolved_for(spec, path, knobs or {}),
        "max_tokens": max_tokens,
        "seed": seed,
    }
    weights = produced_by(ctx, path)
    if weights is not None:  # a model this run trained (a round's): retrained = new samples
        settings["weights"] = weights
    requests = problem_requests(
        problems,
        n=n,
        seed=seed,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        knobs=knobs,
    )
    ctx.stats.setdefault("generation", {})[model] = generate_to_store(
        requests,
        parts_dir,
        settings=settings,
        engine=EngineTarget(spec, path, model, ctx.seed, parts_dir),
        description=description,
        who=ctx.name,
    )
    # The problem's current fields ride along (a reference answer may have been corrected
    # upstream while the question, and so the stored sample, stayed the same).
    by_id = {str(p["id"]): p for p in problems}
    for sample in ordered_samples(parts_dir, expected_keys(problems, n)):
        p = by_id[str(sample["problem_id"])]
        yield {
            **sample,
            **{k: p[k] for k in PROBLEM_KEEP if k in p},
            "provenance": {k: p.get(k) for k in ("source", "licence", "generator")},
        }


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
    from ramen.curation.safety import grade_safety, is_safety

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


# --------------------------------------------------------------------------- filter

TIERS = ("easy", "medium", "hard", "inverted")


def tier(small_solved: bool, large_solved: bool) -> str:
    """The two-model difficulty tier (reference/EVALUATION.md): both solve it = easy, only the
    large model = medium, neither = hard, only the small model = inverted."""
    if small_solved and large_solved:
        return "easy"
    if large_solved:
        return "medium"
    if small_solved:
        return "inverted"
    return "hard"


def tier_table(tiers: dict[str, str], categories: dict[str, str]) -> dict:
    """Counts and shares per tier, overall and per category."""
    total = Counter(tiers.values())
    per_cat: dict[str, Counter] = defaultdict(Counter)
    for pid, t in tiers.items():
        per_cat[categories[pid]][t] += 1
    n = max(1, len(tiers))
    return {
        "overall": {t: {"count": total[t], "share": round(total[t] / n, 4)} for t in TIERS},
        "by_category": {c: {t: cnt[t] for t in TIERS} for c, cnt in sorted(per_cat.items())},
    }


def _print_tiers(table: dict, small: str, large: str) -> None:
    from rich.table import Table

    t = Table(title=f"difficulty tiers: {small} (small) vs {large} (large)", title_justify="left")
    t.add_column("tier")
    t.add_column("meaning")
    t.add_column("problems", justify="right")
    t.add_column("share", justify="right")
    meaning = {
        "easy": "both solve it",
        "medium": f"only {large} solves it",
        "hard": "neither solves it",
        "inverted": f"only {small} solves it",
    }
    for name in TIERS:
        row = table["overall"][name]
        t.add_row(name, meaning[name], str(row["count"]), f"{100 * row['share']:.1f}%")
    console.print(t)


def filter_stage(ctx: StageContext) -> dict:
    """Stage `filter`: each listed model tries every problem k times; problems the deciding
    model solves (>= min_solved of k correct) are dropped as easy."""
    from ramen.curation.safety import is_safety

    cfg = ctx.recipe.curation.filter
    source = problems_stage(ctx)
    every = list(ctx.input_rows(source))
    # safety and benign prompts are not too easy to learn from: they pass, untried
    problems = [p for p in every if not is_safety(p)]
    solved: dict[str, dict[str, int]] = {}
    attempts: list[dict] = []
    for model in cfg.models:
        samples = list(
            generate_samples(
                ctx,
                problems,
                model,
                n=cfg.samples,
                temperature=cfg.temperature,
                top_p=cfg.top_p,
                knobs=cfg.knobs(),
                max_tokens=cfg.max_tokens,
                seed=derived_seed(ctx.seed, "filter", model),
                parts_dir=ctx.out_dir / f"parts-{model}",
                description=f"filter: {model} x{cfg.samples}",
            )
        )
        graded, gstats = grade_samples(ctx, samples, ctx.out_dir / f"judge-parts-{model}")
        ctx.stats.setdefault("grading", {})[model] = gstats
        correct: Counter = Counter()
        for row in graded:
            correct[row["problem_id"]] += row["verdict"] == "correct"
        solved[model] = dict(correct)
        attempts.extend(graded)
    ctx.write_jsonl("attempts.jsonl", attempts)

    decider = cfg.decider
    tiers: dict[str, str] = {}
    small, large = cfg.models[0], cfg.models[-1]
    for p in every:
        ctx.count_input()
        if is_safety(p):
            ctx.keep(p)
            continue
        pid = str(p["id"])
        counts = {m: solved[m].get(pid, 0) for m in cfg.models}
        if len(cfg.models) > 1:
            tiers[pid] = tier(counts[small] >= cfg.min_solved, counts[large] >= cfg.min_solved)
        row = {**p, "filter": {"correct": counts, "samples": cfg.samples}}
        if len(cfg.models) > 1:
            row["filter"]["tier"] = tiers[pid]
        if cfg.drop_if_solved and counts[decider] >= cfg.min_solved:
            ctx.reject(
                row, "solved_by_filter", model=decider, correct=counts[decider], of=cfg.samples
            )
            continue
        ctx.keep(row)
    out: dict[str, Any] = {
        "solve_rate": {
            m: round(
                sum(v >= cfg.min_solved for v in solved[m].values()) / max(1, len(problems)), 4
            )
            for m in cfg.models
        },
        "decided_by": decider,
    }
    if len(cfg.models) > 1:
        table = tier_table(tiers, {str(p["id"]): str(p.get("category")) for p in problems})
        _print_tiers(table, small, large)
        out["tiers"] = table
    return out


# --------------------------------------------------------------------------- sample, grade


def sample_stage(ctx: StageContext) -> dict:
    """Stage `sample`: the strong model draws n samples per problem at the full budget."""
    cfg = ctx.recipe.curation.sample
    source = problems_stage(ctx)  # `filter` when the recipe filters
    problems = list(ctx.input_rows(source))
    finish: Counter = Counter()
    for sample in generate_samples(
        ctx,
        problems,
        cfg.model,
        n=cfg.n,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        knobs=cfg.knobs(),
        max_tokens=cfg.max_tokens,
        seed=derived_seed(ctx.seed, "sample"),
        parts_dir=ctx.out_dir / "parts",
        description=f"sample: {cfg.model} x{cfg.n}",
    ):
        finish[sample["finish_reason"]] += 1
        ctx.keep(sample)
    ctx.count_input(len(problems))
    ctx.count_kept_input(len(problems))
    return {
        "unit": "samples",
        "n": cfg.n,
        "finish_reason": dict(sorted(finish.items())),
        # the files sampled from (a later round's: the previous round's trained model)
        "model_path": ctx.resolve_model(cfg.model),
    }


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


def group_by_problem(rows: Iterator[dict]) -> Iterator[list[dict]]:
    """Consecutive samples of one problem (the sample store writes them in problem order)."""
    group: list[dict] = []
    for row in rows:
        if group and row_key(row)[0] != row_key(group[0])[0]:
            yield group
            group = []
        group.append(row)
    if group:
        yield group


# --------------------------------------------------------------------------- the declarations


def _grade_config(r: Any) -> dict:
    g = r.curation.grade
    return {
        "curation.grade": dump(g),
        **model_entries(r, g.judge, *(g.panel or []), g.safety_judge),
        "seed": r.seed,
    }


def _filter_config(r: Any) -> dict:
    f = r.curation.filter
    return {"curation.filter": dump(f), **model_entries(r, *f.models), **_grade_config(r)}


def _sample_config(r: Any) -> dict:
    return {
        "curation.sample": dump(r.curation.sample),
        **model_entries(r, r.curation.sample.model),
        "seed": r.seed,  # each sample's seed derives from it
    }


def _has(section: str):
    return lambda r: r.curation is not None and getattr(r.curation, section) is not None


FILTER = StageDef(
    name="filter",
    fn=filter_stage,
    needs=("balance", "decontaminate"),
    config=_filter_config,
    enabled=_has("filter"),
    help="the weak model(s) try each problem k times; solved = easy = dropped; tiers",
    models=lambda r: [*r.curation.filter.models, *r.curation.grade.judges],
)
SAMPLE = StageDef(
    name="sample",
    fn=sample_stage,
    needs=("filter", "balance", "decontaminate"),
    config=_sample_config,
    enabled=_has("sample"),
    help="the strong model samples n answers per problem at the full completion budget",
    models=lambda r: [r.curation.sample.model],
)
GRADE = StageDef(
    name="grade",
    fn=grade_stage,
    needs=("sample",),
    config=_grade_config,
    enabled=_has("sample"),
    help="grade every sample: rules first, the LLM judge for the undecided",
    models=lambda r: [*r.curation.grade.judges, *filter(None, [r.curation.grade.safety_judge])],
)
