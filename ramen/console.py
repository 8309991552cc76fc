"""One rich console for the whole run, progress bars for long loops, and stage summary tables."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

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
    return os.environ.get("RAMEN_NO_PROGRESS", "") == "" and sys.stdout.isatty()


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
