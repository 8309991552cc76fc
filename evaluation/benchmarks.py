"""Where benchmark questions come from: the official hub sets or a local file in their schema.

HLE is `cais/hle` (split test, text-only questions: an empty `image`); Do-Not-Answer is
`LibrAI/do-not-answer` (split train). A local file (.jsonl/.json/.parquet/.csv, or
`bundled:NAME`) needs `question` and, ideally, `id` columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ramen.bundled import resolve_bundled
from ramen.errors import UserError
from ramen.io import jsonl_records

HUB = {
    "hle": {"path": "cais/hle", "split": "test"},
    "do_not_answer": {"path": "LibrAI/do-not-answer", "split": "train"},
}


def _local(path: Path) -> Iterator[dict]:
    if path.suffix == ".jsonl":
        for row, _, _ in jsonl_records(path):
            if row is not None:
                yield row
        return
    import datasets

    kind = {".json": "json", ".parquet": "parquet", ".csv": "csv"}.get(path.suffix)
    if kind is None:
        raise UserError(f"{path}: a benchmark file is .jsonl, .json, .parquet or .csv")
    yield from datasets.load_dataset(kind, data_files=str(path), split="train")


def _hub(path: str, split: str, name: str) -> Iterator[dict]:
    import datasets

    try:
        return iter(datasets.load_dataset(path, split=split))
    except Exception as e:  # hub errors come in many types; all mean "cannot read it here"
        raise UserError(
            f"cannot load benchmark '{name}' from the hub ({path}): {e}. "
            "Give a local copy as a file path instead"
        ) from None


def benchmark_rows(name: str, path: str | None = None, split: str = "test") -> Iterator[dict]:
    """Rows of a benchmark: from `path` when given, else from the hub set named `name`.
    A `qa` path that is no file is a hub dataset id (its `split`).

    HLE rows with an image are left out (the text-only set).
    """
    if path is not None:
        local = Path(resolve_bundled(path))
        if local.is_file():
            rows = _local(local)
        elif name == "qa" and not path.startswith((".", "/", "~", "bundled:")):
            rows = _hub(path, split, name)
        else:
            raise UserError(f"benchmark file not found: {path}")
    elif name in HUB:
        rows = _hub(HUB[name]["path"], HUB[name]["split"], name)
    else:
        raise UserError(f"unknown benchmark '{name}'; use hle, do_not_answer or a file path")
    for row in rows:
        if name == "hle" and row.get("image"):
            continue
        yield row


def benchmark_questions(name: str, path: str | None = None) -> Iterator[tuple[str, str]]:
    """(item id, question) of every benchmark item that has a question."""
    for i, row in enumerate(benchmark_rows(name, path)):
        question = row.get("question")
        if isinstance(question, str) and question.strip():
            yield str(row.get("id", i)), question
