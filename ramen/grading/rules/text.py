"""Reading answer text: wrappers stripped (`$x$`, `\\boxed{}`, `\\text{}`), the free-text
normal form, and splitting at the top level only (relations, lists), never inside brackets."""

from __future__ import annotations

import re


def braced(text: str, open_at: int) -> tuple[str, int] | None:
    """The content of the `{...}` opening at `open_at`, with nested braces, and its end."""
    depth = 0
    for j in range(open_at, len(text)):
        if text[j] == "{" and (j == 0 or text[j - 1] != "\\"):
            depth += 1
        elif text[j] == "}" and (j == 0 or text[j - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : j], j + 1
    return None


def strip_wrappers(text: str) -> str:
    """`$x$`, `\\(x\\)`, `\\[x\\]`, `\\boxed{x}`, `\\text{x}` (whole), `\\displaystyle`, `\\left`."""
    t = text.strip()
    for _ in range(4):
        before = t
        t = re.sub(r"(?<![.\s])\s*\.$", "", t.strip()).strip()  # a full stop, not an ellipsis
        t = re.sub(r"^\\\$\s*|\s*\\\$$", "", t)  # currency: \$16,386.20
        if t.count("$") == 1 and re.match(r"^\$\s*\d", t):
            t = t[1:].strip()  # currency written with a bare dollar sign: $1,800.00
        if len(t) >= 2 and t[0] == "$" and t[-1] == "$":
            t = t.strip("$")
        for a, b in (("\\(", "\\)"), ("\\[", "\\]")):
            if t.startswith(a) and t.endswith(b):
                t = t[len(a) : -len(b)]
        m = re.match(r"^\\(?:boxed|text|textbf|textnormal|mathrm|mathbf)\s*\{", t)
        if m:
            got = braced(t, m.end() - 1)
            if got is not None and got[1] == len(t):
                t = got[0]
        t = re.sub(r"\\(?:displaystyle|left|right|!|;)\s*", "", t)
        # `\,` and `\ ` are spaces; `\\ ` (a row break, then a space) is not
        t = re.sub(r"(?<!\\)\\[, ]", " ", t).replace("~", " ")
        t = t.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
        t = re.sub(r"\s+", " ", t).strip()
        if t == before:
            break
    return t


_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.I)


def normalise(text: str) -> str:
    """Free-text form: no wrappers, `\\text{}` unwrapped, lower case, no leading article, no
    trailing punctuation or quotes."""
    t = strip_wrappers(text)
    t = re.sub(r"\\text\{([^{}]*)\}", r"\1", t)
    if re.search(r"[^\W\d_]{3,}", t):
        t = t.lower()  # words: case does not matter; symbols (`X`, `S_3`, `AB`) keep theirs
    t = t.strip(" \"'`“”‘’*").rstrip(".!;:").strip()
    t = _ARTICLE.sub("", t)
    return re.sub(r"\s+", " ", t)


_OPEN, _CLOSE = "([{", ")]}"


def depth_map(text: str) -> list[int]:
    """Bracket depth before each character (`\\{` counts as a bracket too)."""
    depths, depth = [], 0
    for ch in text:
        if ch in _CLOSE:
            depth -= 1
        depths.append(depth)
        if ch in _OPEN:
            depth += 1
    return depths


def split_top(text: str, separators: re.Pattern) -> list[str]:
    """Split at the separators that sit at bracket depth 0."""
    depths = depth_map(text)
    parts, last = [], 0
    for m in separators.finditer(text):
        if depths[m.start()] == 0 and (m.end() >= len(text) or depths[m.end() - 1] == 0):
            parts.append(text[last : m.start()])
            last = m.end()
    parts.append(text[last:])
    return [p.strip() for p in parts]


_RELATION = re.compile(r"\\(?:leq?|geq?|neq|ne|approx|lt|gt)(?![A-Za-z])|<=|>=|!=|=|<|>|≤|≥|≠")
LIST_SEP = re.compile(
    r"\s*(?:;|\\text\{\s*(?:or|and|,)\s*\}|\\(?:q?quad)(?![A-Za-z])|\bor\b|\band\b|,)\s*", re.I
)
_VARIABLE = r"[A-Za-z](?:_\{?\w+\}?)?'?"
# `f(x)`, `g(x, y)`, `f^{-1}(x)`: a function's value named on the left of its formula
_FUNCTION = r"[A-Za-z](?:_\{?\w+\}?)?(?:\^\{-1\})?\(\s*[A-Za-z](?:\s*,\s*[A-Za-z])*\s*\)"
_VAR_LHS = re.compile(
    rf"^\s*(?:{_FUNCTION}|{_VARIABLE}|\(\s*{_VARIABLE}(?:\s*,\s*{_VARIABLE})+\s*\))\s*$"
)


def relation_parts(text: str) -> tuple[list[str], list[str]]:
    """The operands and the relations between them, split only at the top level."""
    depths = depth_map(text)
    operands, ops, last = [], [], 0
    for m in _RELATION.finditer(text):
        if depths[m.start()] == 0:
            operands.append(text[last : m.start()].strip())
            ops.append(m.group(0))
            last = m.end()
    operands.append(text[last:].strip())
    return operands, ops


def strip_prefix(text: str) -> tuple[str | None, str]:
    """`x = 5` -> ('x', '5'); `(p, q) = (3, 2)` -> ('(p,q)', '(3, 2)'); else (None, text)."""
    m = re.fullmatch(rf"\s*({_VARIABLE})\s*\\in\s*(.+)", text)
    if m:  # x \in [-2, 7]
        return m.group(1), m.group(2)
    operands, ops = relation_parts(text)
    if ops == ["="] and _VAR_LHS.match(operands[0]) and operands[1]:
        return re.sub(r"\s+", "", operands[0]), operands[1]
    return None, text
