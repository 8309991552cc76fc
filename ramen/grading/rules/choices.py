"""Multiple choice: the letter an answer names, and a hedge between letters."""

from __future__ import annotations

import re

from ramen.grading.rules.text import strip_wrappers

_LETTER = re.compile(r"^(?:\(\s*([A-Za-z])\s*\)|([A-Za-z])(?=[.:)]|$))")
_HEDGE = re.compile(r"^\(?[A-Za-z]\)?\s*(?:,|/|\bor\b|\band\b)\s*\(?[A-Za-z]\)?(?:[\s.,)]|$)", re.I)


def is_choice_hedge(text: str) -> bool:
    """'A or B', 'A/B', 'B, C', 'A and B': more than one letter offered as the answer."""
    return bool(_HEDGE.match(text.strip().strip("*$").strip()))


def choice_letter(text: str) -> str | None:
    """'B', '(B)', 'b', 'B. 2', 'B)' -> 'B'. A letter is never taken from a word: 'I believe
    it is C' -> None. A hedge like 'A or B' -> None."""
    t = strip_wrappers(text.strip().strip("*$").strip()).strip("*").strip()
    t = re.sub(
        r"^\\(?:text|textbf|mathrm|mathbf)\s*\{([^{}]*)\}", r"\1", t
    ).strip()  # \textbf{(C) }5
    t = re.sub(r"^(?:option|choice)\s+", "", t, flags=re.I)
    m = _LETTER.match(t)
    if not m:
        return None
    rest = t[m.end() :]
    if re.search(r"\b(or|and|/)\s*\(?[A-Za-z]\b\)?", rest, re.I) or re.match(
        r"^\s*,\s*[A-Za-z]\b", rest
    ):
        return None  # a hedge between letters is not an answer
    return (m.group(1) or m.group(2)).upper()
