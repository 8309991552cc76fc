"""The `prepare` stage: read every source, map its fields, and write Problem rows.

A source is a file, a hub dataset, SymPy generators (`synthetic: sympy`,
curation/synthetic.py), or problems a writer model drafted (`written:`, curation/written.py,
whose `write` stage runs first). A row that cannot become a Problem (no question, an answer that is
not text, a broken line, a licence or generator the recipe forbids, a value a row filter
`keep`/`drop` excludes) goes to rejects.jsonl with its reason. Sources with a `weight` are
mixed: the largest set with those shares, drawn at random (seeded); the rows left out are
rejects too (`over_mix_share`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ramen.bundled import resolve_bundled
from ramen.console import console, track
from ramen.curation.config import DataConfig, SourceSpec
from ramen.curation.written import written_rows
from ramen.errors import UserError
from ramen.io import file_records, hash_obj
from ramen.mix import draw_mix
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
ANSWER_TYPES = ("exactMatch", "multipleChoice", "free", "safety", "benign")
LOCAL_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


def _hub_rows(src: SourceSpec) -> Iterator[tuple[dict | None, str | None, Any]]:
    import datasets

    ds = datasets.load_dataset(src.path, src.name, split=src.split, revision=src.revision)
    for row in ds:
        yield row, None, None


def read_source(
    src: SourceSpec, seed: int = 0, report: dict | None = None, write_dir: Path | None = None
) -> Iterator[tuple[dict | None, str | None, Any]]:
    """(row, reject reason, raw) for every record of a source; a synthetic source's counts go
    to `report`; a written source's rows come from the `write` stage's folder."""
    if src.written is not None:
        assert write_dir is not None, "a written source is read after the write stage"
        yield from written_rows(write_dir, src.label)
        return
    if src.synthetic:
        # SymPy (slow to import): only recipes that generate problems load the generators
        from ramen.curation.synthetic import synthetic_rows

        yield from synthetic_rows(
            src, src.seed if src.seed is not None else seed, report if report is not None else {}
        )
        return
    path = Path(resolve_bundled(src.path))
    if path.suffix in LOCAL_SUFFIXES or path.exists():
        if not path.is_file():
            raise UserError(f"source file not found: {src.path}", where="data.sources.path")
        yield from file_records(path)
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


def _values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


_YAML_BOOL = {True: {"yes", "true", "on", "y"}, False: {"no", "false", "off", "n"}}


def _matches(cell: Any, wanted: Any) -> bool:
    """A filter value against a column value. YAML reads an unquoted `Yes` as true: a boolean
    filter value also matches the column's yes/no/true/false words, and a number its text
    (`level: 5` matches "5")."""
    if cell == wanted and type(cell) is type(wanted):
        return True
    if isinstance(wanted, bool):
        return isinstance(cell, str) and cell.strip().lower() in _YAML_BOOL[wanted]
    if isinstance(cell, bool) or cell is None or wanted is None:
        return False
    return str(cell).strip() == str(wanted).strip()


def row_filter(row: dict, src: SourceSpec) -> str | None:
    """The reject reason a source's `keep`/`drop` filters give a raw row, or None."""
    for column, allowed in src.keep.items():
        if not any(_matches(row.get(column), v) for v in _values(allowed)):
            return f"filtered_keep:{column}"
    for column, banned in src.drop.items():
        if any(_matches(row.get(column), v) for v in _values(banned)):
            return f"filtered_drop:{column}"
    return None


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
    answer_type = src.answer_type or row.get(mapping["answer_type"]) or "exactMatch"
    if answer_type not in ANSWER_TYPES:
        return None, "unknown_answer_type"
    licence = row.get(mapping["licence"]) or src.declared_licence
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
        else hash_obj([src.label, question])[:16]
    )
    used = {mapping[f] for f in PROBLEM_FIELDS}
    meta = {
        k: v
        for k, v in row.items()
        if k not in used and isinstance(v, str | int | float | bool | None)
    }
    if isinstance(row.get("meta"), dict) and "meta" not in used:
        meta.update(row["meta"])  # a source's own meta object (synthetic: template, params)
    problem = {
        "id": pid,
        "question": question,
        "answer": answer.strip(),
        "answer_type": answer_type,
        "category": str(category),
        "source": src.label,
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
    synthetic: dict[str, dict] = {}
    weighted: dict[str, list[tuple[dict, dict]]] = {}  # label -> (problem, raw row), in order
    seed = ctx.recipe.seed if _uses_seed(data.sources) else 0
    for src in data.sources:
        kept = 0
        report: dict = {}
        rows = read_source(src, seed, report, ctx.inputs.get("write"))
        if src.limit:
            rows = (r for i, r in enumerate(rows) if i < src.limit)
        for row, reason, raw in track(rows, f"prepare {src.label}"):
            ctx.count_input()
            if reason:
                ctx.reject(raw, reason, source=src.label)
                continue
            reason = row_filter(row, src)
            if reason:
                ctx.reject(row, reason, source=src.label)
                continue
            problem, reason = to_problem(row, src, data)
            if reason:
                ctx.reject(row, reason, source=src.label)
                continue
            if problem["id"] in seen_ids:
                ctx.reject(
                    row, "duplicate_id", source=src.label, kept_source=seen_ids[problem["id"]]
                )
                continue
            seen_ids[problem["id"]] = src.label
            if src.weight is not None:
                weighted.setdefault(src.label, []).append((problem, row))
            else:
                ctx.keep(problem)
            kept += 1
        per_source[src.label] = kept
        if src.synthetic:
            synthetic[src.label] = report
    stats: dict = {"kept_by_source": per_source}
    if weighted:
        weights = {s.label: s.weight for s in data.sources if s.weight is not None}
        for label in weights:
            weighted.setdefault(label, [])
        available = {label: len(rows) for label, rows in weighted.items()}
        drawn = draw_mix(available, weights, seed)
        take = {label: len(drawn[label]) for label in weights}
        for label, rows in weighted.items():
            chosen = set(drawn[label])
            for i, (problem, row) in enumerate(rows):
                if i in chosen:
                    ctx.keep(problem)
                else:
                    ctx.reject(row, "over_mix_share", source=label)
            per_source[label] = take[label]
        stats["mix"] = {
            label: {"weight": weights[label], "available": available[label], "taken": take[label]}
            for label in weights
        }
        empty = [label for label in weights if not available[label]]
        if empty:  # its share went to the others: said in stats and on the console
            stats["mix_empty_sources"] = empty
            console.print(f"[yellow]prepare: no rows from {', '.join(empty)}; the other "
                          "weighted sources were mixed without it[/yellow]")  # fmt: skip
    if synthetic:
        stats["synthetic"] = synthetic
    return stats


def _uses_seed(sources: list[SourceSpec]) -> bool:
    """Whether the recipe's seed decides what prepare writes: a mix, or generated problems
    without their own seed."""
    return any(s.weight is not None or (s.synthetic and s.seed is None) for s in sources)


def _generator_files(sources: list[SourceSpec]) -> dict[str, str]:
    if not any(s.synthetic for s in sources):
        return {}
    # SymPy (slow to import): only recipes that generate problems load the generators
    from ramen.curation.synthetic import generator_files

    return generator_files(sources)


def _config(r) -> dict:
    config = {
        "data.sources": [dump(s) for s in r.data.sources],
        "data.allow_licences": r.data.allow_licences,
        "data.forbid_generators": r.data.forbid_generators,
    }
    files = _generator_files(r.data.sources)
    if files:
        config["generator files (content hashes)"] = files
    if _uses_seed(r.data.sources):
        config["seed"] = r.seed
    return config


def _needs(r) -> tuple[str, ...]:
    """The `write` stage, when a source is written problems (curation/written.py)."""
    return ("write",) if any(s.written is not None for s in r.data.sources) else ()


STAGE = StageDef(
    name="prepare",
    fn=prepare,
    needs=_needs,
    config=_config,
    enabled=lambda r: r.data is not None,
    help="read sources, map fields, apply the licence/provenance gate -> Problem rows",
)
