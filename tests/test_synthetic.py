"""SymPy problem generators (curation/generators.py) and the synthetic source kind, source row
filters and weighted source mixing (curation/prepare.py).

Each generator's answers are checked by a computation written here that does not go through
its SymPy path: exact fractions, brute force, substitution back into the question's
equations. The reference answers must also be what ramen's rule grader reads: a boxed copy is
`correct`, a boxed wrong value never is.
"""

import itertools
import json
import math
import random
import re
from fractions import Fraction

import pytest
from conftest import cli

from ramen.curation.generators import REGISTRY
from ramen.curation.synthetic import synthetic_rows
from ramen.mix import draw_mix

# ----------------------------------------------------------------------------- reading answers


def value(text: str):
    """An answer's value: a Fraction, or ("sqrt", k, m) for k sqrt(m)."""
    text = text.strip()
    if m := re.fullmatch(r"(-?)\s*\\frac\{(\d+)\}\{(\d+)\}", text):
        num, den = int(m[2]), int(m[3])
        assert math.gcd(num, den) == 1 and den > 1, f"{text}: not in lowest terms"
        return Fraction(-num if m[1] else num, den)
    if re.fullmatch(r"-?\d+", text):
        return Fraction(int(text))
    if m := re.fullmatch(r"(\d+)?\s*\\sqrt\{(\d+)\}", text):
        return ("sqrt", int(m[1] or 1), int(m[2]))
    raise AssertionError(f"unreadable answer {text!r}")


def values(text: str) -> list:
    inner = text[1:-1] if text.startswith("(") else text
    return [value(part) for part in inner.split(",")]


def poly_mul(a: list[int], b: list[int]) -> list[int]:
    out = [0] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            out[i + j] += x * y
    return out


def poly_at(coeffs: list, x) -> Fraction:  # lowest power first
    return sum(Fraction(c) * Fraction(x) ** i for i, c in enumerate(coeffs))


def gauss(rows: list[list]) -> tuple[Fraction, int]:
    """(determinant of a square matrix or 0, rank) by exact elimination."""
    m = [[Fraction(x) for x in row] for row in rows]
    det, rank, col = Fraction(1), 0, 0
    n_rows, n_cols = len(m), len(m[0])
    for col in range(n_cols):
        pivot = next((r for r in range(rank, n_rows) if m[r][col] != 0), None)
        if pivot is None:
            det = Fraction(0)
            continue
        if pivot != rank:
            m[rank], m[pivot] = m[pivot], m[rank]
            det = -det
        det *= m[rank][col]
        for r in range(rank + 1, n_rows):
            f = m[r][col] / m[rank][col]
            m[r] = [a - f * b for a, b in zip(m[r], m[rank], strict=True)]
        rank += 1
    return (det if rank == n_rows == n_cols else Fraction(0)), rank


def divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def check(name: str, meta: dict, answer: str) -> None:
    """Assert that `answer` is right for the problem `meta` describes."""
    p, variant = meta["params"], meta["template"].split("/")[1]
    if name == "arithmetic.expression":
        want = eval(re.sub(r"\d+", lambda m: f"Fraction({m[0]})", p["expression"]))  # noqa: S307
        assert value(answer) == want
    elif name == "arithmetic.fractions":
        want = Fraction(*p["fractions"][0])
        for sign, (a, b) in zip(p["signs"], p["fractions"][1:], strict=True):
            want += Fraction(a, b) if sign == "+" else -Fraction(a, b)
        assert value(answer) == want
    elif name == "algebra.linear_equation":
        x = value(answer)
        assert p["a"] * x + p["b"] == p["c"] * x + p["d"] and p["a"] != p["c"]
    elif name == "algebra.coefficient":
        prod = [1]
        for _ in range(p["n"]):
            prod = poly_mul(prod, [p["b"], p["a"]])
        prod = poly_mul(prod, [p["d"], p["c"]])
        want = prod[p["k"]] if p["k"] < len(prod) else 0
        assert value(answer) == want
    elif name == "equations.quadratic":
        a, b, c = p["coefficients"]
        roots = values(answer)
        assert len(roots) == 2 and roots[0] < roots[1]
        assert all(a * r * r + b * r + c == 0 for r in roots)
    elif name == "equations.linear_system":
        xs = values(answer)
        assert len(xs) == len(p["matrix"])
        for row, rhs in zip(p["matrix"], p["rhs"], strict=True):
            assert sum(Fraction(c) * x for c, x in zip(row, xs, strict=True)) == rhs
        assert gauss(p["matrix"])[1] == len(xs)  # the solution is unique
    elif name == "calculus.derivative_at":
        f = [1]
        for _ in range(p["power"]):
            f = poly_mul(f, p["coefficients"])
        derivative = [i * c for i, c in enumerate(f)][1:]
        assert value(answer) == poly_at(derivative, p["x0"])
    elif name == "calculus.definite_integral":
        a, b = p["a"], p["b"]
        want = sum(Fraction(c, i + 1) * (b ** (i + 1) - a ** (i + 1)) for i, c in enumerate(p["coefficients"]))  # fmt: skip
        assert value(answer) == want
    elif name == "calculus.limit":
        a = p["a"]
        assert poly_at(p["q"], a) != 0
        assert value(answer) == poly_at(p["p"], a) / poly_at(p["q"], a)
    elif name == "number_theory.gcd_lcm":
        nums = p["numbers"]
        want = math.gcd(*nums) if variant == "gcd" else math.lcm(*nums)
        assert value(answer) == want and len(set(nums)) == len(nums)
    elif name == "number_theory.modpow":
        assert value(answer) == pow(p["a"], p["b"], p["m"])
    elif name == "number_theory.divisors":
        ds = divisors(p["n"])
        assert value(answer) == (len(ds) if variant == "count" else sum(ds))
    elif name == "combinatorics.counting":
        if variant == "letters":
            word = p["word"]
            want = (
                len(set(itertools.permutations(word)))
                if len(word) <= 8
                else math.factorial(len(word))
                // math.prod(math.factorial(word.count(c)) for c in set(word))
            )
        elif variant == "choose":
            want = math.comb(p["n"], p["k"])
        else:
            want = math.perm(p["n"], p["k"])
        assert value(answer) == want
    elif name == "combinatorics.dice":
        d, s, t = p["dice"], p["sides"], p["target"]
        rolls = list(itertools.product(range(1, s + 1), repeat=d))
        hits = sum((sum(r) == t) if variant == "exactly" else (sum(r) >= t) for r in rolls)
        assert value(answer) == Fraction(hits, len(rolls))
    elif name == "linear_algebra.determinant":
        assert value(answer) == gauss(p["matrix"])[0]
    elif name == "linear_algebra.rank":
        assert value(answer) == gauss(p["matrix"])[1]
    elif name == "sequences.series_sum":
        a, d, n = Fraction(p["a"]), Fraction(p["d"]), p["n"]
        terms = [a + i * d for i in range(n)] if variant == "arithmetic" else [a * d**i for i in range(n)]  # fmt: skip
        assert value(answer) == sum(terms)
    elif name == "sequences.recurrence":
        seq = [p["a1"], p["a2"]]
        while len(seq) < p["k"]:
            seq.append(p["p"] * seq[-1] + p["q"] * seq[-2])
        assert value(answer) == seq[p["k"] - 1]
    elif name == "geometry.triangle_area":
        (x1, y1), (x2, y2), (x3, y3) = p["vertices"]
        twice = abs((x2 - x1) * (y3 - y1) - (x3 - x1) * (y2 - y1))
        assert twice and value(answer) == Fraction(twice, 2)
    elif name == "geometry.distance":
        squared = sum((a - b) ** 2 for a, b in zip(p["P"], p["Q"], strict=True))
        got = value(answer)
        if isinstance(got, tuple):  # k sqrt(m), m square-free and not 1: simplest radical form
            _, k, m = got
            assert k * k * m == squared and m > 1
            assert all(m % (f * f) for f in range(2, math.isqrt(m) + 1))
        else:
            assert got * got == squared
    else:
        raise AssertionError(f"no independent check for {name}: add one")


def draws(name: str, seeds: int):
    gen = REGISTRY[name]
    for i in range(seeds):
        level = 1 + i % 5
        rng = random.Random(f"test:{name}:{i}")
        yield gen.fn(rng, gen.knob_values(level)), level


# ----------------------------------------------------------------------------- generators


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_answer_checks_out_on_a_thousand_seeds(name):
    """1000 seeds (200 at each difficulty): the answer, computed by SymPy, agrees with a
    computation that does not use SymPy."""
    for draw, _ in draws(name, 1000):
        meta = {"params": json.loads(json.dumps(_plain(draw.params))),
                "template": f"{name}/{draw.variant}/en"}  # fmt: skip
        check(name, meta, draw.answer)


def _plain(params):
    from ramen.curation.synthetic import plain

    return plain(params)


@pytest.mark.unit
def test_every_category_the_issue_names_has_a_generator_with_both_languages():
    cats = {g.category for g in REGISTRY.values()}
    assert cats == {"arithmetic", "algebra", "equations", "calculus", "number_theory",
                    "combinatorics", "linear_algebra", "sequences", "geometry"}  # fmt: skip
    for g in REGISTRY.values():
        assert g.knobs, g.name
        for variant, text in g.templates.items():
            assert set(text) == {"en", "ja"}, (g.name, variant)
            assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", text["ja"]), (g.name, variant)


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_answers_check_out_and_the_rule_grader_reads_them(name):
    from ramen.grading.rules import grade

    gen = REGISTRY[name]
    for i, (draw, _) in enumerate(draws(name, 40)):
        meta = {"params": _plain(draw.params), "template": f"{name}/{draw.variant}/en"}
        check(name, meta, draw.answer)
        for lang in ("en", "ja"):
            question = gen.render(draw, lang)
            assert not re.search(r"<[a-z_0-9]+>", question), f"unfilled placeholder: {question}"
        if i < 8:  # the rule grader: its own answer boxed is correct, a wrong one never
            assert (
                grade(f"The answer is \\boxed{{{draw.answer}}}.", draw.answer).verdict == "correct"
            )
            wrong = "(0, 0, 0, 0, 0, 0)" if draw.answer.startswith("(") else "123456789"
            assert grade(f"\\boxed{{{wrong}}}", draw.answer).verdict != "correct", draw.answer


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_a_harder_level_asks_a_harder_question(name):
    """Difficulty 5 against 1 on the same seeds: longer questions (more terms, digits, rows)."""
    gen = REGISTRY[name]
    length = {}
    for level in (1, 5):
        texts = [gen.render(gen.fn(random.Random(f"k:{i}"), gen.knob_values(level)), "en")
                 for i in range(30)]  # fmt: skip
        length[level] = sum(map(len, texts)) / len(texts)
    assert length[5] > length[1], length


@pytest.mark.unit
def test_a_knob_says_what_it_does():
    gen = REGISTRY["equations.linear_system"]
    for unknowns in (2, 4):
        draw = gen.fn(random.Random(1), gen.knob_values(1, {"unknowns": unknowns}))
        assert len(values(draw.answer)) == unknowns
    gen = REGISTRY["linear_algebra.determinant"]
    draw = gen.fn(random.Random(1), gen.knob_values(1, {"size": 5}))
    assert len(draw.params["matrix"]) == 5


class _Src:
    def __init__(self, **kw):
        self.generators, self.languages, self.difficulty = [], ["en"], 2
        self.knobs, self.count = {}, 40
        self.__dict__.update(kw)


@pytest.mark.unit
def test_the_same_seed_gives_the_same_problems_and_a_generator_added_changes_no_other():
    one = list(synthetic_rows(_Src(generators=["algebra"], languages=["en", "ja"]), 7, {}))
    again = list(synthetic_rows(_Src(generators=["algebra"], languages=["en", "ja"]), 7, {}))
    other = list(synthetic_rows(_Src(generators=["algebra"], languages=["en", "ja"]), 8, {}))
    assert one == again and one != other
    assert len(one) == 40 and len({r[0]["question"] for r in one}) == 40
    assert {r[0]["meta"]["language"] for r in one} == {"en", "ja"}
    assert {r[0]["category"] for r in one} == {"algebra"}
    more = list(synthetic_rows(_Src(generators=["algebra", "geometry"], languages=["en", "ja"],
                                    count=80), 7, {}))  # fmt: skip
    algebra = [r[0]["question"] for r in more if r[0]["category"] == "algebra"]
    assert sorted(algebra) == sorted(r[0]["question"] for r in one)


@pytest.mark.unit
def test_an_exhausted_parameter_space_is_counted_not_hidden():
    report: dict = {}
    src = _Src(generators=["combinatorics.counting"], difficulty=1, count=500,
               knobs={"combinatorics.counting": {"size": 4}})  # fmt: skip
    rows = list(synthetic_rows(src, 0, report))
    assert report["requested"] == 500 and len(rows) < 500
    assert report["short"]["combinatorics.counting"] == 500 - len(rows)


# ----------------------------------------------------------------------------- recipes


def _recipe(tmp_path, sources: str) -> str:
    path = tmp_path / "r.yaml"
    path.write_text(f"name: syn\nseed: 3\ndata:\n  sources:\n{sources}")
    return str(path)


@pytest.mark.unit
@pytest.mark.parametrize(
    "source, says",
    [
        ("{synthetic: sympy}", "needs `count`"),
        ("{synthetic: sympy, count: 5, generators: [algebra.nope]}", "unknown generator `algebra.nope`"),
        ("{synthetic: sympy, count: 5, knobs: {algebra.linear_equation: {size: 1}}}", "out of range"),
        ("{synthetic: sympy, count: 5, knobs: {algebra.linear_equation: {sizes: 3}}}", "has no knob `sizes`"),
        ("{synthetic: sympy, count: 5, generators: [algebra], knobs: {geometry.distance: {size: 3}}}", "does not use"),
        ("{synthetic: sympy, count: 5, generators: [gens.py:bad]}", "must return a non-empty string `answer`"),
        ("{synthetic: sympy, count: 5, generators: [gens.py:boom]}", "raised ZeroDivisionError"),
        ("{synthetic: sympy, count: 5, generators: [gens.py:missing]}", "has no function `missing`"),
        ("{synthetic: sympy, count: 5, generators: [nofile.py:f]}", "generator file not found"),
        ("{synthetic: sympy, path: x.jsonl, count: 5}", "got path and synthetic"),
        ("{path: x.jsonl}", "`licence` is required"),
        ("{path: x.jsonl, licence: mit, count: 3}", "`count` is for synthetic"),
        ("{path: x.jsonl, licence: mit, weight: 0}", "greater than 0"),
        ("{synthetic: sympy, count: 5}\n    - {synthetic: sympy, count: 9}", "both synthetic:all@2"),
    ],
)  # fmt: skip
def test_a_bad_synthetic_source_exits_2_with_one_line(tmp_path, monkeypatch, source, says):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gens.py").write_text(
        "def bad(rng, difficulty):\n    return {'question': 'q', 'category': 'x'}\n"
        "def boom(rng, difficulty):\n    return 1 / 0\n"
    )
    out = cli("validate", _recipe(tmp_path, f"    - {source}\n"))
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "data.sources" in lines[0], lines


@pytest.mark.unit
def test_prepare_mixes_filters_and_generates(tmp_path, monkeypatch):
    """Row filters on a NuminaMath-shaped file, a user generator, and a 3:1 mix of two
    synthetic sources: the shares hold, everything left out is a reject with its reason, and
    a second run writes the same rows."""
    monkeypatch.chdir(tmp_path)
    rows = [
        {"problem": "Prove that 2 is prime.", "answer": "proof", "question_type": "proof",
         "problem_is_valid": "Yes"},
        {"problem": "What is 2 + 3?", "answer": "5", "question_type": "math-word-problem",
         "problem_is_valid": "Yes"},
        {"problem": "What is 4 + 4?", "answer": "notfound", "question_type": "math-word-problem",
         "problem_is_valid": "Yes"},
        {"problem": "What is 9 - 3?", "answer": "6", "question_type": "math-word-problem",
         "problem_is_valid": "No"},
        {"problem": "What is 7 * 6?", "answer": "42", "question_type": "math-word-problem"},
    ]  # fmt: skip
    (tmp_path / "numina.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "gens.py").write_text(
        "def double(rng, difficulty):\n    n = rng.randint(1, 10**6)\n"
        "    return {'question': f'What is twice {n}?', 'answer': str(2 * n),\n"
        "            'category': 'arithmetic', 'params': {'n': n}}\n"
    )
    recipe = _recipe(tmp_path, """\
    - {path: numina.jsonl, licence: apache-2.0, fields: {question: problem},
       drop: {question_type: proof, answer: [proof, notfound]}, keep: {problem_is_valid: Yes}}
    - {synthetic: sympy, count: 90, generators: [calculus, "gens.py:double"], weight: 3,
       languages: [en, ja]}
    - {synthetic: sympy, count: 90, generators: [number_theory], weight: 1, seed: 11}
""")  # fmt: skip
    out = cli("run", recipe, f"workdir={tmp_path / 'runs'}", "--stages", "prepare")
    assert out.returncode == 0, out.stdout + out.stderr
    stage = tmp_path / "runs" / "syn" / "prepare"
    stats = json.loads((stage / "stats.json").read_text())
    kept = [json.loads(line) for line in (stage / "data.jsonl").open()]
    rejects = [json.loads(line) for line in (stage / "rejects.jsonl").open()]
    numina = [r for r in kept if r["source"] == "numina.jsonl"]
    assert [r["question"] for r in numina] == ["What is 2 + 3?"]
    reasons = sorted(r["reason"] for r in rejects if r["source"] == "numina.jsonl")
    assert reasons == ["filtered_drop:answer", "filtered_drop:question_type",
                       "filtered_keep:problem_is_valid", "filtered_keep:problem_is_valid"]  # fmt: skip
    # 90 of the 3-weight source, 30 of the 1-weight one: 3:1, the rest rejects
    a, b = "synthetic:calculus+gens.py:double@2", "synthetic:number_theory@2,seed=11"
    assert stats["mix"][a] == {"weight": 3.0, "available": 90, "taken": 90}
    assert stats["mix"][b] == {"weight": 1.0, "available": 90, "taken": 30}
    assert sum(r["source"] == b for r in kept) == 30
    assert sum(r["reason"] == "over_mix_share" for r in rejects) == 60
    assert stats["input"] == len(kept) + len(rejects)
    syn = [r for r in kept if r["source"] == a]
    assert {r["generator"] for r in syn} == {"sympy", "python:gens.py:double"}
    assert {r["licence"] for r in syn} == {"cc0-1.0"}
    user = next(r for r in syn if r["generator"].startswith("python:"))
    assert user["meta"]["params"]["n"] * 2 == int(user["answer"])
    made = next(r for r in syn if r["generator"] == "sympy")
    assert made["meta"]["template"].startswith(made["meta"]["synthetic"] + "/")
    check(made["meta"]["synthetic"], made["meta"], made["answer"])
    # the same recipe again, in another folder: the same rows
    again = cli("run", recipe, f"workdir={tmp_path / 'again'}", "--stages", "prepare")
    assert again.returncode == 0
    assert (tmp_path / "again" / "syn" / "prepare" / "data.jsonl").read_bytes() == (
        stage / "data.jsonl"
    ).read_bytes()
    # a changed generator file reruns prepare
    (tmp_path / "gens.py").write_text((tmp_path / "gens.py").read_text() + "\n# changed\n")
    dry = cli("run", recipe, f"workdir={tmp_path / 'runs'}", "--stages", "prepare", "--dry-run")
    assert "prepare: run" in dry.stdout, dry.stdout


@pytest.mark.unit
@pytest.mark.parametrize(
    "cell, wanted, match",
    [
        ("Yes", "Yes", True), ("Yes", True, True), ("no", False, True), ("Yes", False, False),
        ("5", 5, True), (5, "5", True), (5, 5, True), (None, None, True), (None, "None", False),
        (True, "True", False), (1, True, False), ("proof", "proof ", True), ("x", "y", False),
    ],
)  # fmt: skip
def test_a_filter_value_matches_as_yaml_wrote_it(cell, wanted, match):
    from ramen.curation.config import SourceSpec
    from ramen.curation.prepare import row_filter

    src = SourceSpec(path="x.jsonl", licence="mit", keep={"c": wanted})
    assert (row_filter({"c": cell}, src) is None) is match


@pytest.mark.unit
@pytest.mark.parametrize(
    "available, weights, want",
    [
        ({"a": 100, "b": 100}, {"a": 1, "b": 1}, {"a": 100, "b": 100}),
        ({"a": 100, "b": 10}, {"a": 1, "b": 1}, {"a": 10, "b": 10}),
        ({"a": 100, "b": 100}, {"a": 3, "b": 1}, {"a": 100, "b": 33}),
        ({"a": 7, "b": 100, "c": 100}, {"a": 0.5, "b": 0.25, "c": 0.25}, {"a": 7, "b": 4, "c": 3}),
        ({"a": 0, "b": 100}, {"a": 1, "b": 1}, {"a": 0, "b": 100}),  # said in stats.json
    ],
)
def test_a_mix_keeps_the_shares(available, weights, want):
    drawn = draw_mix(available, weights, 0)
    assert {k: len(v) for k, v in drawn.items()} == want
    assert all(v == sorted(set(v)) and all(0 <= i < available[k] for i in v)
               for k, v in drawn.items())  # fmt: skip
    assert draw_mix(available, weights, 0) == drawn
