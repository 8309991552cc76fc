"""Arithmetic problems written for ramen, with exact answers computed by SymPy.

One generator serves two purposes: the bundled candidate problems (`ramen/data/problems.jsonl`)
and the training set of the tiny model family, which never contains a bundled question, so the
bundled problems are held back from the tiny models by construction.
"""

from __future__ import annotations

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


def _arithmetic(a: int, b: int, op: str) -> Worked:
    value = sympy.sympify(f"{a} {op} {b}")
    return Worked("arithmetic", f"What is {a} {op} {b}?", str(value), f"{a}{op}{b}={value}")


def _algebra(a: int, b: int) -> Worked:
    (root,) = sympy.solve(sympy.Eq(_x + a, b), _x)
    return Worked("algebra", f"Solve for x: x + {a} = {b}", str(root), f"x={b}-{a}={root}")


def _number_theory(a: int, m: int) -> Worked:
    r = sympy.Mod(a, m)
    return Worked("number_theory", f"What is {a} mod {m}?", str(r), f"{a}={a // m}*{m}+{r}")


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


def split_problems(seed: int = 20261122) -> tuple[list[Worked], list[Worked]]:
    """(bundled candidates, tiny-model training pool): disjoint, deterministic."""
    rng = random.Random(seed)
    bundled: list[Worked] = []
    train: list[Worked] = []
    for category in CATEGORIES:
        pool = [p for p in all_problems() if p.category == category]
        rng.shuffle(pool)
        k = BUNDLED_COUNTS[category]
        bundled += pool[:k]
        train += pool[k:]
    return bundled, train
