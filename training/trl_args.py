"""The arguments TRL's SFTConfig, DPOConfig and GRPOConfig accept, and what kind of value each
takes, so a recipe's `training.args` is checked when the recipe is validated, not minutes later
inside the training processes (`learning_rate: 2e-4` is the classic: YAML reads a number
without a dot as text, and the Trainer fails comparing it with 0).

Importing TRL takes seconds, so the names are cached per TRL version under $RAMEN_CACHE.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import json
from pathlib import Path

from ramen.io import cache_root, write_json_atomic

CONFIG_CLASS = {"sft": "SFTConfig", "dpo": "DPOConfig", "grpo": "GRPOConfig"}


def _cache_file() -> Path:

    return cache_root() / f"trl-args-{importlib.metadata.version('trl')}.json"


def _kind(annotation: object) -> str:
    """ "number", "int" or "bool" for a field that takes only that (or None); "any" otherwise."""
    import types
    import typing

    parts = (
        set(typing.get_args(annotation))
        if isinstance(annotation, types.UnionType)
        else {annotation}
    )
    parts.discard(type(None))
    for kind, allowed in (
        ("bool", {bool}),
        ("int", {int}),
        ("number", {float}),
        ("number", {int, float}),
    ):
        if parts == allowed:
            return kind
    return "any"


def known_args() -> dict[str, dict[str, str]]:
    """{method: {argument name: kind}} of the installed TRL (kind: see _kind)."""
    path = _cache_file()
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        # a cache from a ramen with other methods or without kinds: redo
        if set(cached) == set(CONFIG_CLASS) and all(isinstance(v, dict) for v in cached.values()):
            return cached
    except (OSError, ValueError):
        pass
    import dataclasses

    import trl

    names = {
        method: {
            f.name: _kind(f.type)
            for f in sorted(dataclasses.fields(getattr(trl, cls)), key=lambda f: f.name)
            if f.init
        }
        for method, cls in CONFIG_CLASS.items()
    }
    try:
        write_json_atomic(path, names)
    except OSError:
        pass  # a read-only home: check without caching
    return names


def wrong_kind(method: str, args: dict) -> tuple[str, str] | None:
    """(argument, what to write instead) for the first value the TRL field cannot take."""
    kinds = known_args()[method]
    for key, value in args.items():
        kind = kinds.get(key, "any")
        if kind == "any" or value is None:
            continue
        if kind == "bool":
            ok = isinstance(value, bool)
        elif kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            continue
        want = {"bool": "true or false", "int": "a whole number", "number": "a number"}[kind]
        hint = f"takes {want}, not {value!r}"
        if kind == "number" and isinstance(value, str):
            try:
                fixed = float(value)
            except ValueError:
                pass
            else:  # YAML 1.1 reads 2e-4 (no dot) as text
                hint += f"; write it with a dot and a signed exponent, e.g. {fixed:.1e}"
        return key, hint
    return None


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
