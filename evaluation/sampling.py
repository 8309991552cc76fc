"""Resumable sampling into a sample store, shared by curation's model stages and `evaluate`.

A stored sample stays valid while the model, the sampling settings and its problem's question
are unchanged: changed settings discard the store, a changed question redoes that problem's
samples, and only the keys the store lacks are generated (the engine opens only then).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from evaluation.engine import Engine, Request
from evaluation.store import check_settings, prune_parts, read_parts, run_to_store
from ramen.console import err_console


def generate_to_store(
    requests: Sequence[Request],
    parts_dir: Path,
    *,
    settings: dict,
    questions: Mapping[str, Any],
    open_engine: Callable[[], AbstractContextManager[Engine]],
    description: str,
    who: str,
    prompt_field: str = "question",
) -> dict:
    """Generate the requests the store at `parts_dir` lacks; returns generation stats.

    `questions` maps each problem id to its current prompt: a stored sample whose
    `prompt_field` (its question, or the whole `messages` with a system prompt) differs is
    redone. `who` names the stage in messages.
    """
    if check_settings(parts_dir, settings, reset=True):
        err_console.print(
            f"[yellow]{who}[/]: model or sampling settings changed; stored samples "
            f"in {parts_dir} were discarded"
        )
    stale = prune_parts(
        parts_dir, lambda r: questions.get(str(r["problem_id"])) == r.get(prompt_field)
    )
    if stale:
        err_console.print(f"{who}: {stale} stored samples of changed problems are redone")
    done, _ = read_parts(parts_dir) if parts_dir.exists() else ({}, 0)
    todo = [r for r in requests if r.key not in done]
    if not todo:
        return {"resumed": len(requests), "generated": 0}
    with open_engine() as engine:
        return run_to_store(engine.generate, todo, parts_dir, description=description)
