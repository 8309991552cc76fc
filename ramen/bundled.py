"""The data files shipped in ramen/data, named in recipes as `bundled:NAME`
(`bundled:problems.jsonl`). ramen/testing/fixtures.py writes them (`python -m
ramen.testing.fixtures`; a test checks the shipped ones are what it writes)."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"


def resolve_bundled(path: str) -> str:
    """`bundled:NAME` -> the file's path inside ramen/data; any other path unchanged."""
    if path.startswith("bundled:"):
        return str(DATA_DIR / path.removeprefix("bundled:"))
    return path
