"""What a stage function receives: its folder, its config, its inputs, and writers that keep the
stage contract (data, rejects with reasons, counts). The runner in launch/ builds it.

A stage function reads `ctx.inputs`, writes rows through `ctx.keep(...)` and `ctx.reject(...)`
and returns extra stats (or {}). Files land atomically when the stage finishes.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ramen.console import console
from ramen.io import atomic_path, iter_jsonl, write_json_atomic, write_jsonl_atomic

# `ramen run --ahead`: the part of a stage that needs no GPU, done by a CPU job before the
# stage's GPU job (a train stage renders and tokenizes its rows there). The work lands in the
# stage's folder under AHEAD_DIR, with AHEAD_RECORD saying for which key; the stage takes it.
AHEAD_DIR = "ahead"
AHEAD_RECORD = "ahead.json"


def link_tree(src: Path, dst: Path) -> None:
    """`src` (a file or folder) at `dst` as hard links: no bytes copied (a tokenized set can be
    hundreds of GB); a copy where the file system has no hard links."""
    if dst.is_dir():
        shutil.rmtree(dst)
    else:
        dst.unlink(missing_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst, copy_function=_link_or_copy)
    else:
        _link_or_copy(src, dst)


def _link_or_copy(src: str | Path, dst: str | Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def dumps_row(row: Any) -> str:
    """The one JSON form of a row in stage files (stable: sorted keys, UTF-8 text)."""
    return json.dumps(row, ensure_ascii=False, sort_keys=True)


class _AtomicJsonl:
    """A JSONL file written to a temp path and renamed into place on commit."""

    def __init__(self, path: Path):
        self.path = path
        self._ctx = atomic_path(path)
        self._tmp = self._ctx.__enter__()
        self._f: IO[str] = open(self._tmp, "w", encoding="utf-8", buffering=1 << 20)
        self.count = 0

    def write(self, row: dict) -> None:
        self._f.write(dumps_row(row) + "\n")
        self.count += 1

    def write_line(self, line: str) -> None:
        self._f.write(line + "\n")
        self.count += 1

    def commit(self) -> None:
        self._f.close()
        self._ctx.__exit__(None, None, None)

    def abort(self) -> None:
        self._f.close()
        try:
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)
        except RuntimeError:
            pass


@dataclass
class StageContext:
    name: str
    out_dir: Path
    config: Any
    inputs: dict[str, Path]
    seed: int
    # each input stage's output hash (from its manifest): what this run of the stage reads
    input_hashes: dict[str, str] = field(default_factory=dict)
    recipe: Any = None
    recipe_path: str | None = None  # the recipe file the run was started from (for reports)
    # name under `models:` -> a local path or hub id (tiny models built); the launcher sets it
    resolve_model: Callable[[str], str] | None = None
    forced: bool = False  # `ramen run --force STAGE`: the stage's earlier work is not reused
    # what this run of the stage is made of (its config hash with its inputs' output hashes):
    # work done ahead for it (`ramen run --ahead`) is used only under the same key
    key: str = ""
    stats: dict = field(default_factory=dict)
    _writers: dict[str, _AtomicJsonl] = field(default_factory=dict)
    _reasons: Counter = field(default_factory=Counter)
    _seen: int = 0
    _kept_input: int | None = None
    _extra: list[str] = field(default_factory=list)

    # -- writing -----------------------------------------------------------------
    def _writer(self, filename: str) -> _AtomicJsonl:
        if filename not in self._writers:
            self._writers[filename] = _AtomicJsonl(self.out_dir / filename)
        return self._writers[filename]

    def keep(self, row: dict, filename: str = "data.jsonl") -> None:
        """Write a row that goes on to the next stage."""
        self._writer(filename).write(row)

    def keep_line(self, line: str, filename: str = "data.jsonl") -> None:
        """Write a row that is already serialised with `dumps_row` (a worker did it)."""
        self._writer(filename).write_line(line)

    def reject(self, row: Any, reason: str, **detail: Any) -> None:
        """Drop a row, with its reason (and e.g. the kept twin it duplicates). Never silent."""
        self._writer("rejects.jsonl").write({"reason": reason, **detail, "row": row})
        self._reasons[reason] += 1

    def write_json(self, filename: str, obj: Any) -> None:
        """Write a JSON output file of this stage (atomically) and count it among its outputs."""

        write_json_atomic(self.out_dir / filename, obj)
        if filename not in self._extra:
            self._extra.append(filename)

    def write_jsonl(self, filename: str, rows: Any) -> int:
        """Write a JSONL output file of this stage (atomically) besides data and rejects."""

        count = write_jsonl_atomic(self.out_dir / filename, rows)
        if filename not in self._extra:
            self._extra.append(filename)
        return count

    def add_output(self, name: str) -> None:
        """Count a file or folder the stage wrote itself among its outputs (hashed, checked)."""
        if name not in self._extra:
            self._extra.append(name)

    def count_input(self, n: int = 1) -> None:
        """Count rows read, so the runner can check kept + rejected == input."""
        self._seen += n

    def count_kept_input(self, n: int = 1) -> None:
        """For a stage whose output rows are another unit than its input (problems in, samples
        or pairs out): count the input rows that went on, so kept_input + rejected == input."""
        self._kept_input = (self._kept_input or 0) + n

    @property
    def seen(self) -> int:
        """Input rows counted so far."""
        return self._seen

    @property
    def kept_input(self) -> int | None:
        """Input rows counted as gone on (`count_kept_input`), or None when the stage counts
        its output rows instead."""
        return self._kept_input

    @property
    def reasons(self) -> dict[str, int]:
        """Rejects so far, by reason."""
        return dict(self._reasons)

    def take_ahead(self) -> dict | None:
        """The work a `ramen run --ahead` job did for this run of the stage (AHEAD_DIR), taken
        as if this stage had done it: its files linked into the stage folder, its rejects and
        input counts recorded here; returns what the ahead function returned. None when there is
        none, or it was done for another key (a changed config or input) or the stage is forced:
        then it is removed and the stage does the work itself."""

        folder = self.out_dir / AHEAD_DIR
        record_path = folder / AHEAD_RECORD
        if not record_path.is_file():
            shutil.rmtree(folder, ignore_errors=True)  # an ahead job killed before it finished
            return None
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if self.forced or record["key"] != self.key:
            why = "--force" if self.forced else "it was made for another config or input"
            console.print(f"{self.name}: not using the work done ahead ({why}): doing it here")
            shutil.rmtree(folder)
            return None
        for name in record["files"]:
            link_tree(folder / name, self.out_dir / name)
        for row in iter_jsonl(folder / "rejects.jsonl"):
            reason, kept = row.pop("reason"), row.pop("row")
            self.reject(kept, reason, **row)  # the same line: `reason`, the details, `row`
        self.count_input(record["input"])
        if record["input_kept"] is not None:
            self.count_kept_input(record["input_kept"])
        console.print(
            f"{self.name}: using the work done ahead by {record['by']} ({record['seconds']} s, "
            f"{record['input']} rows in): {', '.join(record['files'])}",
            markup=False,
        )
        return record["result"]

    def drop_ahead(self) -> None:
        """Remove the ahead folder once the stage has finished with what it took from it."""
        shutil.rmtree(self.out_dir / AHEAD_DIR, ignore_errors=True)

    # -- reading -----------------------------------------------------------------
    def input_rows(self, stage: str, filename: str = "data.jsonl"):
        return iter_jsonl(self.inputs[stage] / filename)

    # -- called by the runner ----------------------------------------------------
    def finish(self) -> dict:
        self._writer("rejects.jsonl")  # every stage has a rejects file, even an empty one
        kept = self._writers["data.jsonl"].count if "data.jsonl" in self._writers else 0
        for w in self._writers.values():
            w.commit()
        stats = {"kept": kept, "rejected": dict(sorted(self._reasons.items()))}
        if self._seen:
            stats["input"] = self._seen
        if self._kept_input is not None:
            stats["input_kept"] = self._kept_input
        stats.update(self.stats)
        return stats

    def abort(self) -> None:
        for w in self._writers.values():
            w.abort()

    def outputs(self) -> list[str]:
        return sorted([*self._writers, *self._extra])


@dataclass(frozen=True)
class StageDef:
    """One stage: a function from its inputs and config section to its output folder.

    Lifecycle, driven by the runner (launch/runner.py): `enabled(recipe)` (is it in this run)
    -> `config(recipe)` hashed with the output hashes of the stages in `needs` (unchanged:
    skipped) -> `fn(ctx)` in a fresh folder, with the recipe as a view that answers only the
    config's keys -> the runner writes stats.json and the manifest, and moves the folder into
    place. Design rule: what a stage reads is what it hashes (its config names every recipe
    key it reads, its `needs` every stage whose output it reads), so a change reruns exactly
    the stages it affects, and nothing else."""

    name: str
    fn: Callable[[StageContext], dict | None]
    needs: tuple[str, ...] | Callable[[Any], tuple[str, ...]]  # fixed, or from the recipe
    # the JSON-able config whose hash decides a rerun, keyed by the recipe paths it holds;
    # the stage reads the recipe only there (launch/slices.py)
    config: Callable[[Any], Any]
    enabled: Callable[[Any], bool]
    help: str
    # the models the stage serves with vLLM (names under `models:`); None: it serves none
    # (SLURM gives a stage with models a generation allocation, launch/slurm.py)
    models: Callable[[Any], list[str | None]] | None = None
    # the recipe the stage function reads, made from the run's recipe (a later round's stages
    # see that round's recipe, launch/rounds.py); None: the run's recipe itself
    recipe_for: Callable[[Any], Any] | None = None
    # the key under which the stage function finds an input stage in `ctx.inputs` (a later
    # round's stages find their own round's `grade@2` as `grade`); None: the stage's name
    input_key: Callable[[str], str] | None = None
    # the part of the stage a CPU job can do before its GPU job (`ramen run --ahead`): called
    # with a context whose out_dir is a fresh folder; its files, rejects and input counts, and
    # the JSON-able dict it returns, are what `ctx.take_ahead()` gives the stage. None: none
    ahead: Callable[[StageContext], dict] | None = None

    def recipe_of(self, recipe: Any) -> Any:
        """The recipe this stage reads, given the run's."""
        return self.recipe_for(recipe) if self.recipe_for else recipe


# --------------------------------------------------------------------------- declaring configs
# A stage's config is keyed by the recipe key paths it holds ("curation.sample",
# "models.strong"), so that a changed leaf names itself ("curation.sample.temperature") in
# `ramen run --dry-run` and in the reason a stage reruns. Keys with a space are not recipe keys:
# files a stage reads whose content counts (hashed), and ramen's own versions.


def dump(value: Any) -> Any:
    """A recipe section as JSON-able data, as stage configs hash it (pydantic models dumped
    with the `hashed` context, anything else as is)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", context={"hashed": True})
    return value


def model_entries(recipe: Any, *names: str | None) -> dict:
    """The `models.<name>` config entries of the models a stage uses (None: no model)."""
    return {f"models.{n}": dump(recipe.models[n]) for n in sorted({n for n in names if n})}


# --------------------------------------------------------------------------- training outputs
# The train stages' folders, as the stages that read a trained model find them (evaluation,
# later training steps). training/stage.py writes them.

MAX_TRAIN_STEPS = 4  # `training` and up to three `training.then` steps


def train_stage_name(index: int) -> str:
    """`train` for the first training step, `train-2`, `train-3`, ... after it."""
    return "train" if index == 0 else f"train-{index + 1}"


TRAIN_STAGE_NAMES = tuple(train_stage_name(i) for i in range(MAX_TRAIN_STEPS))


# --------------------------------------------------------------------------- rounds
# `rounds:` repeats the curation-to-evaluation stages: round 1 is the stages as named above,
# round r >= 2 the same stages named `<stage>@<r>` (launch/rounds.py declares them).

MAX_ROUNDS = 5


# a later round's pairs/sft config: the previous round's set it adds to its own rows (with
# `rounds.keep_earlier`), or None
EARLIER_ROUNDS_KEY = "earlier rounds kept from"


def round_stage_name(name: str, round_: int) -> str:
    """`sample` in round 1, `sample@2` in round 2, ..."""
    return name if round_ == 1 else f"{name}@{round_}"


def split_round(name: str) -> tuple[str, int]:
    """(`sample`, 2) for `sample@2`; a stage without a round is round 1."""
    base, at, number = name.partition("@")
    return (base, int(number)) if at and number.isdigit() else (name, 1)


def model_folder(stage_dir: Path) -> Path:
    """A training stage's usable model: the merged model for LoRA, else `model/`."""
    merged = stage_dir / "merged"
    return merged if merged.is_dir() else stage_dir / "model"
