"""Rule grader unit cases, including the known traps of math-verify (reference/EVALUATION.md)."""

import threading

import pytest

from ramen.grading.rules import (
    choice_letter,
    extract_answer,
    grade,
    parse_number,
    symbolic_equal,
)
from ramen.inference.parsing import split_think

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Explanation: 2+2\nAnswer: 4\nConfidence: 90%", "4"),
        ("Answer: 3\nwait\nAnswer: 5\nConfidence: 80%", "5"),  # the last Answer: line wins
        ("Explanation: x\nConfidence: 70%", None),  # the confidence line is not an answer
        ("so we get \\boxed{\\frac{1}{2}} at last", "\\frac{1}{2}"),
        ("first \\boxed{1} then \\boxed{{2}}", "{2}"),
        ("Thus the answer is 42.", "42"),
        ("計算すると、答えは 12 です", "12"),
        ("答え: 7", "7"),
        ("**Answer:** B", "B"),
        ("", None),
        (None, None),
    ],
)
def test_extraction(text, expected):
    assert extract_answer(text) == expected


def test_split_think():
    assert split_think("<think>\n1+1=2\n</think>\n\nAnswer: 2") == ("1+1=2", "Answer: 2")
    assert split_think("<think>\n1+1=2 and then") == (
        "1+1=2 and then",
        None,
    )  # cut inside reasoning
    assert split_think("1+1=2\n</think>\nAnswer: 2") == (
        "1+1=2",
        "Answer: 2",
    )  # template pre-filled <think>
    assert split_think("still thinking", prefilled_think=True) == ("still thinking", None)
    assert split_think("Answer: 2") == ("", "Answer: 2")


def test_grading_reads_only_final_content():
    _, content = split_think("<think>Answer: 5</think>\nAnswer: 4")
    assert grade(content, "5").verdict == "incorrect"
    _, content = split_think("<think>Answer: 5 is it")
    assert grade(content, "5") == grade(None, "5")
    assert grade(None, "5").verdict == "incorrect" and grade(None, "5").method == "no_answer"


@pytest.mark.parametrize("given", ["B", "(B)", "b", "B. 2", "B)", "**B**", "\\text{B}"])
def test_choice_matches(given):
    assert choice_letter(given) == "B"
    assert grade(f"Answer: {given}", "B", "multipleChoice").verdict == "correct"


@pytest.mark.parametrize("hedge", ["A or B", "A/B", "B, C", "A and B"])
def test_choice_hedge_is_not_an_answer(hedge):
    got = grade(f"Answer: {hedge}", "B", "multipleChoice")
    assert (got.verdict, got.method) == ("incorrect", "choice_hedge")


def test_choice_wrong_letter():
    assert grade("Answer: C", "B", "multipleChoice").verdict == "incorrect"


@pytest.mark.parametrize(
    "text, value",
    [
        ("3/4", (3, 4)),
        ("0.75", (3, 4)),
        ("1,234", (1234, 1)),
        ("1.2e3", (1200, 1)),
        ("007", (7, 1)),
        ("-2", (-2, 1)),
        ("1.2 \\times 10^{3}", (1200, 1)),
        ("\\frac{3}{4}", (3, 4)),
        ("12.", (12, 1)),
    ],
)
def test_numbers_parse_exactly(text, value):
    from fractions import Fraction

    assert parse_number(text) == Fraction(*value)


@pytest.mark.parametrize(
    "given, ref, verdict",
    [
        ("0.5", "1/2", "correct"),
        ("1,000", "1000", "correct"),
        ("1e3", "1000", "correct"),
        ("007", "7", "correct"),
        ("3.0000000001", "3", "correct"),  # within the small relative tolerance
        ("3.01", "3", "incorrect"),
        ("12", "13", "incorrect"),
    ],
)
def test_numbers(given, ref, verdict):
    assert grade(f"Answer: {given}", ref).verdict == verdict


def test_math_verify_trap_tiny_values():
    assert symbolic_equal("\\frac{1}{2004!}", "\\frac{1}{2006!}") is False
    assert grade("Answer: \\frac{1}{2006!}", "\\frac{1}{2004!}").verdict != "correct"


def test_math_verify_trap_sqrt_parentheses():
    assert grade("Answer: 4\\sqrt(2)", "4").verdict != "correct"
    assert grade("Answer: 4\\sqrt(2)", "4\\sqrt{2}").verdict == "correct"


def test_math_verify_trap_plain_text_equations():
    assert grade("Answer: a - b = 3", "x + y = 3").verdict != "correct"
    assert grade("Answer: x = 5", "5").verdict == "correct"


def test_symbolic_equivalence():
    assert grade("Answer: x(x+2)", "x^2+2x").verdict == "correct"
    assert grade("Answer: \\frac{\\sqrt 2}{2}", "\\sqrt{2}/2").verdict == "correct"


def test_symbolic_runs_outside_the_main_thread():
    out = {}
    t = threading.Thread(
        target=lambda: out.setdefault("v", grade("Answer: x(x+2)", "x^2+2x").verdict)
    )
    t.start()
    t.join(30)
    assert out["v"] == "correct"


@pytest.mark.parametrize(
    "given, ref, verdict",
    [
        ("\\{2, 1\\}", "\\{1, 2\\}", "correct"),  # sets ignore order
        ("(2, 1)", "(1, 2)", "incorrect"),  # tuples do not
        ("(1, 2, 3)", "(1, 2)", "incorrect"),
        ("[0, 1)", "[0,1)", "correct"),
        ("(0, 1]", "[0, 1]", "incorrect"),
        ("(1/2, 3)", "(0.5, 3)", "correct"),
    ],
)
def test_collections(given, ref, verdict):
    assert grade(f"Answer: {given}", ref).verdict == verdict


def test_free_text_mismatch_goes_to_the_judge():
    g = grade("Answer: the powerhouse of the cell", "mitochondrion")
    assert g.verdict == "undecided" and g.extracted == "the powerhouse of the cell"
    assert grade("Answer: Mitochondrion.", "mitochondrion").verdict == "correct"
