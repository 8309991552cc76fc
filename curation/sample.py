"""The `sample` stage: the strong model draws n samples per problem at the full completion
budget, hot, resumably (curation/model_stages.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ramen.curation.model_stages import derived_seed, generate_samples, has_section, problems_stage
from ramen.stage import StageContext, StageDef, dump, model_entries


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


def _sample_config(r: Any) -> dict:
    return {
        "curation.sample": dump(r.curation.sample),
        **model_entries(r, r.curation.sample.model),
        "seed": r.seed,  # each sample's seed derives from it
    }


STAGE = StageDef(
    name="sample",
    fn=sample_stage,
    needs=("filter", "balance", "decontaminate"),
    config=_sample_config,
    enabled=has_section("sample"),
    help="the strong model samples n answers per problem at the full completion budget",
    models=lambda r: [r.curation.sample.model],
)
