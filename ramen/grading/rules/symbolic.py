"""Symbolic equality through math-verify, where its known traps cannot apply (units dropped,
symbols lower-cased, tiny values rounded equal, `4\\sqrt(2)` read as 4, base-n numerals), in a
worker thread with a timeout (math-verify's SIGALRM timeouts are off: they raise outside the
main thread)."""

from __future__ import annotations

import concurrent.futures
import logging
import os
import re

from ramen.grading.rules.numbers import REL_TOL

# ramen passes timeout None on purpose and enforces its own: silence math-verify's warning.
logging.getLogger("math_verify").setLevel(logging.ERROR)

SYMBOLIC_TIMEOUT_S = 5.0


def _fix_latex(text: str) -> str:
    # `4\sqrt(2)` is parsed by math-verify as 4: give \sqrt its braces.
    return re.sub(r"\\sqrt\s*\(([^()]*)\)", r"\\sqrt{\1}", text)


def _letters(text: str) -> set[str]:
    """The letters outside LaTeX commands and \\text{}."""
    t = re.sub(r"\\[A-Za-z]+", " ", re.sub(r"\\text\{[^{}]*\}", " ", text))
    return set(re.findall(r"[A-Za-z]", t))


def _letter_runs(text: str) -> list[str]:
    """Runs of two or more letters outside LaTeX commands and \\text{}, in order."""
    t = re.sub(r"\\[A-Za-z]+", " ", re.sub(r"\\text\{[^{}]*\}", " ", text))
    return re.findall(r"[A-Za-z]{2,}", t)


def _exact_value(expr):
    """An exact SymPy number for a closed expression (factorials and binomials evaluated), or
    None when it has symbols or floats."""
    import sympy

    if not isinstance(expr, sympy.Basic) or expr.free_symbols or expr.has(sympy.Float):
        return None
    if not expr.is_number:
        return None
    value = expr.doit()
    return value if value.is_Rational else None


def _closed_number(expr) -> bool:
    """An exact closed-form constant: no symbols, no floats, no unevaluated sums or limits."""
    import sympy

    return (
        isinstance(expr, sympy.Basic)
        and expr.is_number
        and not expr.free_symbols
        and not expr.has(sympy.Float)
        and not expr.has(sympy.Sum, sympy.Product, sympy.Integral, sympy.Limit)
    )


def _plain_notation(latex: str) -> bool:
    """Only notation with one reading (no `\\log` of unstated base, no `\\sin 30` in degrees)."""
    rest = re.sub(
        r"\\(?:sqrt|frac|dfrac|tfrac|pi|cdot|times|binom|left|right)(?![A-Za-z])", "", latex
    )
    return re.fullmatch(r"[\d\s+\-*/^(){}\[\].!]*", rest) is not None


def _mv_compare(gold: str, pred: str) -> bool | None:
    """math-verify equivalence: True when it is sure they are equal; False only when both are
    exact rationals (factorials, powers, binomials evaluated) that differ; else None."""
    import sympy
    from math_verify import parse, verify

    g = parse(f"${_fix_latex(gold)}$", parsing_timeout=None)
    p = parse(f"${_fix_latex(pred)}$", parsing_timeout=None)
    if not g or not p:
        return None
    gv, pv = g[0], p[0]
    # exact numbers: decided by exact arithmetic, in both directions
    ge, pe = _exact_value(gv), _exact_value(pv)
    if ge is not None and pe is not None:
        return bool(ge == pe)
    if (
        _closed_number(gv)
        and _closed_number(pv)
        and _plain_notation(gold)
        and _plain_notation(pred)
    ):
        # 2\sqrt{3} against 3\sqrt{2}: exact constants whose values differ are different
        a, b = sympy.N(gv, 50), sympy.N(pv, 50)
        if a.is_real and b.is_real:
            scale = max(abs(a), abs(b))
            if scale != 0 and abs(a - b) / scale > 1e-12:
                return False
    if isinstance(gv, sympy.Set | sympy.Interval) != isinstance(pv, sympy.Set | sympy.Interval):
        return None
    if not verify(g, p, timeout_seconds=None):
        return None
    if (
        isinstance(gv, sympy.Basic)
        and isinstance(pv, sympy.Basic)
        and gv.is_number
        and pv.is_number
    ):
        # tiny values: math-verify rounds them equal; compare by relative error at 50 digits
        a, b = sympy.N(gv, 50), sympy.N(pv, 50)
        if a.is_real and b.is_real and a != b:
            scale = max(abs(a), abs(b))
            if scale != 0 and abs(a - b) / scale > REL_TOL:
                return None
    return True


_POOL: concurrent.futures.ThreadPoolExecutor | None = None


def _forget_pool() -> None:
    global _POOL
    _POOL = None  # a forked child has the pool object but not its thread


os.register_at_fork(after_in_child=_forget_pool)
_BASE_NOTATION = re.compile(r"[\dA-Fa-f]_\{?\d+\}?")


def symbolic_compare(gold: str, pred: str, timeout_s: float = SYMBOLIC_TIMEOUT_S) -> bool | None:
    """math-verify in a worker thread with a timeout; None = could not decide.

    A stuck SymPy call cannot be killed: its thread is abandoned and a fresh pool is used."""
    global _POOL
    if _BASE_NOTATION.search(gold) or _BASE_NOTATION.search(pred):
        return None  # 204_5 is a base-5 numeral; math-verify reads it as 204
    if _letter_runs(gold) != _letter_runs(pred):
        return None  # `ab` against `ba`: words read as products of symbols
    if _letters(gold) != _letters(pred) and {c.lower() for c in _letters(gold)} == {
        c.lower() for c in _letters(pred)
    }:
        return None  # `X` against `x`: math-verify lower-cases symbols
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = _POOL.submit(_mv_compare, gold, pred)
    try:
        return future.result(timeout=timeout_s)
    except concurrent.futures.TimeoutError:
        _POOL.shutdown(wait=False, cancel_futures=True)
        _POOL = None
        return None
    except Exception:  # noqa: BLE001 - a parser crash means "cannot decide", not a verdict
        return None
