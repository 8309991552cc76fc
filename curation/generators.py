"""SymPy problem generators, the built-in registry behind `data.sources: - {synthetic: sympy}`.

A generator draws its parameters from a seeded `random.Random` within its difficulty knobs,
computes the exact answer with SymPy, and returns a `Draw`: the parameters, the answer as the
LaTeX the rule grader reads (`\\frac{3}{4}`, `2 \\sqrt{5}`, `-2, 3`, `(1, -2, 3)`), and the
text that fills its templates. Every generator has an English and a Japanese template (some
several variants). `curation/synthetic.py` turns draws into Problem rows.

Knob values per difficulty level 1-5 are the generator's `Knob.levels`; a recipe may set any
knob within its bounds (`knobs: {algebra.linear_equation: {size: 50}}`).
`tests/test_synthetic.py` checks every generator's answers on thousands of seeds by an
independent computation (brute force, exact fractions, substitution).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy

X = sympy.Symbol("x")


@dataclass(frozen=True)
class Knob:
    name: str
    levels: tuple[int, int, int, int, int]  # the value at difficulty 1 .. 5
    lo: int
    hi: int
    help: str


@dataclass
class Draw:
    params: dict[str, Any]  # JSON: what the answer is computed from (kept in the row's meta)
    answer: str  # the reference answer, as LaTeX
    fill: dict[str, str]  # template placeholder -> text
    variant: str = "main"


@dataclass(frozen=True)
class Generator:
    name: str
    category: str
    fn: Callable[[random.Random, dict[str, int]], Draw]
    knobs: tuple[Knob, ...]
    templates: dict[str, dict[str, str]]  # variant -> language -> text with <placeholders>
    help: str

    def knob_values(self, difficulty: int, overrides: dict[str, int] | None = None) -> dict:
        values = {k.name: k.levels[difficulty - 1] for k in self.knobs}
        values.update(overrides or {})
        return values

    def render(self, draw: Draw, language: str) -> str:
        text = self.templates[draw.variant][language]
        for key, value in draw.fill.items():
            text = text.replace(f"<{key}>", value)
        return text


REGISTRY: dict[str, Generator] = {}


def generator(name: str, category: str, knobs: tuple[Knob, ...], templates: dict, help: str):
    def register(fn):
        REGISTRY[name] = Generator(name, category, fn, knobs, templates, help)
        return fn

    return register


# ----------------------------------------------------------------------------- formatting


def tex(value) -> str:
    """An exact SymPy value as the LaTeX the rule grader reads."""
    return sympy.latex(sympy.nsimplify(value) if isinstance(value, float) else value)


def _poly_tex(coeffs: list[int]) -> str:
    """sum(c_k x^k), highest power first, as LaTeX."""
    return sympy.latex(sum(c * X**k for k, c in enumerate(coeffs)), order="lex")


def _nonzero(rng: random.Random, bound: int) -> int:
    value = 0
    while value == 0:
        value = rng.randint(-bound, bound)
    return value


def _point(p: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(c) for c in p) + ")"


def _matrix_tex(rows: list[list[int]]) -> str:
    body = r" \\ ".join(" & ".join(str(c) for c in row) for row in rows)
    return r"\begin{pmatrix} " + body + r" \end{pmatrix}"


# ----------------------------------------------------------------------------- arithmetic

_OPS = {"+": "+", "-": "-", "*": r"\times", "/": r"\div"}


@generator(
    "arithmetic.expression",
    "arithmetic",
    (
        Knob("terms", (2, 3, 4, 5, 6), 2, 10, "numbers in the expression"),
        Knob("digits", (1, 1, 2, 2, 3), 1, 6, "digits per number"),
        Knob("nesting", (0, 0, 1, 1, 2), 0, 3, "levels of parentheses"),
    ),
    {"main": {"en": "Compute $<expr>$.", "ja": "$<expr>$ を計算しなさい。"}},
    "an expression in + - × ÷ with exact (rational) value",
)
def _expression(rng: random.Random, k: dict) -> Draw:
    while True:
        numbers = [rng.randint(1, 10 ** k["digits"] - 1) for _ in range(k["terms"])]
        ops = [rng.choice("+-*/") for _ in range(k["terms"] - 1)]
        # tokens: numbers and operators; parentheses wrap contiguous runs of numbers
        opens, closes = [0] * len(numbers), [0] * len(numbers)
        lo, hi = 0, len(numbers) - 1  # each pair of parentheses sits inside the one before
        for _ in range(k["nesting"]):
            if hi - lo < 2:
                break
            while True:
                i = rng.randint(lo, hi - 1)
                j = rng.randint(i + 1, hi)
                if (i, j) != (lo, hi):
                    break
            opens[i] += 1
            closes[j] += 1
            lo, hi = i, j
        py, latex = [], []
        for i, n in enumerate(numbers):
            py.append("(" * opens[i] + str(n) + ")" * closes[i])
            latex.append(r"\left(" * opens[i] + str(n) + r"\right)" * closes[i])
            if i < len(ops):
                py.append(ops[i])
                latex.append(_OPS[ops[i]])
        expression = " ".join(py)
        value = sympy.sympify(expression, rational=True)
        if value.is_Rational:  # a zero divisor gives zoo / nan: draw again
            return Draw({"expression": expression}, tex(value), {"expr": " ".join(latex)})


@generator(
    "arithmetic.fractions",
    "arithmetic",
    (
        Knob("terms", (2, 2, 3, 4, 5), 2, 8, "fractions added or subtracted"),
        Knob("denominator", (6, 10, 12, 20, 30), 2, 200, "largest denominator"),
    ),
    {
        "main": {
            "en": "Compute $<expr>$ and give the answer as a fraction in lowest terms.",
            "ja": "$<expr>$ を計算し、既約分数で答えなさい。",
        }
    },
    "a sum and difference of fractions",
)
def _fractions(rng: random.Random, k: dict) -> Draw:
    parts = [(rng.randint(1, k["denominator"] - 1), rng.randint(2, k["denominator"]))]
    signs = []
    for _ in range(k["terms"] - 1):
        parts.append((rng.randint(1, k["denominator"] - 1), rng.randint(2, k["denominator"])))
        signs.append(rng.choice("+-"))
    value = sympy.Rational(*parts[0])
    latex = rf"\frac{{{parts[0][0]}}}{{{parts[0][1]}}}"
    for sign, (p, q) in zip(signs, parts[1:], strict=True):
        value = value + sympy.Rational(p, q) if sign == "+" else value - sympy.Rational(p, q)
        latex += rf" {sign} \frac{{{p}}}{{{q}}}"
    return Draw({"fractions": parts, "signs": signs}, tex(value), {"expr": latex})


# ----------------------------------------------------------------------------- algebra


@generator(
    "algebra.linear_equation",
    "algebra",
    (
        Knob("size", (5, 9, 15, 30, 60), 2, 1000, "largest coefficient and solution"),
        Knob("rational", (0, 0, 0, 1, 1), 0, 1, "1: the solution may be a fraction"),
    ),
    {
        "main": {
            "en": "Solve for $x$: $<equation>$.",
            "ja": "方程式 $<equation>$ を $x$ について解きなさい。",
        }
    },
    "a x + b = c x + d with one solution",
)
def _linear_equation(rng: random.Random, k: dict) -> Draw:
    size = k["size"]
    q = rng.randint(2, 6) if k["rational"] and rng.random() < 0.5 else 1
    solution = sympy.Rational(rng.randint(-size, size), q)
    a = _nonzero(rng, size)
    c = a - q * _nonzero(rng, max(1, size // q))  # a - c is a multiple of q: d is an integer
    b = rng.randint(-size, size)
    d = int((a - c) * solution + b)
    equation = sympy.Eq(a * X + b, c * X + d, evaluate=False)
    (root,) = sympy.roots(sympy.Poly(a * X + b - c * X - d, X))
    return Draw({"a": a, "b": b, "c": c, "d": d}, tex(root), {"equation": sympy.latex(equation)})


@generator(
    "algebra.coefficient",
    "algebra",
    (
        Knob("power", (2, 3, 4, 5, 7), 1, 12, "the power the binomial is raised to"),
        Knob("size", (2, 3, 4, 5, 6), 1, 20, "largest coefficient in the factors"),
    ),
    {
        "main": {
            "en": "What is the coefficient of $x^{<k>}$ in the expansion of $<expr>$?",
            "ja": "$<expr>$ を展開したときの $x^{<k>}$ の係数を求めなさい。",
        }
    },
    "a coefficient of (a x + b)^n (c x + d)",
)
def _coefficient(rng: random.Random, k: dict) -> Draw:
    a, b = _nonzero(rng, k["size"]), _nonzero(rng, k["size"])
    c, d = _nonzero(rng, k["size"]), _nonzero(rng, k["size"])
    n = k["power"]
    power = rng.randint(0, n + 1)
    product = sympy.Poly(a * X + b, X) ** n * sympy.Poly(c * X + d, X)
    coeff = product.coeff_monomial(X**power)
    shown = sympy.latex(sympy.UnevaluatedExpr(a * X + b) ** n * (c * X + d))
    return Draw({"a": a, "b": b, "c": c, "d": d, "n": n, "k": power}, tex(coeff),
                {"expr": shown, "k": str(power)})  # fmt: skip


# ----------------------------------------------------------------------------- equations


@generator(
    "equations.quadratic",
    "equations",
    (
        Knob("size", (5, 9, 12, 20, 30), 2, 200, "largest root numerator"),
        Knob("leading", (1, 1, 3, 4, 6), 1, 12, "largest leading coefficient"),
    ),
    {
        "main": {
            "en": "Find all real solutions of $<equation>$.",
            "ja": "方程式 $<equation>$ の実数解をすべて求めなさい。",
        }
    },
    "a quadratic with two distinct rational roots",
)
def _quadratic(rng: random.Random, k: dict) -> Draw:
    while True:
        r1 = sympy.Rational(rng.randint(-k["size"], k["size"]), rng.randint(1, k["leading"]))
        r2 = sympy.Rational(rng.randint(-k["size"], k["size"]), rng.randint(1, k["leading"]))
        if r1 != r2:
            break
    # the smallest integer polynomial with these roots
    poly = sympy.Poly((r1.q * X - r1.p) * (r2.q * X - r2.p), X)
    if poly.LC() < 0:
        poly = -poly
    equation = sympy.Eq(poly.as_expr(), 0, evaluate=False)
    roots = sorted(sympy.roots(poly))
    return Draw({"coefficients": [int(c) for c in poly.all_coeffs()]},
                ", ".join(tex(r) for r in roots), {"equation": sympy.latex(equation)})  # fmt: skip


_VARS = ("x", "y", "z", "w", "v")


@generator(
    "equations.linear_system",
    "equations",
    (
        Knob("unknowns", (2, 2, 3, 3, 4), 2, 5, "number of unknowns and equations"),
        Knob("size", (3, 5, 5, 7, 9), 1, 50, "largest coefficient and solution value"),
    ),
    {
        "main": {
            "en": "Solve the system of equations <equations>. Give the answer as $(<vars>)$.",
            "ja": "連立方程式 <equations> を解き、$(<vars>)$ の形で答えなさい。",
        }
    },
    "n linear equations in n unknowns with one integer solution",
)
def _linear_system(rng: random.Random, k: dict) -> Draw:
    n, size = k["unknowns"], k["size"]
    names = sympy.symbols(_VARS[:n])
    while True:
        matrix = sympy.Matrix(n, n, lambda i, j: rng.randint(-size, size))
        if matrix.det() != 0:
            break
    solution = sympy.Matrix([rng.randint(-size, size) for _ in range(n)])
    rhs = matrix * solution
    eqs = [
        sympy.Eq(sum(matrix[i, j] * names[j] for j in range(n)), rhs[i], evaluate=False)
        for i in range(n)
    ]
    solved = matrix.LUsolve(rhs)
    answer = "(" + ", ".join(tex(v) for v in solved) + ")"
    shown = ", ".join(f"${sympy.latex(e)}$" for e in eqs)
    return Draw({"matrix": matrix.tolist(), "rhs": list(rhs)}, answer,
                {"equations": shown, "vars": ", ".join(_VARS[:n])})  # fmt: skip


# ----------------------------------------------------------------------------- calculus


def _poly(rng: random.Random, degree: int, size: int) -> list[int]:
    coeffs = [rng.randint(-size, size) for _ in range(degree)] + [_nonzero(rng, size)]
    return coeffs


@generator(
    "calculus.derivative_at",
    "calculus",
    (
        Knob("degree", (2, 3, 3, 4, 5), 1, 10, "degree of the polynomial"),
        Knob("size", (5, 5, 9, 9, 12), 1, 100, "largest coefficient"),
        Knob("chain", (0, 0, 1, 1, 1), 0, 1, "1: the polynomial is raised to a power"),
    ),
    {
        "main": {
            "en": "Let $f(x) = <f>$. Find $f'(<x0>)$.",
            "ja": "$f(x) = <f>$ のとき、$f'(<x0>)$ を求めなさい。",
        }
    },
    "the derivative of a polynomial (or a power of one) at a point",
)
def _derivative_at(rng: random.Random, k: dict) -> Draw:
    coeffs = _poly(rng, k["degree"], k["size"])
    power = rng.randint(2, 3) if k["chain"] else 1
    x0 = rng.randint(-3, 3)
    f = sympy.Poly(list(reversed(coeffs)), X) ** power
    value = f.diff(X).eval(x0)
    shown = _poly_tex(coeffs) if power == 1 else rf"\left({_poly_tex(coeffs)}\right)^{{{power}}}"
    return Draw({"coefficients": coeffs, "power": power, "x0": x0}, tex(value),
                {"f": shown, "x0": str(x0)})  # fmt: skip


@generator(
    "calculus.definite_integral",
    "calculus",
    (
        Knob("degree", (1, 2, 3, 4, 5), 0, 10, "degree of the integrand"),
        Knob("size", (5, 6, 9, 9, 12), 1, 100, "largest coefficient"),
        Knob("bound", (2, 3, 3, 4, 5), 1, 20, "largest |limit of integration|"),
    ),
    {
        "main": {
            "en": r"Evaluate $\int_{<a>}^{<b>} \left(<f>\right)\, dx$.",
            "ja": r"定積分 $\int_{<a>}^{<b>} \left(<f>\right)\, dx$ を計算しなさい。",
        }
    },
    "a definite integral of a polynomial",
)
def _definite_integral(rng: random.Random, k: dict) -> Draw:
    coeffs = _poly(rng, k["degree"], k["size"])
    a = rng.randint(-k["bound"], k["bound"] - 1)
    b = rng.randint(a + 1, k["bound"])
    antiderivative = sympy.Poly(list(reversed(coeffs)), X, domain="QQ").integrate()
    value = antiderivative.eval(b) - antiderivative.eval(a)
    return Draw({"coefficients": coeffs, "a": a, "b": b}, tex(value),
                {"f": _poly_tex(coeffs), "a": str(a), "b": str(b)})  # fmt: skip


@generator(
    "calculus.limit",
    "calculus",
    (
        Knob("degree", (1, 1, 2, 2, 3), 1, 5, "degree of the factors beside (x - a)"),
        Knob("size", (4, 6, 6, 8, 9), 1, 50, "largest coefficient"),
    ),
    {
        "main": {
            "en": "Compute $<limit>$.",
            "ja": "極限 $<limit>$ を求めなさい。",
        }
    },
    "the limit of a rational function at a removable singularity",
)
def _limit(rng: random.Random, k: dict) -> Draw:
    a = rng.randint(-4, 4)
    while True:
        p = _poly(rng, k["degree"], k["size"])
        q = _poly(rng, k["degree"], k["size"])
        pp, qq = sympy.Poly(p[::-1], X), sympy.Poly(q[::-1], X)
        if qq.eval(a) != 0 and pp.gcd(qq).degree() == 0:
            break
    factor = sympy.Poly(X - a, X)
    num, den = pp * factor, qq * factor
    # (x - a) divides both exactly: the limit is the quotients' ratio at a
    value = sympy.Rational(num.exquo(factor).eval(a), den.exquo(factor).eval(a))
    num, den = num.as_expr(), den.as_expr()
    shown = rf"\lim_{{x \to {a}}} \frac{{{sympy.latex(num)}}}{{{sympy.latex(den)}}}"
    return Draw({"p": p, "q": q, "a": a}, tex(value), {"limit": shown})


# ----------------------------------------------------------------------------- number theory


@generator(
    "number_theory.gcd_lcm",
    "number_theory",
    (
        Knob("numbers", (2, 2, 3, 3, 4), 2, 6, "how many numbers"),
        Knob("size", (60, 200, 500, 2000, 10000), 10, 10**9, "largest number"),
    ),
    {
        "gcd": {
            "en": "What is the greatest common divisor of <numbers>?",
            "ja": "<numbers_ja> の最大公約数を求めなさい。",
        },
        "lcm": {
            "en": "What is the least common multiple of <numbers>?",
            "ja": "<numbers_ja> の最小公倍数を求めなさい。",
        },
    },
    "the gcd or lcm of a few numbers that share factors",
)
def _gcd_lcm(rng: random.Random, k: dict) -> Draw:
    variant = rng.choice(["gcd", "lcm"])
    common = rng.randint(2, max(2, int(k["size"] ** 0.5)))
    multiples = range(1, max(k["numbers"] + 1, k["size"] // common + 1))
    nums = [common * m for m in rng.sample(multiples, k["numbers"])]
    value = sympy.gcd_list(nums) if variant == "gcd" else sympy.lcm_list(nums)
    shown = ", ".join(str(n) for n in nums[:-1]) + " and " + str(nums[-1])
    shown_ja = "、".join(str(n) for n in nums)
    return Draw({"numbers": nums}, tex(value), {"numbers": shown, "numbers_ja": shown_ja},
                variant)  # fmt: skip


@generator(
    "number_theory.modpow",
    "number_theory",
    (
        Knob("exponent", (10, 50, 200, 2000, 100000), 2, 10**12, "largest exponent"),
        Knob("modulus", (10, 20, 50, 100, 1000), 2, 10**9, "largest modulus"),
    ),
    {
        "main": {
            "en": "What is the remainder when $<a>^{<b>}$ is divided by $<m>$?",
            "ja": "$<a>^{<b>}$ を $<m>$ で割った余りを求めなさい。",
        }
    },
    "a modular power",
)
def _modpow(rng: random.Random, k: dict) -> Draw:
    a = rng.randint(2, 99)
    b = rng.randint(2, k["exponent"])
    m = rng.randint(3, k["modulus"])
    value = sympy.Mod(sympy.Integer(a) ** b, m) if b < 5000 else sympy.Integer(pow(a, b, m))
    return Draw({"a": a, "b": b, "m": m}, tex(value), {"a": str(a), "b": str(b), "m": str(m)})


@generator(
    "number_theory.divisors",
    "number_theory",
    (Knob("size", (100, 500, 2000, 10000, 100000), 10, 10**12, "largest number"),),
    {
        "count": {
            "en": "How many positive divisors does $<n>$ have?",
            "ja": "$<n>$ の正の約数は全部でいくつありますか。",
        },
        "sum": {
            "en": "What is the sum of the positive divisors of $<n>$?",
            "ja": "$<n>$ の正の約数の総和を求めなさい。",
        },
    },
    "the number or the sum of the divisors of n",
)
def _divisors(rng: random.Random, k: dict) -> Draw:
    variant = rng.choice(["count", "sum"])
    n = rng.randint(12, k["size"])
    value = sympy.divisor_count(n) if variant == "count" else sympy.divisor_sigma(n)
    return Draw({"n": n}, tex(value), {"n": str(n)}, variant)


# ----------------------------------------------------------------------------- combinatorics

_LETTERS = "ABCDEFGH"


@generator(
    "combinatorics.counting",
    "combinatorics",
    (Knob("size", (6, 8, 10, 14, 20), 3, 60, "largest number of people, books or letters"),),
    {
        "choose": {
            "en": "In how many ways can a committee of <k> be chosen from <n> people?",
            "ja": "<n> 人の中から <k> 人の委員を選ぶ方法は何通りありますか。",
        },
        "arrange": {
            "en": "In how many ways can <k> of <n> different books be placed in a row on a shelf?",
            "ja": "<n> 冊の異なる本から <k> 冊を選んで棚に一列に並べる方法は何通りありますか。",
        },
        "letters": {
            "en": "How many distinct strings can be made by arranging all the letters of <word>?",
            "ja": "<word> の文字をすべて並べかえてできる異なる文字列は何通りありますか。",
        },
    },
    "combinations, permutations, and arrangements of a multiset",
)
def _counting(rng: random.Random, k: dict) -> Draw:
    variant = rng.choice(["choose", "arrange", "letters"])
    if variant == "letters":
        length = rng.randint(4, min(12, max(4, k["size"])))
        word = "".join(rng.choice(_LETTERS[: rng.randint(2, 5)]) for _ in range(length))
        counts = [word.count(c) for c in sorted(set(word))]
        value = sympy.factorial(length) / sympy.prod([sympy.factorial(c) for c in counts])
        return Draw({"word": word}, tex(value), {"word": word}, variant)
    n = rng.randint(4, k["size"])
    kk = rng.randint(2, n - 1)
    value = sympy.binomial(n, kk) if variant == "choose" else sympy.ff(n, kk)
    return Draw({"n": n, "k": kk}, tex(value), {"n": str(n), "k": str(kk)}, variant)


@generator(
    "combinatorics.dice",
    "combinatorics",
    (
        Knob("dice", (2, 2, 3, 3, 4), 1, 5, "number of dice"),
        Knob("sides", (6, 6, 6, 8, 10), 2, 20, "sides per die"),
    ),
    {
        "exactly": {
            "en": "<d> fair <s>-sided dice are rolled. What is the probability that the sum is <t>?",
            "ja": "<s> 面の公平なさいころを <d> 個投げるとき、出た目の和が <t> になる確率を求めなさい。",
        },
        "at_least": {
            "en": "<d> fair <s>-sided dice are rolled. What is the probability that the sum is at least <t>?",
            "ja": "<s> 面の公平なさいころを <d> 個投げるとき、出た目の和が <t> 以上になる確率を求めなさい。",
        },
    },
    "a probability about the sum of fair dice",
)
def _dice(rng: random.Random, k: dict) -> Draw:
    variant = rng.choice(["exactly", "at_least"])
    d, s = k["dice"], k["sides"]
    t = rng.randint(d + 1, d * s - 1) if d * s - 1 > d else d
    # the number of ways to reach each sum: the coefficients of (x + ... + x^s)^d
    poly = sympy.Poly(sum(X**i for i in range(1, s + 1)) ** d, X)
    ways = sum(
        poly.coeff_monomial(X**u) for u in range(t, d * s + 1) if variant == "at_least" or u == t
    )
    value = sympy.Rational(ways, s**d)
    return Draw({"dice": d, "sides": s, "target": t}, tex(value),
                {"d": str(d), "s": str(s), "t": str(t)}, variant)  # fmt: skip


# ----------------------------------------------------------------------------- linear algebra


@generator(
    "linear_algebra.determinant",
    "linear_algebra",
    (
        Knob("size", (2, 3, 3, 4, 5), 2, 8, "matrix size n (n x n)"),
        Knob("entries", (5, 5, 9, 9, 12), 1, 100, "largest |entry|"),
    ),
    {
        "main": {
            "en": "Compute the determinant of the matrix $<matrix>$.",
            "ja": "行列 $<matrix>$ の行列式を求めなさい。",
        }
    },
    "the determinant of an integer matrix",
)
def _determinant(rng: random.Random, k: dict) -> Draw:
    n, e = k["size"], k["entries"]
    rows = [[rng.randint(-e, e) for _ in range(n)] for _ in range(n)]
    return Draw({"matrix": rows}, tex(sympy.Matrix(rows).det()), {"matrix": _matrix_tex(rows)})


@generator(
    "linear_algebra.rank",
    "linear_algebra",
    (
        Knob("size", (3, 3, 4, 4, 5), 2, 8, "rows and columns"),
        Knob("entries", (3, 4, 4, 5, 5), 1, 20, "largest |entry| of the factors"),
    ),
    {
        "main": {
            "en": "What is the rank of the matrix $<matrix>$?",
            "ja": "行列 $<matrix>$ の階数（ランク）を求めなさい。",
        }
    },
    "the rank of a matrix built as a product of two thin integer matrices",
)
def _rank(rng: random.Random, k: dict) -> Draw:
    n, e = k["size"], k["entries"]
    r = rng.randint(1, n)
    left = sympy.Matrix(n, r, lambda i, j: rng.randint(-e, e))
    right = sympy.Matrix(r, n, lambda i, j: rng.randint(-e, e))
    rows = (left * right).tolist()
    return Draw({"matrix": rows}, tex(sympy.Matrix(rows).rank()), {"matrix": _matrix_tex(rows)})


# ----------------------------------------------------------------------------- sequences


@generator(
    "sequences.series_sum",
    "sequences",
    (
        Knob("terms", (5, 10, 20, 40, 100), 2, 10**6, "largest number of terms"),
        Knob("size", (5, 9, 15, 20, 30), 1, 1000, "largest first term and difference"),
    ),
    {
        "arithmetic": {
            "en": "An arithmetic sequence has first term <a> and common difference <d>. What is the sum of its first <n> terms?",
            "ja": "初項 <a>、公差 <d> の等差数列の初項から第 <n> 項までの和を求めなさい。",
        },
        "geometric": {
            "en": "A geometric sequence has first term <a> and common ratio <d>. What is the sum of its first <n> terms?",
            "ja": "初項 <a>、公比 <d> の等比数列の初項から第 <n> 項までの和を求めなさい。",
        },
    },
    "the sum of the first n terms of an arithmetic or geometric sequence",
)
def _series_sum(rng: random.Random, k: dict) -> Draw:
    variant = rng.choice(["arithmetic", "geometric"])
    a = _nonzero(rng, k["size"])
    if variant == "arithmetic":
        d, n = _nonzero(rng, k["size"]), rng.randint(3, k["terms"])
        value = sympy.Add(*[a + (j - 1) * d for j in range(1, n + 1)])
        shown_d = str(d)
    else:
        ratio = rng.choice([sympy.Integer(r) for r in (-3, -2, 2, 3)]
                           + [sympy.Rational(1, 2), sympy.Rational(-1, 2)])  # fmt: skip
        d, n = ratio, rng.randint(3, min(12, k["terms"]))
        value = sympy.Add(*[a * ratio ** (j - 1) for j in range(1, n + 1)])
        shown_d = f"${sympy.latex(ratio)}$" if not ratio.is_Integer else str(ratio)
    return Draw({"a": a, "d": str(d), "n": n}, tex(value),
                {"a": str(a), "d": shown_d, "n": str(n)}, variant)  # fmt: skip


@generator(
    "sequences.recurrence",
    "sequences",
    (
        Knob("index", (5, 7, 9, 12, 16), 3, 60, "largest index asked for"),
        Knob("size", (2, 3, 3, 4, 5), 1, 20, "largest |coefficient| and start value"),
    ),
    {
        "main": {
            "en": r"A sequence satisfies $a_1 = <a1>$, $a_2 = <a2>$ and $a_n = <rule>$ for $n \ge 3$. Find $a_{<k>}$.",
            "ja": r"数列 $\{a_n\}$ は $a_1 = <a1>$, $a_2 = <a2>$, $a_n = <rule>$ ($n \ge 3$) を満たす。$a_{<k>}$ を求めなさい。",
        }
    },
    "a term of a second-order linear recurrence",
)
def _recurrence(rng: random.Random, k: dict) -> Draw:
    p, q = _nonzero(rng, k["size"]), _nonzero(rng, k["size"])
    a1, a2 = 0, 0
    while a1 == a2 == 0:
        a1, a2 = rng.randint(-k["size"], k["size"]), rng.randint(-k["size"], k["size"])
    index = rng.randint(4, k["index"])
    a_n1, a_n2 = sympy.Symbol("a_{n-1}"), sympy.Symbol("a_{n-2}")
    rule = sympy.latex(p * a_n1 + q * a_n2)
    terms = [sympy.Integer(a1), sympy.Integer(a2)]
    while len(terms) < index:
        terms.append(p * terms[-1] + q * terms[-2])
    return Draw({"p": p, "q": q, "a1": a1, "a2": a2, "k": index}, tex(terms[index - 1]),
                {"a1": str(a1), "a2": str(a2), "rule": rule, "k": str(index)})  # fmt: skip


# ----------------------------------------------------------------------------- geometry


@generator(
    "geometry.triangle_area",
    "geometry",
    (Knob("size", (5, 8, 12, 20, 50), 2, 1000, "largest |coordinate|"),),
    {
        "main": {
            "en": "What is the area of the triangle with vertices $<A>$, $<B>$ and $<C>$?",
            "ja": "3 点 $<A>$, $<B>$, $<C>$ を頂点とする三角形の面積を求めなさい。",
        }
    },
    "the area of a triangle from its vertices' coordinates",
)
def _triangle_area(rng: random.Random, k: dict) -> Draw:
    s = k["size"]
    while True:
        pts = [(rng.randint(-s, s), rng.randint(-s, s)) for _ in range(3)]
        twice = sympy.Matrix([[x, y, 1] for x, y in pts]).det()
        if twice != 0:  # collinear points make no triangle
            break
    value = abs(twice) / 2
    return Draw({"vertices": pts}, tex(value),
                {"A": _point(pts[0]), "B": _point(pts[1]), "C": _point(pts[2])})  # fmt: skip


@generator(
    "geometry.distance",
    "geometry",
    (
        Knob("dimensions", (2, 2, 2, 3, 3), 2, 3, "2 (the plane) or 3 (space)"),
        Knob("size", (5, 8, 12, 20, 50), 1, 1000, "largest |coordinate|"),
    ),
    {
        "main": {
            "en": "What is the distance between the points $<P>$ and $<Q>$?",
            "ja": "2 点 $<P>$, $<Q>$ の間の距離を求めなさい。",
        }
    },
    "the distance between two points, in simplest radical form",
)
def _distance(rng: random.Random, k: dict) -> Draw:
    dims, s = k["dimensions"], k["size"]
    while True:
        p = tuple(rng.randint(-s, s) for _ in range(dims))
        q = tuple(rng.randint(-s, s) for _ in range(dims))
        if p != q:
            break
    value = sympy.geometry.Point(*p).distance(sympy.geometry.Point(*q))
    return Draw({"P": list(p), "Q": list(q)}, tex(value), {"P": _point(p), "Q": _point(q)})
