"""Rule grading spread over worker processes gives the parent's verdicts."""

import pytest

pytestmark = pytest.mark.slow


def test_worker_processes_grade_like_the_parent():
    """The symbolic worker thread does not survive a fork: a forked grader must start its own
    (a dead inherited pool made every symbolic row time out into `undecided`)."""
    from ramen.grading.grader import rule_grades

    rows = [
        {"id": str(i), "question": "q", "answer": ref, "response": f"Answer: {given}"}
        for i, (ref, given) in enumerate(
            [("x^2+2x", "x(x+2)"), ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}")] * 40
        )
    ]
    in_parent = rule_grades(rows, 1)  # the parent's pool exists before the fork
    assert {g.verdict for g in in_parent} == {"correct"}
    assert rule_grades(rows, 2) == in_parent
