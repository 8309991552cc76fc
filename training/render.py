"""Training rows rendered and tokenized in parallel and streamed to Arrow on disk (the train
stage's `data/`).

Every row is rendered by the base model's own template (ramen/turns.py) before the trainer
starts. A distilled set can hold a million rows of thousands of tokens: kept as Python lists
that is tens of GB in one process, rendered one row after the other while the GPUs of the
job wait. Here the rows go through worker processes (one per CPU the process may use, from
PARALLEL_FROM rows on; RAMEN_RENDER_PROCESSES overrides), in chunks, with a bounded number of
chunks in flight, and each rendered row is appended to an Arrow file as it comes back, in
input order. Memory stays flat in the number of rows (benchmarks/memory.py measures it), and
the data is the same, byte for byte, as rendering in one process (a test compares them).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

from ramen.turns import RowError, tokenize_row

PARALLEL_FROM = 5_000  # rows; fewer render in the stage's own process (a pool costs ~1 s)
MAX_PROCESSES = 32
CHUNK = 256  # rows a worker renders per task
IN_FLIGHT = 2  # chunks per worker sent ahead: bounds the rows held in memory
WRITER_BATCH = 256  # rendered rows the Arrow writer buffers before a write

Result = tuple  # ("ok", tokens) or ("reject", reason, message)

_worker: tuple[Any, str] | None = None  # (renderer, method) of a worker process


def render_processes(rows: int) -> int:
    """Worker processes for `rows` rows: 0 renders in this process."""
    forced = os.environ.get("RAMEN_RENDER_PROCESSES")
    if forced is not None:
        return max(0, int(forced))
    if rows < PARALLEL_FROM:
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(cpus or 1, MAX_PROCESSES) if (cpus or 1) > 1 else 0


def render_one(row: dict, method: str, renderer: Any) -> Result:
    try:
        return ("ok", tokenize_row(row, method, renderer))
    except RowError as e:
        return ("reject", e.reason, str(e))


def _init(renderer: Any, method: str) -> None:
    global _worker
    _worker = (renderer, method)


def _render_chunk(rows: list[dict]) -> list[Result]:
    renderer, method = _worker
    return [render_one(row, method, renderer) for row in rows]


def rendered(
    rows: Iterable[dict], count: int, method: str, renderer: Any
) -> Iterator[tuple[dict, Result]]:
    """(row, its result) for every row, in input order."""
    processes = render_processes(count)
    if processes == 0:
        for row in rows:
            yield row, render_one(row, method, renderer)
        return
    # fork: the workers inherit the loaded tokenizer instead of loading it again
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        processes, mp_context=context, initializer=_init, initargs=(renderer, method)
    ) as pool:
        window: deque = deque()
        it = iter(rows)
        while chunk := list(islice(it, CHUNK)):
            window.append((chunk, pool.submit(_render_chunk, chunk)))
            if len(window) >= processes * IN_FLIGHT:
                done, future = window.popleft()
                yield from zip(done, future.result(), strict=True)
        while window:
            done, future = window.popleft()
            yield from zip(done, future.result(), strict=True)


class ArrowRows:
    """Rendered rows appended to one Arrow file; `save` writes the `datasets` folder the
    trainer loads (its fingerprint: the digest of the rows, so two runs write the same
    folder)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._writer: Any = None

    def write(self, tokens: dict) -> None:
        if self._writer is None:  # opened at the first row: an empty set is an error upstream
            from datasets.arrow_writer import ArrowWriter

            self._writer = ArrowWriter(path=str(self.path), writer_batch_size=WRITER_BATCH)
        self._writer.write(tokens)
        self.rows += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.finalize()
            self._writer.close()
            self._writer = None

    def save(self, folder: Path) -> None:
        import datasets
        from datasets.table import MemoryMappedTable

        self.close()
        digest = hashlib.sha256()
        with open(self.path, "rb") as f:
            while block := f.read(1 << 22):
                digest.update(block)
        table = MemoryMappedTable.from_file(str(self.path))
        datasets.Dataset(table, fingerprint=digest.hexdigest()[:16]).save_to_disk(str(folder))
