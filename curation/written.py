"""The `write` stage: problems a writer model drafts, labelled by a solver's majority vote.

    models:
      writer: {path: Qwen/Qwen3-235B-A22B-Instruct-2507, enable_thinking: false}
      solver: {path: Qwen/Qwen3-235B-A22B-Thinking-2507}
    data:
      sources:
        - written: {writer: writer, solver: solver, count: 5000, seeds: seeds.jsonl,
                    categories: [algebra, number_theory], difficulty: 4, samples: 20,
                    agreement: 0.8}
          licence: apache-2.0

For each of `count` drafts (spread evenly over the categories) the writer gets the prompt file
with `shots` seed problems of that category, drawn at random (seeded per draft), and its
reply's text after `Problem:` is the draft. A draft that is empty, cut off, or the same
question (case and spaces aside) as a seed or an earlier draft is a reject. The solver then
answers each draft `samples` times; the answer at least `agreement` of them give (the SFT
stage's majority vote, compared in the grader's normal form; ties never win) becomes the
reference, in the words its first voter wrote it; drafts without one are rejects
(`no_majority`).

The labelled problems are the source's rows in `prepare`: they carry the writer's model path as
`generator` (so `data.forbid_generators` applies), the source's `licence`, and in `meta` the
writer, solver, votes and agreement. Dedup and decontamination against the evaluation sets are
the pipeline's own stages after prepare, as for any source. Both models' samples are stored in
`write/parts-*` as they finish: a killed stage resumes without redoing one.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

from ramen.bundled import resolve_bundled
from ramen.curation.model_stages import derived_seed, generate_samples
from ramen.curation.sft import majority_label
from ramen.errors import UserError
from ramen.grading.rules import extract_answer, vote_key
from ramen.io import file_records, hash_obj, iter_jsonl, sha256_text
from ramen.prompts import load_prompt, render_write_prompt
from ramen.stage import StageContext, StageDef, dump, model_entries

_PROBLEM = re.compile(r"^[ \t*#]*problem[ \t*]*[:：][ \t*]*", re.I | re.M)  # `**Problem:**` too
WRITTEN_INDICES = "written sources (indices)"


def written_indices(sources: list) -> list[int]:
    return [i for i, s in enumerate(sources) if s.written is not None]


def draft_text(content: str | None) -> str | None:
    """The problem in a writer's reply: the text after its last `Problem:` label at the start
    of a line (the whole reply if it has none), on one line; None if empty."""
    if not content:
        return None
    labels = list(_PROBLEM.finditer(content))
    text = content[labels[-1].end() :] if labels else content
    return " ".join(text.split()) or None


def _norm(question: str) -> str:
    return " ".join(question.lower().split())


def read_seeds(path: str, where: str) -> dict[str, list[str]]:
    """Seed questions by category, in file order (any file a source may be: prepare's reader;
    broken lines and rows without a question or category are skipped, and a file with none
    left is an error)."""
    file = Path(resolve_bundled(path))
    if not file.is_file():
        raise UserError(f"seed problem file not found: {path}", where=where)
    by_category: dict[str, list[str]] = {}
    for row, _, _ in file_records(file):
        question, category = (row or {}).get("question"), (row or {}).get("category")
        if isinstance(question, str) and question.strip() and category is not None:
            by_category.setdefault(str(category), []).append(question.strip())
    if not by_category:
        raise UserError(
            f"{path} has no row with both `question` and `category`; seeds need both", where=where
        )
    return by_category


def plan_drafts(
    spec: Any, label: str, seeds: dict[str, list[str]], seed: int, where: str
) -> list[dict]:
    """One writer request per draft: its category, prompt and the seed questions it shows."""
    categories = list(spec.categories) or sorted(seeds)
    missing = [c for c in categories if c not in seeds]
    if missing:
        raise UserError(
            f"no seed problem of category '{missing[0]}' in {spec.seeds} (it has: "
            f"{', '.join(sorted(seeds))})",
            where=f"{where}.categories",
        )
    template = load_prompt(spec.prompt)
    drafts = []
    for i in range(spec.count):
        category = categories[i % len(categories)]
        rng = random.Random(derived_seed(seed, "write", label, category, str(i)))
        pool = seeds[category]
        shown = rng.sample(pool, min(spec.shots, len(pool)))
        drafts.append(
            {
                "id": f"draft-{hash_obj([label, category, i])[:12]}",
                "question": render_write_prompt(template, category, spec.difficulty, shown),
                "category": category,
                "shown": shown,
            }
        )
    return drafts


def write_stage(ctx: StageContext) -> dict:
    """Stage `write`: drafts from the writer, labels from the solver's vote (module docstring)."""
    sources = ctx.recipe.data.sources
    stats: dict[str, dict] = {}
    ballots: list[dict] = []
    for index in ctx.config[WRITTEN_INDICES]:
        src = sources[index]
        stats[src.label] = _write_source(ctx, src, index, ballots)
    ctx.write_jsonl("votes.jsonl", ballots)
    return {"written": stats}


def _write_source(ctx: StageContext, src: Any, index: int, ballots: list[dict]) -> dict:
    """Draft, deduplicate and label one written source; every labelled or unlabelled draft's
    answers go to `ballots` (votes.jsonl: what a reader recounts a label from)."""
    spec, label = src.written, src.label
    where = f"data.sources[{index}].written"
    slug = sha256_text(label)[:8]
    seeds = read_seeds(spec.seeds, f"{where}.seeds")
    drafts = plan_drafts(spec, label, seeds, ctx.seed, where)
    ctx.count_input(len(drafts))
    seen = {_norm(q): "seed" for qs in seeds.values() for q in qs}
    writer_path = ctx.recipe.models[spec.writer].path
    kept_drafts: list[dict] = []
    reasons: Counter = Counter()

    def reject(row: dict, reason: str, **detail: Any) -> None:
        reasons[reason] += 1
        ctx.reject(row, reason, source=label, **detail)

    for sample in generate_samples(
        ctx,
        drafts,
        spec.writer,
        n=1,
        temperature=spec.temperature,
        top_p=1.0,
        max_tokens=spec.max_tokens,
        seed=derived_seed(ctx.seed, "write", label),
        parts_dir=ctx.out_dir / f"parts-writer-{slug}",
        description=f"write: {spec.writer} x{len(drafts)}",
    ):
        text = draft_text(sample.get("content"))
        row = {"draft_id": str(sample["problem_id"]), "category": sample["category"],
               "content": sample.get("content"), "finish_reason": sample["finish_reason"]}  # fmt: skip
        if sample["finish_reason"] != "stop":
            reject(row, "draft_truncated")
            continue
        if text is None:
            reject(row, "draft_empty")
            continue
        twin = seen.get(_norm(text))
        if twin is not None:
            reject({**row, "question": text}, "copies_a_seed" if twin == "seed" else "duplicate_draft",
                   twin=twin)  # fmt: skip
            continue
        seen[_norm(text)] = str(sample["problem_id"])
        kept_drafts.append({"id": str(sample["problem_id"]), "question": text,
                            "category": sample["category"]})  # fmt: skip

    labelled = 0
    agreements: list[float] = []
    by_draft: dict[str, list[dict]] = {}
    for s in generate_samples(
        ctx,
        kept_drafts,
        spec.solver,
        n=spec.samples,
        temperature=spec.solver_temperature,
        top_p=1.0,
        max_tokens=spec.solver_max_tokens,
        seed=derived_seed(ctx.seed, "write-solve", label),
        parts_dir=ctx.out_dir / f"parts-solver-{slug}",
        description=f"write: {spec.solver} labels x{spec.samples}",
    ):
        # a cut-off answer casts no vote (it still counts in the electorate)
        extracted = extract_answer(s.get("content")) if s["finish_reason"] == "stop" else None
        by_draft.setdefault(str(s["problem_id"]), []).append({**s, "extracted": extracted})
    for draft in kept_drafts:
        samples = by_draft.get(draft["id"], [])
        key, agreement = majority_label(samples, spec.agreement)
        votes = Counter(vote_key(s["extracted"]) for s in samples if vote_key(s["extracted"]))
        ballots.append({"source": label, "draft": draft["id"], "question": draft["question"],
                        "answers": [s["extracted"] for s in samples],
                        "finish_reasons": [s["finish_reason"] for s in samples],
                        "label": key, "agreement": round(agreement, 4)})  # fmt: skip
        if key is None:
            reject(draft, "no_majority", agreement=round(agreement, 4), threshold=spec.agreement,
                   votes=dict(votes.most_common(5)))  # fmt: skip
            continue
        answer = next(s["extracted"] for s in samples if vote_key(s["extracted"]) == key)
        agreements.append(agreement)
        labelled += 1
        ctx.keep(
            {
                "id": f"w-{hash_obj([label, draft['question']])[:16]}",
                "question": draft["question"],
                "answer": answer.strip(),
                "category": draft["category"],
                "licence": src.licence,
                "generator": writer_path,
                "written_source": label,
                "meta": {
                    "written": {
                        "writer": spec.writer,
                        "solver": spec.solver,
                        "difficulty": spec.difficulty,
                        "draft": draft["id"],
                        "samples": len(samples),
                        "agreement": round(agreement, 4),
                        "votes": len(votes),
                    }
                },
            }
        )
    ctx.count_kept_input(labelled)
    return {
        "drafts": len(drafts),
        "labelled": labelled,
        "rejected": dict(sorted(reasons.items())),
        "mean_agreement": round(sum(agreements) / len(agreements), 4) if agreements else None,
        "by_category": dict(sorted(Counter(d["category"] for d in kept_drafts).items())),
    }


def written_rows(write_dir: Path, label: str):
    """prepare's reader for a written source: the write stage's rows of this source, as
    (row, reject reason, raw) like any source's records."""
    for row in iter_jsonl(write_dir / "data.jsonl"):
        if row.pop("written_source", None) == label:
            yield row, None, None


# --------------------------------------------------------------------------- the declaration


def _config(r: Any) -> dict:
    indices = written_indices(r.data.sources)
    specs = [r.data.sources[i].written for i in indices]
    config: dict = {f"data.sources[{i}]": dump(r.data.sources[i]) for i in indices}
    config.update(model_entries(r, *[n for w in specs for n in (w.writer, w.solver)]))
    config[WRITTEN_INDICES] = indices
    files: dict[str, str] = {}
    for w in specs:
        files[w.prompt] = sha256_text(load_prompt(w.prompt))
        seeds = Path(resolve_bundled(w.seeds))
        files[w.seeds] = (
            sha256_text(seeds.read_text(encoding="utf-8")) if seeds.is_file() else "missing"
        )
    config["prompt and seed files (content hashes)"] = files
    config["seed"] = r.seed
    return config


def _models(r: Any) -> list[str | None]:
    return sorted({n for i in written_indices(r.data.sources)
                   for n in (r.data.sources[i].written.writer, r.data.sources[i].written.solver)})  # fmt: skip


STAGE = StageDef(
    name="write",
    fn=write_stage,
    needs=("models",),
    config=_config,
    enabled=lambda r: r.data is not None and bool(written_indices(r.data.sources)),
    help="a writer model drafts problems from seed problems; a solver's majority vote labels them",
    models=_models,
)
