"""Properties of the rule grader over generated answers (issue 37): for random expressions and
random perturbations of them (a flipped sign, a changed coefficient or exponent, a dropped
term), rendered in LaTeX several ways (`\\mathrm{e}`, `\\operatorname{e}`, `\\left(`, `\\dfrac`,
spacing, `\\cdot`), the rules never call the perturbed answer `correct`, and never call the same
value in another rendering `incorrect`.

Two layers. Numbers, sets, lists, intervals and clock times are decided without math-verify:
2,000 cases run in about 3 s. Expressions go through math-verify's LaTeX parser, about 10
ms a string: a few hundred cases here (the unit tier), more with RAMEN_PROPERTY_CASES set
(e.g. 3000 takes about a minute). Seeds are fixed: a failure names its case and reruns the same.
"""

import os
import random
import re
from fractions import Fraction

import pytest
import sympy

from ramen.grading.rules import grade

pytestmark = pytest.mark.unit

SYMBOLIC_CASES = int(os.environ.get("RAMEN_PROPERTY_CASES", "120"))
NUMERIC_CASES = 2000

x, y = sympy.symbols("x y")
CONSTANTS = [sympy.pi, sympy.E, sympy.sqrt(2), sympy.sqrt(3), sympy.Rational(1, 2)]


# --------------------------------------------------------------------------- expressions


def random_expression(rng: random.Random) -> sympy.Expr:
    terms = []
    for _ in range(rng.randint(2, 4)):
        coefficient = rng.choice(
            [
                rng.choice([-1, 1]) * rng.randint(1, 9),
                sympy.Rational(rng.randint(1, 9), rng.randint(2, 9)),
                rng.choice(CONSTANTS),
            ]
        )
        var = rng.choice([x, x, y, sympy.Integer(1)])
        terms.append(coefficient * var ** (rng.randint(1, 3) if var != 1 else 1))
    expr = sympy.Add(*terms)
    if rng.random() < 0.3:
        expr = expr / (x + rng.randint(1, 5))
    return expr


def perturbed(rng: random.Random, expr: sympy.Expr) -> tuple[sympy.Expr, str]:
    terms = list(sympy.Add.make_args(sympy.expand(expr)))
    kind = rng.choice(["sign", "coefficient", "exponent", "drop"])
    i = rng.randrange(len(terms))
    if kind == "sign":
        terms[i] = -terms[i]
    elif kind == "coefficient":
        terms[i] = terms[i] * rng.choice([2, 3, sympy.Rational(1, 2), -2])
    elif kind == "exponent":
        free = sorted(terms[i].free_symbols, key=str)
        terms[i] = terms[i] * free[0] if free else terms[i] + 1
    elif len(terms) > 1:
        terms.pop(i)
    else:
        terms[i] = terms[i] + 1
    return sympy.Add(*terms), kind


def renderings(expr: sympy.Expr) -> list[str]:
    """One expression in LaTeX as people and models write it."""
    base = sympy.latex(expr)
    euler = r"(?<![A-Za-z\\])e(?![A-Za-z])"
    return [
        base,
        re.sub(euler, r"\\mathrm{e}", base),
        re.sub(euler, r"\\operatorname{e}", base),
        re.sub(euler, r"{\\rm e}", base),
        base.replace("\\frac", "\\dfrac"),
        base.replace("\\left(", "(").replace("\\right)", ")"),
        base.replace(" ", ""),
        re.sub(r"(\d)\s*([xy])", r"\1 \\cdot \2", base),
        "\\left(" + base + "\\right)",
    ]


def test_a_perturbed_expression_is_never_correct_and_a_rewritten_one_never_incorrect():
    rng = random.Random(37)
    false_correct, false_incorrect, decided, n = [], [], 0, 0
    while n < SYMBOLIC_CASES:
        expr = random_expression(rng)
        other, kind = perturbed(rng, expr)
        if sympy.cancel(expr - other) == 0:
            continue  # the perturbation cancelled out
        n += 1
        reference = rng.choice(renderings(expr))
        wrong = rng.choice(renderings(other))
        got = grade(f"The answer is $\\boxed{{{wrong}}}$.", reference)
        if got.verdict == "correct":
            false_correct.append((kind, reference, wrong, got.method))
        decided += got.verdict == "incorrect"
        if n % 2:  # the same value written another way
            same = rng.choice(renderings(expr))
            got = grade(f"Answer: ${same}$", reference)
            if got.verdict == "incorrect":
                false_incorrect.append((reference, same, got.method))
    assert not false_correct, false_correct[:5]
    assert not false_incorrect, false_incorrect[:5]
    print(f"{n} perturbed expressions: {decided} decided incorrect, the rest undecided")
    assert decided > n // 2  # the rules do decide most of them, not only stay silent


# --------------------------------------------------------------------------- numbers and sets


def number_text(rng: random.Random, value: Fraction) -> str:
    """A rational written one of the ways answers write it (exactly)."""
    if value.denominator == 1:
        n = int(value)
        return rng.choice([str(n), f"{n:,}" if abs(n) >= 1000 else str(n), f"{n}.0"])
    sign = "-" if value < 0 else ""
    num, den = abs(value.numerator), value.denominator
    forms = [
        f"{sign}\\frac{{{num}}}{{{den}}}",
        f"{sign}{num}/{den}",
        f"{sign}\\dfrac{{{num}}}{{{den}}}",
    ]
    if 10**6 % den == 0:
        forms.append(str(float(value)))
    return rng.choice(forms)


def another_number(rng: random.Random, value: Fraction) -> Fraction:
    """A number at least 1% away from `value` (or another integer), never within rounding."""
    kind = rng.choice(["sign", "digit", "scale", "shift"])
    if kind == "sign" and value != 0:
        return -value
    if kind == "scale":
        return value * rng.choice([2, 3, 10, Fraction(1, 2)]) if value else Fraction(1)
    return value + max(abs(value) / 50, 1) * rng.choice([-1, 1])


def random_value(rng: random.Random) -> Fraction:
    return rng.choice(
        [
            Fraction(rng.randint(-5000, 5000)),
            Fraction(rng.randint(-99, 99), rng.choice([2, 3, 4, 5, 7, 8, 16, 25])),
        ]
    )


def wrapped(rng: random.Random, text: str) -> str:
    return rng.choice(
        [f"\\boxed{{{text}}}", f"Answer: ${text}$", f"The final answer is ${text}$.", text]
    )


def test_numbers_sets_and_clocks_are_never_misjudged():
    rng = random.Random(370)
    false_correct, false_incorrect = [], []
    for _ in range(NUMERIC_CASES):
        kind = rng.choice(["number", "set", "list", "interval", "clock"])
        if kind == "number":
            value = random_value(rng)
            reference = number_text(rng, value)
            same, other = number_text(rng, value), number_text(rng, another_number(rng, value))
        elif kind in ("set", "list"):
            values = list({random_value(rng) for _ in range(rng.randint(2, 4))})
            changed = list(values)
            i = rng.randrange(len(changed))
            changed[i] = another_number(rng, changed[i])
            if rng.random() < 0.3:
                changed.pop(i)
            if set(changed) == set(values):
                continue
            shuffled = rng.sample(values, len(values))

            def written(vals, k=kind):
                items = ", ".join(number_text(rng, v) for v in vals)
                return f"\\{{{items}\\}}" if k == "set" else items

            reference, same, other = written(values), written(shuffled), written(changed)
        elif kind == "interval":
            a, b = sorted(rng.sample(range(-20, 20), 2))
            left, right = rng.choice("[("), rng.choice("])")
            reference = f"{left}{a}, {b}{right}"
            same = f"\\left{left}{a},{b}\\right{right}"
            flipped = {"[": "(", "(": "["}[left]
            other = rng.choice([f"{flipped}{a}, {b}{right}", f"{left}{a}, {b + 1}{right}"])
        else:
            hour, minute = rng.randint(0, 23), rng.randint(0, 59)
            meridiem = f"{(hour % 12) or 12}:{minute:02d} {'PM' if hour >= 12 else 'AM'}"
            reference = f"{hour:02d}:{minute:02d}"
            same = rng.choice([meridiem, reference])
            shift = rng.choice([1, 2, 5, 60, 120])
            later = (hour * 60 + minute + shift) % (24 * 60)
            other = f"{later // 60:02d}:{later % 60:02d}"
        got = grade(wrapped(rng, other), reference)
        if got.verdict == "correct":
            false_correct.append((kind, reference, other, got.method))
        got = grade(wrapped(rng, same), reference)
        if got.verdict == "incorrect":
            false_incorrect.append((kind, reference, same, got.method))
    assert not false_correct, false_correct[:5]
    assert not false_incorrect, false_incorrect[:5]
