"""Collections as written: a bracketed collection and its items, a top-level list of answers
(`3, 5`, `x = 3 or x = 5`), `\\pm 3`, and whether every item is a number."""

from __future__ import annotations

import re

from ramen.grading.rules.numbers import AMBIGUOUS, Number, read_number
from ramen.grading.rules.text import LIST_SEP, depth_map, split_top, strip_wrappers

_BRACKETS = {"(": ")", "[": "]", "{": "}"}


def split_collection(text: str) -> tuple[str, list[str]] | None:
    """('()', items) for a bracketed collection whose brackets enclose the whole text."""
    t = strip_wrappers(text).replace("\\{", "{").replace("\\}", "}")
    t = t.replace("\\lbrace", "{").replace("\\rbrace", "}")
    if len(t) < 2 or t[0] not in _BRACKETS or t[-1] not in ")]}":
        return None
    depths = depth_map(t)
    if any(d == 0 for d in depths[1:-1]):
        return None  # `(1,2),(3,4)`: a list of two, not one collection
    inner = t[1:-1]
    if not inner.strip():
        return t[0] + t[-1], []
    items = split_top(inner, re.compile(r","))
    if any(not i for i in items):
        return None
    return t[0] + t[-1], items


def is_numeric_item(text: str) -> bool:
    if isinstance(read_number(text), Number):
        return True
    c = split_collection(text)
    return c is not None and bool(c[1]) and all(is_numeric_item(i) for i in c[1])


def list_items(text: str) -> list[str]:
    """A multi-answer list at the top level: `3, 5`, `x = 3 or x = 5`, `(1,2); (3,4)`."""
    t = strip_wrappers(text)
    if isinstance(read_number(t), Number) or read_number(t) == AMBIGUOUS:
        return [t]
    items = [i for i in split_top(t, LIST_SEP) if i]
    return items if len(items) > 1 else [t]


def pm_items(text: str) -> list[str] | None:
    """`\\pm 3` -> ['3', '-3']."""
    t = strip_wrappers(text)
    m = re.fullmatch(r"\\pm\s*(.+)", t)
    if m and isinstance(read_number(m.group(1)), Number):
        return [m.group(1), f"-{m.group(1)}"]
    return None


def as_set(items: list[str]) -> list[str]:
    """A single set `{a, b}` compared against an unbracketed list reads as its members."""
    if len(items) == 1:
        c = split_collection(items[0])
        if c is not None and c[0] == "{}":
            return c[1]
    return items
