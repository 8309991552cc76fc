"""What the model stages of curation share (`filter`, `sample` and `grade` in filter.py,
sample.py and grade.py; the `write` stage in written.py): which stage their problems come
from, seeds of their own, and samples generated resumably into a stage's sample store.

They run on ramen's inference library. Samples land in `<stage>/parts/` as they finish, so a
killed stage resumes without losing or repeating a sample. A stored sample stays valid while
the model, the sampling settings and its problem's question are unchanged: raising
`curation.sample.n` from 4 to 6 generates only samples 4 and 5.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ramen.grading.grader import row_key
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
from ramen.stage import StageContext


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


def has_section(section: str):
    return lambda r: r.curation is not None and getattr(r.curation, section) is not None
