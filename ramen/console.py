"""One rich console for the whole run, progress bars for long loops, stage summary tables, and
a quiet terminal: while a stage runs, whatever libraries write (vLLM, its engine process,
DeepSpeed, Triton, Python warnings) goes to the stage's log file, and the terminal shows
ramen's own lines. `ramen run --verbose` (RAMEN_VERBOSE=1) shows everything."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

T = TypeVar("T")

console = Console(stderr=False, highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _progress_enabled() -> bool:
    return os.environ.get("RAMEN_NO_PROGRESS", "") == "" and console.is_terminal


def verbose() -> bool:
    """Whether library output is shown on the terminal too (`ramen run --verbose`)."""
    return os.environ.get("RAMEN_VERBOSE", "") not in ("", "0")


_quiet_log: Path | None = None  # the stage log that takes library output, while one is open


def quiet() -> bool:
    """True while library output goes to a stage log instead of the terminal."""
    return _quiet_log is not None


def _fd_of(stream: object) -> int | None:
    try:
        return stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):  # an in-process capture (StringIO)
        return None


@contextlib.contextmanager
def stage_output(log_path: Path) -> Iterator[None]:
    """Send what this process and its children write to stdout and stderr to `log_path` while
    the block runs: file descriptors 1 and 2 (C extensions, vLLM's engine process, DeepSpeed's
    launcher inherit them) and Python's sys.stdout/sys.stderr (prints, warnings). ramen's
    consoles keep writing where they wrote before. Nothing changes with `verbose()`."""
    global _quiet_log
    if verbose() or _quiet_log is not None:
        yield
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    old_streams = sys.stdout, sys.stderr
    for stream in old_streams:
        stream.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    swapped: list[tuple[Console, IO[str] | None]] = []
    opened: list[IO[str]] = []
    for con, stream, fd in ((console, old_streams[0], 1), (err_console, old_streams[1], 2)):
        swapped.append((con, con._file))
        target = con._file or stream
        if _fd_of(target) == fd:  # the real terminal (or pipe): a copy of it survives dup2
            target = os.fdopen(os.dup(saved[fd]), "w", buffering=1, encoding="utf-8")
            opened.append(target)
        con.file = target
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    log = open(log_path, "a", buffering=1, encoding="utf-8", errors="replace")
    sys.stdout = sys.stderr = log
    _quiet_log = log_path
    try:
        yield
    finally:
        _quiet_log = None
        log.flush()
        sys.stdout, sys.stderr = old_streams
        log.close()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        for con, old in swapped:
            con.file = old  # type: ignore[assignment]
        for f in opened:
            f.close()
        with contextlib.suppress(OSError):  # a stage with nothing to say leaves no log
            if log_path.stat().st_size == 0:
                log_path.unlink()
                log_path.parent.rmdir()


def log_tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file ("" when there is none)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a rich progress bar (shown on a terminal; silent in logs and CI)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not _progress_enabled(),
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)


def summary_table(stage: str, stats: dict) -> Table:
    """Rows in, rows kept, and rows dropped by reason, as the end of every stage shows them."""
    table = Table(title=f"stage {stage}", show_header=True, title_justify="left")
    table.add_column("rows", justify="left")
    table.add_column("count", justify="right")
    if "input" in stats:
        table.add_row("input", str(stats["input"]))
    if "input_kept" in stats:
        table.add_row("input kept", str(stats["input_kept"]))
        table.add_row(f"rows written ({stats.get('unit', 'rows')})", str(stats.get("kept", 0)))
    else:
        table.add_row("kept", str(stats.get("kept", 0)))
    for reason, n in sorted(stats.get("rejected", {}).items()):
        table.add_row(f"dropped: {reason}", str(n))
    return table
