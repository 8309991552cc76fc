"""Where benchmark questions come from: the official hub sets or a local file in their schema.

HLE is `cais/hle` (split test, text-only questions: an empty `image`); Do-Not-Answer is
`LibrAI/do-not-answer` (split train). A local file (.jsonl/.json/.parquet/.csv, or
`bundled:NAME`) needs `question` and, ideally, `id` columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ramen.bundled import resolve_bundled
from ramen.errors import UserError
from ramen.grading.judge import judge_identity
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


# --------------------------------------------------------------------------- benchmark kinds


class BenchmarkKind:
    """What differs between benchmark kinds (HLE, a QA set, Do-Not-Answer), behind one
    interface: the evaluate stage, the report and the recipe checks call only this.
    `ramen/benchmarks/registry.py` lists the kinds; each lives beside its judge and metrics
    (`ramen/benchmarks/answers.py`, `ramen/benchmarks/dna.py`).
    """

    name: str
    needs_reference = True  # a row without a reference answer is a reject (missing_answer)
    needs_judge = False  # scored only by a judge: the recipe must name evaluation.judge
    default_system_prompt: str | None = None  # a prompt file; None: the model's own template
    rules_first = True  # grade by rules and judge only the undecided (else judge every answer)

    def problem(self, row: dict, problem: dict) -> dict:
        """A benchmark row's problem (id, question, answer, answer_type, category), with what
        this kind adds to it."""
        return problem

    def judge(self, ctx: Any, engine: Any, bench: Any, samples: list[dict]) -> list[dict]:
        """The judged row of every sample (`score` 1/0, or None when it cannot be scored)."""
        raise NotImplementedError

    def metrics(self, rows: list[dict], n: int, questions: int) -> dict:
        """metrics.json's entry for one benchmark (`kind` names the kind)."""
        raise NotImplementedError

    def official_rows(self, rows: list[dict]) -> list[dict] | None:
        """The rows of `<key>.judged.jsonl` (what `ramen metrics` recomputes the official
        numbers from), or None when the kind has no such file."""
        return None

    def summary(self, stage: str, key: str, m: dict) -> list[str]:
        """The console lines of one benchmark's metrics."""
        raise NotImplementedError

    def report(
        self,
        key: str,
        runs: dict[str, dict],
        rows: dict[str, list[dict]],
        source: dict[str, str],
        plots_dir: Path,
    ) -> tuple[list[str], list[str]]:
        """The report's section (markdown lines) and the plots it wrote under `plots_dir`;
        `runs` maps each model to its metrics.json, `rows` to its rows of this benchmark,
        `source` to the command its numbers come from."""
        raise NotImplementedError

    def source(self, stage_dir: Path, key: str, run_cmd: str) -> str:
        """How a reader recomputes this benchmark's numbers of one evaluate stage."""
        return f"{stage_dir / 'metrics.json'} ({run_cmd})"


def judge_settings(recipe: Any, template: str) -> dict:
    """What a stored judgement depends on: a change to any judges the samples again."""
    cfg = recipe.evaluation
    return {
        **judge_identity(cfg.judge, recipe.models[cfg.judge], template),
        "retries": cfg.judge_retries,
    }
