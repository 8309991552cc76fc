"""What a benchmark kind is, and the registry the kinds fill.

A kind is one module under `ramen/benchmarks/` holding a `BenchmarkKind` subclass decorated
with `@register`: its name (what `evaluation.benchmarks[].name` says), where its questions come
from when the recipe gives no file (`hub`), which rows are its questions (`reject_reason`), its own recipe
options (`Options`, written beside the common keys of its benchmark entry), its judge, its
metrics, its console lines and its report section. Importing `ramen.benchmarks` imports every
module of the package, so a new kind is that one module (docs/architecture.md shows one).

The evaluate stages, the report, decontamination and the recipe checks call only this
interface and `kind(name)`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ramen.bundled import resolve_bundled
from ramen.errors import UserError
from ramen.grading.judge import judge_identity
from ramen.io import jsonl_records
from ramen.spec import StrictModel

if TYPE_CHECKING:  # annotations only: the spec module imports this one
    from ramen.benchmarks.spec import BenchmarkSpec


class NoOptions(StrictModel):
    """A kind without recipe options of its own."""


class BenchmarkKind:
    """What differs between benchmark kinds (HLE, a QA set, Do-Not-Answer), behind one
    interface.

    Lifecycle, in the evaluate stage: `rows` (the questions, filtered by `keep_row`) ->
    `problem` (each row as a problem) -> sampling -> `judge` (a score per sample) -> `metrics`
    (metrics.json's entry) -> `official_rows` and `summary`; the report stage calls `report`
    with every evaluated model's metrics and rows. Design rule: a kind reads the recipe only
    through its `BenchmarkSpec` (its options in `spec.options`) and the evaluation section's
    shared keys (the judge, its retries, the seed).
    """

    name: ClassVar[str]
    hub: ClassVar[dict[str, str] | None] = None  # {"path", "split"}: the official set
    path_may_be_hub_id: ClassVar[bool] = False  # a `path` that is no file names a hub dataset
    needs_path: ClassVar[bool] = False  # the recipe must give `path` (no official set)
    Options: ClassVar[type[StrictModel]] = NoOptions
    needs_reference: ClassVar[bool] = True  # a row without a reference answer is a reject
    needs_judge: ClassVar[bool] = False  # scored only by a judge: evaluation.judge required
    default_system_prompt: ClassVar[str | None] = None  # a prompt file; None: the model's own
    rules_first: ClassVar[bool] = True  # rules, then the judge for the undecided (else judge all)

    # ------------------------------------------------------------------ questions

    def reject_reason(self, row: dict) -> str | None:
        """Why a row of the benchmark's source is not one of its questions (the evaluate stage
        writes it to rejects.jsonl with this reason), or None for a question."""
        return None

    def rows(self, spec: BenchmarkSpec) -> Iterator[tuple[int, dict, str]]:
        """(index, row, id prefix) of every row the evaluate stage reads (`reject_reason` not
        applied yet); a prefixed row is extra to the benchmark's own (not counted by
        `limit`)."""
        for i, row in enumerate(benchmark_rows(self, spec.path, spec.split, every_row=True)):
            yield i, row, ""

    def question_files(self, spec: BenchmarkSpec) -> list[tuple[str, str | None]]:
        """(label, file or None for the hub set) of the questions decontamination removes
        from training data when `data.decontaminate.against` names this benchmark."""
        return [(spec.name, spec.path)]

    def problem(self, row: dict, problem: dict) -> dict:
        """A benchmark row's problem (id, question, answer, answer_type, category), with what
        this kind adds to it."""
        return problem

    # ------------------------------------------------------------------ scoring

    def judge(self, ctx: Any, engine: Any, bench: BenchmarkSpec, samples: list[dict]) -> list[dict]:
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

    # ------------------------------------------------------------------ hashing

    def hashed_layout(self, section: dict, entries: list[int]) -> None:
        """Adjust the evaluation section as the stages hash it (`section`, a JSON dump; this
        kind's benchmark entries at `entries`), for a kind whose options once lived elsewhere
        in the recipe: runs made before keep their hashes. Most kinds have nothing to do."""


# --------------------------------------------------------------------------- the registry

KINDS: dict[str, BenchmarkKind] = {}


def register(cls: type[BenchmarkKind]) -> type[BenchmarkKind]:
    """Class decorator: add a kind to the registry under its `name` (a second kind of the same
    name is an error: two modules claim it)."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__qualname__}: a benchmark kind needs a `name`")
    if name in KINDS and type(KINDS[name]) is not cls:
        raise TypeError(
            f"benchmark kind '{name}' is registered twice ({type(KINDS[name]).__module__} and "
            f"{cls.__module__})"
        )
    KINDS[name] = cls()
    return cls


def kind(name: str) -> BenchmarkKind:
    """The registered kind called `name`; a miss names the closest kind and lists them all."""
    if name in KINDS:
        return KINDS[name]
    close = difflib.get_close_matches(name, list(KINDS), n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise UserError(
        f"unknown benchmark kind '{name}'; {hint}the kinds are {', '.join(sorted(KINDS))} "
        "(a new kind is a module in ramen/benchmarks/, docs/architecture.md)"
    )


def hub_kinds() -> list[str]:
    """The kinds with an official set on the hub (what `data.decontaminate.against` may name
    without evaluating it)."""
    return sorted(n for n, k in KINDS.items() if k.hub is not None)


# --------------------------------------------------------------------------- reading questions


def _local(path: Path) -> Iterator[dict]:
    if path.suffix == ".jsonl":
        for row, _, _ in jsonl_records(path):
            if row is not None:
                yield row
        return
    import datasets  # slow to import; only for .json/.parquet/.csv files

    fmt = {".json": "json", ".parquet": "parquet", ".csv": "csv"}.get(path.suffix)
    if fmt is None:
        raise UserError(f"{path}: a benchmark file is .jsonl, .json, .parquet or .csv")
    yield from datasets.load_dataset(fmt, data_files=str(path), split="train")


def _hub(path: str, split: str, name: str) -> Iterator[dict]:
    import datasets  # slow to import; only for hub sets

    try:
        return iter(datasets.load_dataset(path, split=split))
    except Exception as e:  # hub errors come in many types; all mean "cannot read it here"
        load = f"datasets.load_dataset('{path}', split='{split}')"
        raise UserError(
            f"cannot load benchmark '{name}' from the hub ({path}): {e}. Give a local copy as "
            f'a file path instead, or load it once where there is network (`python -c "import '
            f'datasets; {load}"`, with the same HF_HOME; GPU jobs run with the hub offline)'
        ) from None


def benchmark_rows(
    k: BenchmarkKind | None, path: str | None = None, split: str = "test", every_row: bool = False
) -> Iterator[dict]:
    """Rows of a benchmark kind (those without a `reject_reason` unless `every_row`; kind None:
    a file of no kind, every row): from
    `path` when given (a .jsonl, .json, .parquet or .csv file, or `bundled:NAME`; a hub
    dataset id for a kind whose path may be one), else from the kind's official hub set."""
    if path is not None:
        local = Path(resolve_bundled(path))
        if local.is_file():
            rows = _local(local)
        elif k and k.path_may_be_hub_id and not path.startswith((".", "/", "~", "bundled:")):
            rows = _hub(path, split, k.name)
        else:
            raise UserError(f"benchmark file not found: {path}")
    elif k is not None and k.hub is not None:
        rows = _hub(k.hub["path"], k.hub["split"], k.name)
    else:
        raise UserError(
            f"benchmark '{k and k.name}' has no official set: give a file as its `path`"
        )
    for row in rows:
        if k is None or every_row or k.reject_reason(row) is None:
            yield row


def benchmark_questions(
    k: BenchmarkKind | None, path: str | None = None
) -> Iterator[tuple[str, str]]:
    """(item id, question) of every benchmark item that has a question."""
    for i, row in enumerate(benchmark_rows(k, path)):
        question = row.get("question")
        if isinstance(question, str) and question.strip():
            yield str(row.get("id", i)), question


def judge_settings(recipe: Any, template: str) -> dict:
    """What a stored judgement depends on: a change to any judges the samples again."""
    cfg = recipe.evaluation
    return {
        **judge_identity(cfg.judge, recipe.models[cfg.judge], template),
        "retries": cfg.judge_retries,
    }
