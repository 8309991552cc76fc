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


# A letter set upright (`\mathrm{e}`, `\text{i}`, `\operatorname{d}`, `{\rm e}`) is the letter:
# math-verify's parser drops it after an operator (`3 - \mathrm{e}` read as 3, so `3 + \mathrm{e}`
# compared equal to it). Written as the plain letter, it is read as the italic one is.
_UPRIGHT_LETTER = re.compile(
    r"\\(?:mathrm|text|textrm|textit|textnormal|mathit|mathnormal|operatorname|rm)\s*"
    r"\{\s*([A-Za-z])\s*\}"
)
_RM_GROUP = re.compile(r"\{\s*\\(?:rm|mathrm)\s+([A-Za-z])\s*\}")
_FUNCTIONS = (
    "sin|cos|tan|cot|sec|csc|arcsin|arccos|arctan|sinh|cosh|tanh|log|ln|exp|lg|det|gcd|lcm|max|min"
)
_OPERATORNAME = re.compile(rf"\\operatorname\s*\{{\s*({_FUNCTIONS})\s*\}}")
# maths written as plain text: `pi/3`, `sqrt(2)`, `exp(2)`, `-3*pi`, `ln(2)`, `infinity`
_PLAIN_PI = re.compile(r"(?<![\\A-Za-z])pi(?![A-Za-z])")
_PLAIN_CALL = re.compile(rf"(?<![\\A-Za-z])(sqrt|{_FUNCTIONS})(?=\s*\()")
_PLAIN_EXP = re.compile(r"(?<![\\A-Za-z])exp\s*\(([^()]*)\)")
_PLAIN_INFINITY = re.compile(r"(?<![\\A-Za-z])(?:infinity|inf)(?![A-Za-z])")


def canonical_latex(text: str) -> str:
    r"""The same maths in the one spelling the comparison reads: upright letters as letters,
    `\operatorname{sin}` as `\sin`, plain-text maths (`pi/3`, `exp(2)`, `sqrt(2)`) as LaTeX."""
    t = _UPRIGHT_LETTER.sub(r"\1", text)
    t = _RM_GROUP.sub(r"\1", t)
    t = _OPERATORNAME.sub(r"\\\1", t)
    t = _PLAIN_EXP.sub(r"e^{\1}", t)
    t = _PLAIN_CALL.sub(r"\\\1", t)
    t = _PLAIN_PI.sub(r"\\pi ", t)
    return _PLAIN_INFINITY.sub(r"\\infty ", t).strip()


# The LaTeX commands math-verify reads as written. Any other command (`\overline`, `\hat`,
# `\mathcal`, a macro of the response's own) may be dropped or misread by its parser, so a
# comparison that meets one is left to the judge rather than decided on what remains.
KNOWN_COMMANDS = frozenset(
    """frac dfrac tfrac sqrt pi cdot times div pm mp left right sin cos tan cot sec csc arcsin
    arccos arctan sinh cosh tanh log ln exp lg infty alpha beta gamma delta epsilon varepsilon
    zeta eta theta vartheta iota kappa lambda mu nu xi rho sigma tau upsilon phi varphi chi psi
    omega Gamma Delta Theta Lambda Xi Pi Sigma Phi Psi Omega le leq ge geq ne neq lt gt in cup
    cap emptyset varnothing mathbb text binom dbinom circ degree prime ldots cdots dots quad
    qquad lfloor rfloor lceil rceil mid sum prod int lim to setminus displaystyle lbrace rbrace
    """.split()
)


def unknown_commands(text: str) -> set[str]:
    """The LaTeX commands in `text` that math-verify is not known to read as written."""
    return {c for c in re.findall(r"\\([A-Za-z]+)", text) if c not in KNOWN_COMMANDS}


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
    if _dangling(g) or _dangling(p):
        return None  # the parser stopped early (`3 -`): it read a part of the answer only
    letters = _letters(gold)
    if letters == _letters(pred) and _differ_in_every_reading(gv, pv, letters):
        return False  # checked first: it is cheaper than math-verify's simplify
    if not verify(g, p, timeout_seconds=None):
        # `2.0 + -1.0i` against `2 - i`: decimals as written, exactly
        return True if _written_decimals_equal(gv, pv) else None
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


def _dangling(parsed: list) -> bool:
    """math-verify's reading ends at an operator: it stopped before the rest of the text."""
    return (
        len(parsed) > 1
        and isinstance(parsed[1], str)
        and bool(re.search(r"[-+*/^=]\s*$", parsed[1]))
    )


def _written_decimals_equal(a, b) -> bool:
    """Equal once each decimal is read as the exact number it writes (`2.0` is 2, `0.5` is
    1/2): math-verify leaves `2.0 - 1.0 i` and `2 - i` unequal. A rounded decimal (`0.333`)
    stays another number than 1/3."""
    import sympy

    if not all(isinstance(x, sympy.Expr) for x in (a, b)):
        return False
    if not (a.has(sympy.Float) or b.has(sympy.Float)):
        return False

    def exact(x):  # and a letter one symbol, whatever the parser assumed of it
        x = x.xreplace({f: sympy.Rational(str(f)) for f in x.atoms(sympy.Float)})
        return x.xreplace({v: sympy.Symbol(v.name) for v in x.free_symbols})

    try:
        return sympy.expand(exact(a) - exact(b)) == 0
    except Exception:  # noqa: BLE001 - not settled: not equal as far as rules know
        return False


def _differ_in_every_reading(a, b, letters: set[str]) -> bool:
    r"""Two rational functions of the same variables (polynomials, fractions of them, exact
    constants with e and pi) that differ, read with `e` as Euler's number and as a variable,
    and `i` as a variable and as the imaginary unit: `x^2+3x+2` against `x^3+3x+2`, `3 - e`
    against `3 + e`, `1 + i` against `1 - i`. Anything with functions (`\sin 30` in degrees or
    radians, `\log` of an unstated base), floats or other variables on one side is not
    decided here."""
    import sympy

    if not all(isinstance(x, sympy.Expr) for x in (a, b)):
        return False
    if a.has(sympy.Float) or b.has(sympy.Float):
        return False
    functions = a.atoms(sympy.Function) | b.atoms(sympy.Function)
    if any(not isinstance(f, sympy.exp) or f.args[0].free_symbols for f in functions):
        return False  # `e^2` is exp(2), the one function read here; e^x is not rational
    unevaluated = (sympy.Sum, sympy.Product, sympy.Integral, sympy.Limit, sympy.Derivative)
    if a.has(*unevaluated) or b.has(*unevaluated):
        return False
    symbols = sorted(a.free_symbols, key=str)
    if a.free_symbols != b.free_symbols:
        return False
    euler = a.has(sympy.E) or b.has(sympy.E) or bool(functions)
    named = {s.name for s in a.free_symbols} | ({"e"} if euler else set())
    if named != letters or not all(len(s.name) == 1 for s in symbols):
        return False  # a letter the parser dropped (`TC^0` read as T) or merged (`C0`)
    if not (a.is_rational_function(*symbols) and b.is_rational_function(*symbols)):
        return False
    e_var = sympy.Symbol("e", real=True)
    readings = [
        lambda x: x,
        lambda x: x.replace(sympy.exp, lambda power: e_var**power).subs(sympy.E, e_var),
    ]
    i_vars = [s for s in symbols if s.name == "i"]
    if i_vars:
        readings += [lambda x, r=r, i=i_vars[0]: r(x).subs(i, sympy.I) for r in list(readings)]
    try:
        return all(sympy.cancel(sympy.expand(r(a) - r(b))) != 0 for r in readings)
    except Exception:  # noqa: BLE001 - SymPy could not settle it: not sure they differ
        return False


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
    gold, pred = canonical_latex(gold), canonical_latex(pred)
    if unknown_commands(gold) or unknown_commands(pred):
        return None  # a command the parser may drop: not decided on the part it reads
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
