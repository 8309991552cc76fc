"""The `prepare` stage: read every source, map its fields, and write Problem rows.

A row that cannot become a Problem (no question, an answer that is not text, a broken line,
a licence or generator the recipe forbids) goes to rejects.jsonl with its reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from curation.config import DataConfig, SourceSpec
from ramen.bundled import resolve_bundled
from ramen.console import track
from ramen.errors import UserError
from ramen.io import hash_obj, jsonl_records
from ramen.stage import StageContext, StageDef, dump

PROBLEM_FIELDS = (
    "id",
    "question",
    "answer",
    "answer_type",
    "category",
    "reasoning",
    "licence",
    "generator",
)
ANSWER_TYPES = ("exactMatch", "multipleChoice", "free")
LOCAL_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


def _local_rows(path: Path) -> Iterator[tuple[dict | None, str | None, Any]]:
    """(row, reject reason, raw) for each record of a local file; broken lines are rejects."""
    if path.suffix == ".jsonl":
        yield from jsonl_records(path)
        return
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if not isinstance(data, list):
            raise UserError(
                f"{path}: a .json source must hold a list of objects (or {{'data': [...]}})"
            )
        for item in data:
            yield (item, None, None) if isinstance(item, dict) else (None, "not_an_object", item)
        return
    import datasets

    kind = "parquet" if path.suffix == ".parquet" else "csv"
    for row in datasets.load_dataset(kind, data_files=str(path), split="train"):
        yield row, None, None


def _hub_rows(src: SourceSpec) -> Iterator[tuple[dict | None, str | None, Any]]:
    import datasets

    ds = datasets.load_dataset(src.path, src.name, split=src.split, revision=src.revision)
    for row in ds:
        yield row, None, None


def read_source(src: SourceSpec) -> Iterator[tuple[dict | None, str | None, Any]]:
    path = Path(resolve_bundled(src.path))
    if path.suffix in LOCAL_SUFFIXES or path.exists():
        if not path.is_file():
            raise UserError(f"source file not found: {src.path}", where="data.sources.path")
        yield from _local_rows(path)
    else:
        yield from _hub_rows(src)


def _answer_text(value: Any) -> tuple[str | None, str | None]:
    """The answer as text, or a reject reason. A missing answer is kept as '' (clean decides)."""
    if value is None:
        return "", None
    if isinstance(value, bool):
        return None, "answer_not_text"
    if isinstance(value, int):
        return str(value), None
    if isinstance(value, float):
        return (None, "answer_not_finite") if not math.isfinite(value) else (repr(value), None)
    if isinstance(value, str):
        return value, None
    return None, "answer_not_text"


def to_problem(row: dict, src: SourceSpec, data: DataConfig) -> tuple[dict | None, str | None]:
    """Map a source row to a Problem row, or return the reason it cannot be one."""
    mapping = {f: src.fields.get(f, f) for f in PROBLEM_FIELDS}
    question = row.get(mapping["question"])
    if question is None or (isinstance(question, str) and not question.strip()):
        return None, "missing_question"
    if not isinstance(question, str):
        return None, "question_not_text"
    answer, why = _answer_text(row.get(mapping["answer"]))
    if why:
        return None, why
    answer_type = row.get(mapping["answer_type"]) or "exactMatch"
    if answer_type not in ANSWER_TYPES:
        return None, "unknown_answer_type"
    licence = row.get(mapping["licence"]) or src.licence
    generator = row.get(mapping["generator"]) or src.generator
    if data.allow_licences is not None and str(licence).lower() not in {
        x.lower() for x in data.allow_licences
    }:
        return None, "licence_not_allowed"
    if generator and any(g.lower() in str(generator).lower() for g in data.forbid_generators):
        return None, "forbidden_generator"
    category = src.category or row.get(mapping["category"]) or "uncategorized"
    given_id = row.get(mapping["id"])
    pid = (
        str(given_id)
        if isinstance(given_id, str | int) and str(given_id)
        else hash_obj([src.path, question])[:16]
    )
    used = {mapping[f] for f in PROBLEM_FIELDS}
    meta = {
        k: v
        for k, v in row.items()
        if k not in used and isinstance(v, str | int | float | bool | None)
    }
    problem = {
        "id": pid,
        "question": question,
        "answer": answer.strip(),
        "answer_type": answer_type,
        "category": str(category),
        "source": src.path,
        "licence": str(licence),
        "generator": generator,
        "meta": meta,
    }
    reasoning = row.get(mapping["reasoning"]) if "reasoning" in src.fields else None
    if reasoning is not None:
        problem["reasoning"] = reasoning if isinstance(reasoning, str) else str(reasoning)
    return problem, None


def prepare(ctx: StageContext) -> dict:
    """Stage `prepare`: sources -> Problem rows (data.jsonl), with rejects and per-source counts."""
    data: DataConfig = ctx.recipe.data
    seen_ids: dict[str, str] = {}
    per_source: dict[str, int] = {}
    for src in data.sources:
        kept = 0
        rows = read_source(src)
        if src.limit:
            rows = (r for i, r in enumerate(rows) if i < src.limit)
        for row, reason, raw in track(rows, f"prepare {src.path}"):
            ctx.count_input()
            if reason:
                ctx.reject(raw, reason, source=src.path)
                continue
            problem, reason = to_problem(row, src, data)
            if reason:
                ctx.reject(row, reason, source=src.path)
                continue
            if problem["id"] in seen_ids:
                ctx.reject(
                    row, "duplicate_id", source=src.path, kept_source=seen_ids[problem["id"]]
                )
                continue
            seen_ids[problem["id"]] = src.path
            ctx.keep(problem)
            kept += 1
        per_source[src.path] = kept
    return {"kept_by_source": per_source}


STAGE = StageDef(
    name="prepare",
    fn=prepare,
    needs=(),
    config=lambda r: {
        "data.sources": [dump(s) for s in r.data.sources],
        "data.allow_licences": r.data.allow_licences,
        "data.forbid_generators": r.data.forbid_generators,
    },
    enabled=lambda r: r.data is not None,
    help="read sources, map fields, apply the licence/provenance gate -> Problem rows",
)
