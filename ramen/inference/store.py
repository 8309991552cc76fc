"""The resumable sample store: append-only JSONL per shard, keyed by (problem_id, sample_index).

A model stage writes every sample the moment it finishes (flushed at once, fsynced every few
seconds), into `parts/shard-I-of-K.jsonl`. After a kill:
- the half-written last line of the shard's own file is cut off (it is the only thing a kill
  can leave broken), and every complete line counts as done;
- the rerun asks the engine only for the keys no shard file holds yet.
So no sample is lost and none is generated twice. `finalize` checks that every expected key
is there exactly once and writes the final file in input order, atomically.

`parts/settings.json` records what the samples were generated with; parts made with other
settings are never mixed in (the CLI refuses, a recipe stage that reruns starts afresh).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ramen.console import track
from ramen.errors import UserError
from ramen.io import (
    canonical_json,
    iter_jsonl,
    iter_jsonl_offsets,
    read_json,
    write_json_atomic,
    write_jsonl_atomic,
)

Key = tuple[str, int]
T = TypeVar("T")

FSYNC_EVERY_S = 2.0


def key_of(row: dict) -> Key:
    return (str(row["problem_id"]), int(row["sample_index"]))


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count`: it owns every count-th item of the input, from `index`."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        """'2/8' -> shard 2 of 8 (0-based)."""
        try:
            i, k = (int(x) for x in text.split("/"))
        except ValueError:
            raise UserError(f"shard '{text}' is not I/K (e.g. 0/4)", where="--shard") from None
        if not (k >= 1 and 0 <= i < k):
            raise UserError(f"shard '{text}' needs 0 <= I < K", where="--shard")
        return cls(i, k)

    def select(self, items: Sequence[T]) -> list[T]:
        return list(items[self.index :: self.count])

    @property
    def filename(self) -> str:
        return f"shard-{self.index:05d}-of-{self.count:05d}.jsonl"


def repair_torn_tail(path: Path) -> int:
    """Cut a half-written last line (no trailing newline) off `path`; returns bytes removed."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as f:
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        # Walk back to the last newline; everything after it is the torn line.
        pos, block = size, 1 << 16
        while pos > 0:
            start = max(0, pos - block)
            f.seek(start)
            chunk = f.read(pos - start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
            pos = start
        else:
            keep = 0
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
        return size - keep


def scan_parts(parts_dir: Path) -> Iterator[tuple[dict, int, int]]:
    """(row, shard file number, byte offset) of every complete line of the shard files, in
    file order, read line by line. Other shards may be writing right now, so a torn last line
    (no newline yet) is skipped, not an error."""
    for number, path in enumerate(_shard_files(parts_dir)):
        for row, offset in iter_jsonl_offsets(path, tolerate_torn_tail=True):
            yield row, number, offset


def _shard_files(parts_dir: Path) -> list[Path]:
    return sorted(parts_dir.glob("shard-*.jsonl"))


def stored_keys(parts_dir: Path) -> tuple[set[Key], int]:
    """The keys the shard files hold, and how many duplicate lines they have. Only the keys
    stay in memory, never the samples (a store can hold millions of long reasoning traces)."""
    keys: set[Key] = set()
    duplicates = 0
    for row, _, _ in scan_parts(parts_dir):
        key = key_of(row)
        if key in keys:
            duplicates += 1
        keys.add(key)
    return keys, duplicates


def read_parts(parts_dir: Path) -> tuple[dict[Key, dict], int]:
    """Every complete row in the shard files, first occurrence of a key wins; returns (rows
    by key, duplicate lines seen). It holds every row in memory: for small stores (judge
    results) and tests; `stored_keys` and `ordered_samples` stream."""
    rows: dict[Key, dict] = {}
    duplicates = 0
    for row, _, _ in scan_parts(parts_dir):
        key = key_of(row)
        if key in rows:
            duplicates += 1
            continue
        rows[key] = row
    return rows, duplicates


def check_settings(parts_dir: Path, settings: dict, *, reset: bool) -> bool:
    """Refuse (or with `reset`, clear) parts generated with other settings. Returns whether
    stored samples were discarded."""
    path = parts_dir / "settings.json"
    if path.exists():
        if canonical_json(read_json(path)) == canonical_json(settings):
            return False
        if not reset:
            raise UserError(
                "this folder holds samples generated with other settings; delete it or pass "
                "--force to start afresh",
                where=str(parts_dir),
            )
    discarded = False
    if reset and parts_dir.exists():
        discarded = any(parts_dir.glob("shard-*.jsonl"))
        shutil.rmtree(parts_dir)
    parts_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, settings)
    return discarded


def prune_parts(parts_dir: Path, keep: Callable[[dict], bool], only: str | None = None) -> int:
    """Rewrite the shard files (or the one named `only`) without the rows `keep` rejects (stale
    samples whose input changed); returns how many were removed. Run it only on files no other
    process is writing."""
    removed = 0
    for path in _shard_files(parts_dir):
        if only is not None and path.name != only:
            continue
        repair_torn_tail(path)
        stale = sum(1 for r in iter_jsonl(path) if not keep(r))
        if stale:  # rewritten as a stream: the shard is never in memory as a whole
            write_jsonl_atomic(path, (r for r in iter_jsonl(path) if keep(r)))
            removed += stale
    return removed


class ShardWriter:
    """Appends sample rows to one shard file: flushed per row, fsynced every few seconds."""

    def __init__(self, path: Path):
        self.path = path
        self.repaired = repair_torn_tail(path)
        self._f = open(path, "a", encoding="utf-8")
        self._synced = time.monotonic()
        self.count = 0

    def write(self, row: dict) -> None:
        self._f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
        self._f.flush()  # in the OS's hands: survives a kill of this process
        self.count += 1
        if time.monotonic() - self._synced > FSYNC_EVERY_S:
            os.fsync(self._f.fileno())  # on disk: survives a crash of the machine
            self._synced = time.monotonic()

    def close(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()


def run_to_store(
    generate: Any,
    requests: Iterable[Any],
    parts_dir: Path,
    shard: Shard = Shard(),
    *,
    description: str = "generating",
) -> dict:
    """Generate the requests whose keys no shard file holds yet, appending each sample.

    `generate` is an engine's `generate` (requests -> samples as they finish). Returns stats:
    already done, generated now, torn bytes repaired.
    """
    parts_dir.mkdir(parents=True, exist_ok=True)
    writer = ShardWriter(parts_dir / shard.filename)
    done, _ = stored_keys(parts_dir)
    todo = [r for r in requests if r.key not in done]
    try:
        for sample in track(generate(todo), description, total=len(todo)):
            if key_of(sample) in done:  # an engine must not answer a key twice; never store it
                continue
            done.add(key_of(sample))
            writer.write(sample)
    finally:
        writer.close()
    return {
        "resumed": len(done) - writer.count,
        "generated": writer.count,
        "repaired_bytes": writer.repaired,
    }


def ordered_samples(parts_dir: Path, expected: Sequence[Key]) -> Iterator[dict]:
    """The stored samples in `expected` order; raises if any expected key is missing.

    Streams: an index of (shard file, byte offset) per key is built first (the first line of
    a key wins), then each sample is read from its place when its turn comes."""
    where: dict[Key, tuple[int, int]] = {}
    for row, number, offset in scan_parts(parts_dir):
        where.setdefault(key_of(row), (number, offset))
    missing = [k for k in expected if k not in where]
    if missing:
        first = ", ".join(f"{p}#{i}" for p, i in missing[:3])
        raise UserError(
            f"{len(missing)} of {len(expected)} samples are not generated yet (e.g. {first}); "
            "run the remaining shards, then merge again",
            where=str(parts_dir),
        )
    with contextlib.ExitStack() as stack:
        files = [stack.enter_context(open(p, "rb")) for p in _shard_files(parts_dir)]
        for key in expected:
            number, offset = where[key]
            f = files[number]
            f.seek(offset)
            yield json.loads(f.readline())


def finalize(parts_dir: Path, expected: Sequence[Key], out_path: Path) -> int:
    """Write every expected sample, in input order, to `out_path` atomically."""
    return write_jsonl_atomic(out_path, ordered_samples(parts_dir, expected))
