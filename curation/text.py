"""Text helpers shared by cleaning, dedup and decontamination: one word splitter (its words
joined by spaces are the normalised text that exact matching compares), n-grams, the
repetition ratio and broken-text detection."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_WORD = re.compile(r"\w+|[^\w\s]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# UTF-8 read as Latin-1/cp1252: the classic "Ã©", "â€™" pairs.
_MOJIBAKE = re.compile(r"(?:Ã[\u0080-\u00bf]|â€[\u0080-\u00bf™œž“”˜]|Â[\u00a0-\u00bf])")


def words(text: str) -> list[str]:
    """Lower-cased words and single symbols (so `3 + 4` and `3 - 4` differ)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def ngram_tuples(tokens: list[str], n: int) -> Iterable[tuple[str, ...]]:
    """Word n-grams as tuples (cheaper to build and hash than joined strings)."""
    return zip(*(tokens[i:] for i in range(n)), strict=False)


def repeated_ngram_ratio(text: str, n: int = 4) -> float:
    """Share of word n-grams that repeat an earlier one: ~0 for prose, near 1 for a loop."""
    tokens = text.split()
    total = len(tokens) - n + 1
    if total <= 1:
        return 0.0
    unique = len(set(ngram_tuples(tokens, n)))
    return 1.0 - unique / total


_ANY_BROKEN = re.compile(
    "|".join(["\ufffd", _SURROGATE.pattern, _CONTROL.pattern, _MOJIBAKE.pattern])
)


def broken_text(text: str) -> str | None:
    """Why a text is broken (replacement characters, control characters, lone surrogates,
    mojibake), or None. One scan for clean text; the kind is looked up only on a hit."""
    if text.isascii():  # the common case: only control characters can be wrong
        return "control_character" if _CONTROL.search(text) else None
    if not _ANY_BROKEN.search(text):
        return None
    if "\ufffd" in text:
        return "replacement_character"
    if _SURROGATE.search(text):
        return "lone_surrogate"
    if _CONTROL.search(text):
        return "control_character"
    if _MOJIBAKE.search(text):
        return "mojibake"
    return None
