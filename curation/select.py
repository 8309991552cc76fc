"""The `select` stage: keep problems whose number of correct samples lies in the pass band.

The band is [min_correct, max_correct] (default 1..n-1: a problem every sample gets right or
every sample gets wrong teaches DPO nothing), or a pass-rate band. One output row per kept
problem, holding its graded samples. Rejects say why: none_correct (0/n), all_correct (n/n),
below_band, above_band.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from ramen.console import track
from ramen.curation.model_stages import group_by_problem
from ramen.stage import StageContext, StageDef, dump

PROBLEM_FIELDS = ("question", "answer", "answer_type", "category", "provenance")


def problem_group(samples: list[dict]) -> dict:
    """A problem row built from its graded samples."""
    first = samples[0]
    verdicts = Counter(s["verdict"] for s in samples)
    return {
        "id": str(first["problem_id"]),
        **{k: first.get(k) for k in PROBLEM_FIELDS},
        "n": len(samples),
        "correct": verdicts.get("correct", 0),
        "verdicts": dict(sorted(verdicts.items())),
        "samples": samples,
    }


def band_reason(correct: int, n: int, lo: float, hi: float) -> str | None:
    if lo <= correct <= hi:
        return None
    if correct == 0:
        return "none_correct"
    if correct == n:
        return "all_correct"
    return "below_band" if correct < lo else "above_band"


def select(ctx: StageContext) -> dict:
    """Stage `select`: problems in the pass band go on to pair and SFT building."""
    cfg = ctx.recipe.curation
    n = cfg.sample.n
    lo, hi = cfg.select.band(n)
    histogram: Counter = Counter()
    by_category: dict[str, Counter] = defaultdict(Counter)
    for samples in group_by_problem(track(ctx.input_rows("grade"), "select")):
        ctx.count_input()
        row = problem_group(samples)
        histogram[row["correct"]] += 1
        reason = band_reason(row["correct"], row["n"], lo, hi)
        by_category[str(row["category"])]["dropped" if reason else "kept"] += 1
        if reason:
            ctx.reject(row, reason, correct=row["correct"], n=row["n"])
            continue
        ctx.keep(row)
    return {
        "unit": "problems",
        "band": [lo, hi],
        "n": n,
        "correct_histogram": {str(k): histogram[k] for k in sorted(histogram)},
        "by_category": {k: dict(v) for k, v in sorted(by_category.items())},
    }


STAGE = StageDef(
    name="select",
    fn=select,
    needs=("grade",),
    config=lambda r: {
        "curation.select": dump(r.curation.select),
        "curation.sample.n": r.curation.sample.n,
    },
    enabled=lambda r: r.curation is not None and r.curation.sample is not None,
    help="keep problems whose correct count is in the pass band (drop 0/n and n/n)",
)
