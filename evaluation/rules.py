"""Rule grader: decide `correct | incorrect | undecided` from the final content alone.

It says `incorrect` only when sure (no answer, a different multiple-choice letter, a different
number); a free-text mismatch, which may be a synonym, is `undecided` and goes to the judge.
Symbolic equivalence goes through math-verify with its known traps guarded
(shared/reference/EVALUATION.md): its own SIGALRM timeouts are off (they raise outside the main
thread) and replaced by a worker-thread timeout; tiny values are compared by relative error at
high precision; `\\sqrt(2)` is rewritten to `\\sqrt{2}`; equations are compared side by side.
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

Verdict = Literal["correct", "incorrect", "undecided"]

# ramen passes timeout None on purpose and enforces its own: silence math-verify's warning.
logging.getLogger("math_verify").setLevel(logging.ERROR)

REL_TOL = 1e-6
SYMBOLIC_TIMEOUT_S = 5.0

_ANSWER_LINE = re.compile(r"^\s*\**\s*(?:exact\s+)?answer\s*\**\s*[:：]\s*(.+?)\s*$", re.I | re.M)
_JA_ANSWER = re.compile(r"答え\s*(?:は|[:：])\s*(.+?)\s*(?:です|。|$)", re.M)
_THE_ANSWER_IS = re.compile(r"the (?:final )?answer is[:\s]*(.+?)(?:\.\s|\.?$)", re.I | re.M)


def split_reasoning(text: str, prefilled_think: bool = False) -> tuple[str, str | None]:
    """(reasoning, final content). Content is None when the text stops inside its reasoning.

    `prefilled_think`: the chat template already opened `<think>` in the prompt, so the
    completion starts inside the reasoning even though it has no `<think>` of its own.
    """
    if "</think>" in text:
        reasoning, _, content = text.rpartition("</think>")
        return reasoning.replace("<think>", "", 1).strip(), content.strip()
    if "<think>" in text or prefilled_think:
        return text.replace("<think>", "", 1).strip(), None
    return "", text.strip()


def _boxed(text: str) -> str | None:
    """Content of the last \\boxed{...}, with nested braces."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    i, depth = start + len("\\boxed{"), 1
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j].strip()
    return None


def extract_answer(content: str | None) -> str | None:
    """The final answer in a response's final content, or None if it states none.

    Order: the last `Answer:` line (HLE format; `Confidence:` lines never match), the last
    \\boxed{}, the last "the answer is ...", the last Japanese `答え`.
    """
    if not content or not content.strip():
        return None
    lines = _ANSWER_LINE.findall(content)
    if lines:
        return lines[-1].strip().strip("*").strip() or None
    boxed = _boxed(content)
    if boxed:
        return boxed
    for pattern in (_THE_ANSWER_IS, _JA_ANSWER):
        found = pattern.findall(content)
        if found:
            return found[-1].strip().strip("*$").strip() or None
    return None


# --------------------------------------------------------------------------- multiple choice

_LETTER = re.compile(r"^\(?\s*([A-Za-z])\s*\)?(?:[.:)\s]|$)")


_HEDGE = re.compile(r"^\(?[A-Za-z]\)?\s*(?:,|/|\bor\b|\band\b)\s*\(?[A-Za-z]\)?(?:[\s.,)]|$)", re.I)


def is_choice_hedge(text: str) -> bool:
    """'A or B', 'A/B', 'B, C', 'A and B': more than one letter offered as the answer."""
    return bool(_HEDGE.match(text.strip().strip("*$").strip()))


def choice_letter(text: str) -> str | None:
    """'B', '(B)', 'b', 'B. 2', 'B)' -> 'B'; a hedge like 'A or B' -> None."""
    t = text.strip().strip("*$").strip()
    t = re.sub(r"^\\text\{(.*)\}$", r"\1", t)
    m = _LETTER.match(t)
    if not m:
        return None
    rest = t[m.end() :]
    if re.search(r"\b(or|and|/)\s*\(?[A-Za-z]\b\)?", rest, re.I) or re.match(
        r"^\s*,\s*[A-Za-z]\b", rest
    ):
        return None  # a hedge between letters is not an answer
    return m.group(1).upper()


# --------------------------------------------------------------------------- numbers

_NUM = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?$")
_TIMES_TEN = re.compile(r"^([+-]?[\d.]+)\s*(?:\\times|×|x|\*)\s*10\s*\^\s*\{?\s*([+-]?\d+)\s*\}?$")


def parse_number(text: str) -> Fraction | None:
    """An exact rational for '3/4', '0.75', '1,234', '1.2e3', '1.2 \\times 10^{3}', '007', '-2'."""
    t = text.strip().strip("$").strip().rstrip(".").replace("\\,", "").replace(" ", "")
    t = re.sub(r"^\\?(?:d?frac)\{([^{}]+)\}\{([^{}]+)\}$", r"\1/\2", t)
    m = _TIMES_TEN.match(t)
    if m:
        base = parse_number(m.group(1))
        return None if base is None else base * Fraction(10) ** int(m.group(2))
    if t.count("/") == 1:
        num, den = (parse_number(x) for x in t.split("/"))
        if num is None or den is None or den == 0:
            return None
        return num / den
    if not t or not _NUM.match(t) or not any(c.isdigit() for c in t):
        return None
    try:
        return Fraction(t.replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None


def numbers_equal(a: Fraction, b: Fraction, rel_tol: float = REL_TOL) -> bool:
    if a == b:
        return True
    scale = max(abs(a), abs(b))
    return abs(a - b) <= rel_tol * scale


# --------------------------------------------------------------------------- symbolic


def _fix_latex(text: str) -> str:
    # `4\sqrt(2)` is parsed by math-verify as 4: give \sqrt its braces.
    return re.sub(r"\\sqrt\s*\(([^()]*)\)", r"\\sqrt{\1}", text)


def _mv_equal(gold: str, pred: str) -> bool | None:
    """math-verify equivalence; None when it cannot parse either side."""
    import sympy
    from math_verify import parse, verify

    g = parse(f"${_fix_latex(gold)}$", parsing_timeout=None)
    p = parse(f"${_fix_latex(pred)}$", parsing_timeout=None)
    if not g or not p:
        return None
    same = verify(g, p, timeout_seconds=None)
    if same:
        # Tiny values: 1/2004! and 1/2006! pass math-verify's rounding; compare by relative error.
        gv, pv = g[0], p[0]
        if (
            isinstance(gv, sympy.Basic)
            and isinstance(pv, sympy.Basic)
            and gv.is_number
            and pv.is_number
        ):
            a, b = sympy.N(gv, 50), sympy.N(pv, 50)
            if a.is_real and b.is_real and a != b:
                scale = max(abs(a), abs(b))
                if scale != 0 and abs(a - b) / scale > REL_TOL:
                    return False
    return bool(same)


def symbolic_equal(gold: str, pred: str, timeout_s: float = SYMBOLIC_TIMEOUT_S) -> bool | None:
    """Equivalence by math-verify in a worker thread with a timeout; None = could not decide."""
    if "=" in gold or "=" in pred:
        gl, _, gr = gold.rpartition("=")
        pl, _, pr = pred.rpartition("=")
        # `x = 5` against `5` is fine; two different equations are compared side by side,
        # never reduced to their right-hand sides (math-verify's plain-text trap).
        if "=" in gold and "=" in pred:
            left = symbolic_equal(gl, pl, timeout_s)
            right = symbolic_equal(gr, pr, timeout_s)
            return None if left is None or right is None else (left and right)
        single = re.fullmatch(r"\s*[A-Za-z]\w*\s*", pl if "=" in pred else gl)
        if not single:
            return None
        gold, pred = (gold, pr) if "=" in pred else (gr, pred)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = pool.submit(_mv_equal, gold, pred)
    try:
        return future.result(timeout=timeout_s)
    except concurrent.futures.TimeoutError:
        return None
    except Exception:  # noqa: BLE001 - a parser crash means "cannot decide", not a verdict
        return None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


# --------------------------------------------------------------------------- collections

_BRACKETS = {"(": ")", "[": "]", "{": "}"}


def _split_collection(text: str) -> tuple[str, list[str]] | None:
    t = (
        text.strip()
        .strip("$")
        .strip()
        .replace("\\{", "{")
        .replace("\\}", "}")
        .replace("\\left", "")
        .replace("\\right", "")
    )
    if len(t) < 2 or t[0] not in _BRACKETS or t[-1] not in ")]}":
        return None
    items, depth, cur = [], 0, ""
    for ch in t[1:-1]:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(cur.strip())
            cur = ""
        else:
            cur += ch
    items.append(cur.strip())
    return t[0] + t[-1], [i for i in items if i]


def _items_equal(a: str, b: str) -> bool | None:
    na, nb = parse_number(a), parse_number(b)
    if na is not None and nb is not None:
        return numbers_equal(na, nb)
    if _norm(a) == _norm(b):
        return True
    return symbolic_equal(a, b)


def collections_equal(gold: str, pred: str) -> bool | None:
    g, p = _split_collection(gold), _split_collection(pred)
    if g is None or p is None:
        return None
    (gb, gi), (pb, pi) = g, p
    if gb != pb:
        # (0, 1] vs [0, 1]: different intervals; {..} vs (..): set vs tuple.
        return (
            False if (gb in ("()", "[]", "(]", "[)") and pb in ("()", "[]", "(]", "[)")) else None
        )
    if len(gi) != len(pi):
        return False
    if gb == "{}":  # a set: order does not matter
        remaining = list(pi)
        for item in gi:
            match = next((q for q in remaining if _items_equal(item, q)), None)
            if match is None:
                return False
            remaining.remove(match)
        return True
    results = [_items_equal(a, b) for a, b in zip(gi, pi, strict=True)]
    if any(r is False for r in results):
        return False
    return None if any(r is None for r in results) else True


# --------------------------------------------------------------------------- grading


def _norm(text: str) -> str:
    t = text.strip().strip("$").strip().rstrip(".").lower()
    t = re.sub(r"\\text\{([^{}]*)\}", r"\1", t)
    return re.sub(r"\s+", " ", t)


@dataclass(frozen=True)
class RuleGrade:
    verdict: Verdict
    method: (
        str  # which rule decided: no_answer, choice, number, exact, collection, symbolic, free_text
    )
    extracted: str | None


def grade(
    response_content: str | None, reference: str, answer_type: str = "exactMatch"
) -> RuleGrade:
    """Grade one response's final content against the reference answer."""
    extracted = extract_answer(response_content)
    if extracted is None:
        return RuleGrade("incorrect", "no_answer", None)
    if answer_type == "multipleChoice":
        want, got = choice_letter(reference), choice_letter(extracted)
        if want is not None:
            if got is None and is_choice_hedge(extracted):
                return RuleGrade("incorrect", "choice_hedge", extracted)  # hedging is wrong
            if got is None:
                return RuleGrade(
                    "undecided" if len(extracted) > 3 else "incorrect", "choice", extracted
                )
            return RuleGrade("correct" if got == want else "incorrect", "choice", extracted)
    if _norm(extracted) == _norm(reference):
        return RuleGrade("correct", "exact", extracted)
    gn, pn = parse_number(reference), parse_number(extracted)
    if gn is not None and pn is not None:
        return RuleGrade("correct" if numbers_equal(gn, pn) else "incorrect", "number", extracted)
    same = collections_equal(reference, extracted)
    if same is not None:
        return RuleGrade("correct" if same else "incorrect", "collection", extracted)
    same = symbolic_equal(reference, extracted)
    if same:
        return RuleGrade("correct", "symbolic", extracted)
    # A mismatch in free text may be a synonym or another form: the judge decides.
    return RuleGrade("undecided", "free_text", extracted)


def vote_key(extracted: str | None) -> str | None:
    """The form answers are compared in for majority votes: numbers by value (`0.5`, `1/2`
    and `\\frac{1}{2}` are one vote), other answers by their normalised text."""
    if extracted is None or not extracted.strip():
        return None
    number = parse_number(extracted)
    if number is not None:
        return f"number:{number}"
    return f"text:{_norm(extracted)}"
