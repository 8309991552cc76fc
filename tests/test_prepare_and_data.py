"""Bundled data and the prepare stage: bad rows go to rejects with reasons."""

import json

import pytest

from ramen import bundled
from ramen.launch.recipe import recipe_from_dict
from ramen.launch.runner import Runner
from ramen.launch.stages import STAGES
from ramen.testing import fixtures
from ramen.testing.problems import split_problems

pytestmark = pytest.mark.unit


def test_bundled_files_are_what_the_generator_writes(tmp_path):
    fixtures.write_all(tmp_path)
    for name in ("problems.jsonl", "hle_fixture.jsonl", "dna_fixture.jsonl", "heldout.jsonl"):
        assert (tmp_path / name).read_bytes() == (bundled.DATA_DIR / name).read_bytes(), name


def test_bundled_problems_are_held_back_from_tiny_training():
    held, train = split_problems()
    assert len(held) >= 300
    assert not {p.question for p in held} & {p.question for p in train}
    assert {p.category for p in held} == {"arithmetic", "algebra", "number_theory", "calculus"}


def test_the_held_out_set_is_never_a_curation_candidate():
    """heldout.jsonl: 400 generator problems in none of problems.jsonl or the HLE fixture."""
    rows = [json.loads(x) for x in open(bundled.DATA_DIR / "heldout.jsonl")]
    questions = {r["question"] for r in rows}
    assert len(rows) == len(questions) == 400
    for other in ("problems.jsonl", "hle_fixture.jsonl"):
        theirs = {json.loads(x).get("question") for x in open(bundled.DATA_DIR / other)}
        assert not questions & theirs, other
    assert {r["category"] for r in rows} == {"arithmetic", "algebra", "number_theory"}
    assert max(len(r["question"].split()) for r in rows) < 13  # n-gram 13: exact copies only


def test_the_tiny_family_never_trains_on_a_held_out_problem():
    """The tiny family's training pool (ramen/testing/tiny_build.py trains weak, strong, judge and the
    extras on split_problems()[1]) holds no held-out question: the demo's held-out comparison
    measures problems the models never saw."""
    _, train = split_problems()
    trained = {p.question for p in train}
    held = {json.loads(x)["question"] for x in open(bundled.DATA_DIR / "heldout.jsonl")}
    assert len(held) == 400 and not held & trained
    # the HLE fixture's generator maths stay in the pool (its two bundled ones do not)
    fixture = {json.loads(x)["question"] for x in open(bundled.DATA_DIR / "hle_fixture.jsonl")}
    assert len(fixture & trained) == 14


def test_fixture_schemas():
    hle = [json.loads(x) for x in open(bundled.DATA_DIR / "hle_fixture.jsonl")]
    assert all(
        set(r) == {"id", "question", "answer", "answer_type", "category", "image"} for r in hle
    )
    assert {r["answer_type"] for r in hle} == {"exactMatch", "multipleChoice"}
    dna = [json.loads(x) for x in open(bundled.DATA_DIR / "dna_fixture.jsonl")]
    assert all(
        set(r) == {"id", "risk_area", "types_of_harm", "specific_harms", "question"} for r in dna
    )
    assert len({r["risk_area"] for r in dna}) == 5


def test_prepare_rejects_bad_rows_with_reasons(tmp_path):
    src = tmp_path / "rows.jsonl"
    lines = [
        json.dumps({"q": "What is 1 + 1?", "a": 2, "cat": "arithmetic"}),
        json.dumps({"q": "", "a": "1"}),
        json.dumps({"a": "1"}),
        json.dumps({"q": "What is NaN?", "a": float("nan")}),
        json.dumps({"q": "A list?", "a": [1, 2]}),
        json.dumps({"q": "Closed model row", "a": "3", "gen": "gpt-4o"}),
        json.dumps({"q": "Wrong licence row", "a": "3", "lic": "proprietary"}),
        json.dumps({"q": 12, "a": "3"}),
        '{"q": "torn line", "a": ',
        json.dumps(["not", "an", "object"]),
    ]
    src.write_bytes(("\n".join(lines) + "\n").encode() + b'{"q": "\xff\xfe bad bytes", "a": "1"}\n')
    r = recipe_from_dict(
        {
            "name": "p",
            "workdir": str(tmp_path / "runs"),
            "data": {
                "sources": [
                    {
                        "path": str(src),
                        "licence": "mit",
                        "fields": {
                            "question": "q",
                            "answer": "a",
                            "category": "cat",
                            "generator": "gen",
                            "licence": "lic",
                        },
                    }
                ],
                "allow_licences": ["mit"],
                "forbid_generators": ["gpt"],
            },
        }
    )
    Runner(r, STAGES).run()
    out = tmp_path / "runs" / "p" / "prepare"
    kept = [json.loads(x) for x in open(out / "data.jsonl")]
    assert [k["question"] for k in kept] == ["What is 1 + 1?"]
    assert (
        kept[0]["answer"] == "2"
        and kept[0]["category"] == "arithmetic"
        and kept[0]["licence"] == "mit"
    )
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rejected"] == {
        "answer_not_finite": 1,
        "answer_not_text": 1,
        "forbidden_generator": 1,
        "invalid_json": 1,
        "invalid_utf8": 1,
        "licence_not_allowed": 1,
        "missing_question": 2,
        "not_an_object": 1,
        "question_not_text": 1,
    }
    assert stats["input"] == 11 and stats["kept"] == 1
    rejects = [json.loads(x) for x in open(out / "rejects.jsonl")]
    assert all(r["reason"] and r["source"] == str(src) for r in rejects)


def test_each_problem_is_solved_two_ways_that_reach_its_answer():
    """The tiny solvers learn every problem (calculus aside) both in one line and in small
    steps (ramen/testing/problems.py _in_steps); each step is a true equation and the last one's value
    is the problem's answer, recomputed here with Python's arithmetic, not SymPy's."""
    import re

    from ramen.testing.problems import all_problems

    equation = re.compile(r"(-?\d+)([-+*])(\d+)=(-?\d+)")
    ops = {"+": int.__add__, "-": int.__sub__, "*": int.__mul__}
    two_ways = 0
    for p in all_problems():
        if p.category == "calculus":
            assert p.steps is None
            continue
        assert re.split(r"[=+]", p.reasoning)[-1] == p.answer, p  # "17+8=25", "37=7*5+2"
        steps = equation.findall(p.steps)
        assert "Step: " in p.steps and len(steps) == 2, p
        for a, op, b, value in steps:
            assert ops[op](int(a), int(b)) == int(value), (p, a, op, b, value)
        assert steps[-1][3] == p.answer, p
        two_ways += 1
    assert two_ways == 800 + 380 + 240
