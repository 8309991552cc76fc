"""The `filter` stage: each listed model (smallest first) tries every problem k times; the
problems the deciding model solves are dropped as too easy to learn from, and with two or more
models each problem gets a difficulty tier."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from ramen.console import console
from ramen.curation.grade import grade_config, grade_samples
from ramen.curation.model_stages import derived_seed, generate_samples, has_section, problems_stage
from ramen.curation.safety import is_safety
from ramen.stage import StageContext, StageDef, dump, model_entries

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


def _filter_config(r: Any) -> dict:
    f = r.curation.filter
    return {"curation.filter": dump(f), **model_entries(r, *f.models), **grade_config(r)}


STAGE = StageDef(
    name="filter",
    fn=filter_stage,
    needs=("balance", "decontaminate"),
    config=_filter_config,
    enabled=has_section("filter"),
    help="the weak model(s) try each problem k times; solved = easy = dropped; tiers",
    models=lambda r: [*r.curation.filter.models, *r.curation.grade.judges],
)
