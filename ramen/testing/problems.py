"""Arithmetic problems written for ramen, with exact answers computed by SymPy.

One generator serves three purposes: the bundled candidate problems (`ramen/data/problems.jsonl`),
the held-out evaluation set (`ramen/data/heldout.jsonl`) and the training set of the tiny model
family, which contains neither a bundled nor a held-out question, so both are held back from the
tiny models by construction.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

import sympy

CATEGORIES = ("arithmetic", "algebra", "number_theory", "calculus")
_x = sympy.Symbol("x")


@dataclass(frozen=True)
class Worked:
    """A problem with its reference answer and a short worked solution (the `<think>` part)."""

    category: str
    question: str
    answer: str
    reasoning: str
    steps: str | None = None  # the same solution in small steps (see _in_steps)


def _in_steps(a: int, b: int, op: str, value: int) -> str:
    """a op b digit by digit: the units first, then the tens ("7+8=15; 15+10=25" for 17 + 8,
    "7-8=-1; -1+10=9" for 17 - 8). Each step is a small table that many problems share (100
    digit sums or differences; adding whole tens), where the one-line answer recalls a fact of
    its own problem."""
    (a1, a0), (b1, b0) = divmod(a, 10), divmod(b, 10)
    first = a0 + b0 if op == "+" else a0 - b0
    tens = 10 * (a1 + b1 if op == "+" else a1 - b1)
    return f"Step: {a0}{op}{b0}={first}; {first}{'-' if tens < 0 else '+'}{abs(tens)}={value}"


def _arithmetic(a: int, b: int, op: str) -> Worked:
    value = sympy.sympify(f"{a} {op} {b}")
    return Worked(
        "arithmetic", f"What is {a} {op} {b}?", str(value), f"{a}{op}{b}={value}",
        _in_steps(a, b, op, int(value)),
    )  # fmt: skip


def _algebra(a: int, b: int) -> Worked:
    (root,) = sympy.solve(sympy.Eq(_x + a, b), _x)
    return Worked(
        "algebra", f"Solve for x: x + {a} = {b}", str(root), f"x={b}-{a}={root}",
        "x: " + _in_steps(b, a, "-", int(root)),
    )  # fmt: skip


def _number_theory(a: int, m: int) -> Worked:
    r = sympy.Mod(a, m)
    q = a // m
    return Worked(
        "number_theory", f"What is {a} mod {m}?", str(r), f"{a}={q}*{m}+{r}",
        f"Step: {q}*{m}={q * m}; {a}-{q * m}={r}",
    )  # fmt: skip


def _calculus(c: int, v: int) -> Worked:
    d = sympy.diff(c * _x**2, _x)
    value = d.subs(_x, v)
    return Worked(
        "calculus",
        f"What is the derivative of {c}*x**2 at x = {v}?",
        str(value),
        f"d/dx {c}*x**2={d}; {d.subs(_x, sympy.Symbol(str(v)))}={value}".replace("*x", "x"),
    )


def all_problems() -> list[Worked]:
    """Every problem the generator can make, in a fixed order."""
    out: list[Worked] = []
    out += [_arithmetic(a, b, op) for a in range(20) for b in range(20) for op in ("+", "-")]
    out += [_algebra(a, b) for a in range(1, 20) for b in range(a, a + 20)]
    out += [_number_theory(a, m) for a in range(10, 40) for m in range(2, 10)]
    out += [_calculus(c, v) for c in range(1, 10) for v in range(1, 10)]
    return out


# How many problems of each category are bundled as candidates (uneven on purpose, for balancing).
BUNDLED_COUNTS = {"arithmetic": 160, "algebra": 100, "number_theory": 80, "calculus": 40}
FIXTURE_MATH = 14  # generator questions in the HLE fixture (ramen/bundled.py hle_rows)
HELDOUT = 400  # problems in the held-out evaluation set


@functools.cache
def _halves(seed: int = 20261122) -> tuple[tuple[Worked, ...], tuple[Worked, ...]]:
    """(bundled candidates, the rest): every generator problem in one of the two, deterministic.
    Cached: SymPy makes the problems in seconds, and the three splits below all start here."""
    rng = random.Random(seed)
    bundled: list[Worked] = []
    rest: list[Worked] = []
    problems = all_problems()
    for category in CATEGORIES:
        pool = [p for p in problems if p.category == category]
        rng.shuffle(pool)
        k = BUNDLED_COUNTS[category]
        bundled += pool[:k]
        rest += pool[k:]
    return tuple(bundled), tuple(rest)


def fixture_math() -> list[Worked]:
    """The HLE fixture's maths questions that the tiny family trains on (the fixture adds two
    bundled ones, for decontamination to find)."""
    _, rest = _halves()
    return [p for p in rest if p.category in ("arithmetic", "algebra")][:FIXTURE_MATH]


def held_out_problems() -> list[Worked]:
    """HELDOUT problems that are neither curation candidates nor in the tiny family's training
    (`ramen/data/heldout.jsonl`): evenly spaced over the non-bundled problems, each category in
    its share, without the fixture's and without calculus (its template is longer than a
    13-word n-gram, so n-gram decontamination would call every candidate with the same
    coefficient a copy; the others are shorter and checked for exact copies)."""
    _, rest = _halves()
    seen = {p.question for p in fixture_math()}
    pool = [p for p in rest if p.question not in seen and p.category != "calculus"]
    step = len(pool) / HELDOUT
    return [pool[int(k * step)] for k in range(HELDOUT)]


def split_problems() -> tuple[list[Worked], list[Worked]]:
    """(bundled candidates, tiny-family training pool): disjoint from each other and from
    held_out_problems(), deterministic. The family never trains on a bundled or a held-out
    problem, so the demo's held-out comparison measures what the pipeline's pairs teach on
    problems the models never saw, not how much of a memorised pool survives training."""
    bundled, rest = _halves()
    held = {p.question for p in held_out_problems()}
    return list(bundled), [p for p in rest if p.question not in held]
