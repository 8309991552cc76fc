"""The argument names TRL's SFTConfig, DPOConfig and GRPOConfig accept, so a recipe's `training.args` is
checked when the recipe is validated, not minutes later inside the training processes.

Importing TRL takes seconds, so the names are cached per TRL version under $RAMEN_CACHE.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import json
from pathlib import Path

CONFIG_CLASS = {"sft": "SFTConfig", "dpo": "DPOConfig", "grpo": "GRPOConfig"}


def _cache_file() -> Path:
    from training.tiny import cache_root

    return cache_root() / f"trl-args-{importlib.metadata.version('trl')}.json"


def known_args() -> dict[str, list[str]]:
    """{method: sorted argument names} of the installed TRL."""
    path = _cache_file()
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if set(cached) == set(CONFIG_CLASS):  # a cache from a ramen with other methods: redo
            return cached
    except (OSError, ValueError):
        pass
    import dataclasses

    import trl

    names = {
        method: sorted(f.name for f in dataclasses.fields(getattr(trl, cls)) if f.init)
        for method, cls in CONFIG_CLASS.items()
    }
    try:
        from ramen.io import write_json_atomic

        write_json_atomic(path, names)
    except OSError:
        pass  # a read-only home: check without caching
    return names


def unknown_arg(method: str, args: dict) -> tuple[str, str] | None:
    """(argument, hint) for the first argument the method's TRL config does not take."""
    if not args:
        return None
    names = known_args()[method]
    for key in args:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            other = next((m for m in CONFIG_CLASS if m != method and key in known_args()[m]), None)
            if close:
                hint = f"did you mean '{close[0]}'?"
            elif other:
                hint = f"it is a {CONFIG_CLASS[other]} argument, and this step's method is {method}"
            else:
                hint = f"see TRL's {CONFIG_CLASS[method]} for the arguments it takes"
            return key, hint
    return None
