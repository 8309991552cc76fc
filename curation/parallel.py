"""Row stages on every core: consecutive chunks of a JSONL file's lines go to worker
processes, and results come back in input order, so a stage's output is the same with one
process or many.

Workers are spawned (not forked: the parent may hold torch or tokenizer threads). A small
file is handled in this process; spawning would cost more than it saves.
"""

from __future__ import annotations

import collections
import concurrent.futures
import multiprocessing
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ramen.io import chunks

R = TypeVar("R")

CHUNK_LINES = 2048
MIN_BYTES_FOR_WORKERS = 8 << 20  # 8 MiB, roughly 10k rows of distilled maths data


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.strip():
                yield line


def map_chunks(
    path: Path,
    fn: Callable[[list[str]], R],
    *,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
    workers: int | None = None,
    chunk_lines: int | None = None,
    min_bytes: int | None = None,
) -> Iterator[R]:
    """`fn(lines)` for consecutive chunks of the file's non-blank lines, in order.

    `fn` and `initializer` must be module-level functions (workers import them). The
    initializer runs once per worker (and once here when no workers are used)."""
    workers = usable_cores() if workers is None else workers
    lines = chunks(_lines(path), chunk_lines or CHUNK_LINES)
    small = path.stat().st_size < (MIN_BYTES_FOR_WORKERS if min_bytes is None else min_bytes)
    if workers <= 1 or small:
        if initializer is not None:
            initializer(*initargs)
        for chunk in lines:
            yield fn(chunk)
        return
    pool = concurrent.futures.ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=initializer,
        initargs=initargs,
    )
    pending: collections.deque = collections.deque()
    try:
        for chunk in lines:
            pending.append(pool.submit(fn, chunk))
            if len(pending) >= 2 * workers:  # enough in flight to keep every worker busy
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(cancel_futures=True)
