"""The rule grader against a corpus written for this project (tests/corpus/grading.jsonl).

Each case has the true verdict and whether rules should be able to decide it. The rules may
say `undecided` for anything (the judge then decides), but a decision must be the truth: zero
wrong decisions, and at least 85% of the rule-decidable cases decided. The classes cover the
failure classes outside suites found (shared/reference/EVALUATION.md) and the known traps of
math-verify. The test prints every wrong decision, every missed decidable case and coverage
per class, so a regression shows its class at once.
"""

import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from ramen.grading.rules import grade
from ramen.io import iter_jsonl

pytestmark = pytest.mark.unit

CORPUS = Path(__file__).parent / "corpus" / "grading.jsonl"
MIN_COVERAGE = 0.85


def _run():
    cases = list(iter_jsonl(CORPUS))
    results = []
    for case in cases:
        got = grade(
            case["content"], case["reference"], case["answer_type"], case.get("question", "")
        )
        results.append((case, got))
    return cases, results


def test_corpus_is_large_and_balanced():
    cases = list(iter_jsonl(CORPUS))
    assert len(cases) >= 300
    assert len({c["id"] for c in cases}) == len(cases)
    truths = Counter(c["truth"] for c in cases)
    assert set(truths) == {"correct", "incorrect"} and min(truths.values()) >= 100
    per_class = Counter(c["class"] for c in cases)
    assert min(per_class.values()) >= 4, per_class
    # the classes of issue 37 (outside suites' findings): at least 10 cases each
    second_pass = ("upright_constant", "form_request", "clock", "rounded_reference",
                   "repeated_list", "equals_value", "plain_text_math", "answer_marker",
                   "answer_marker_choice", "matrix", "polynomial", "percent", "option_text",
                   "unit_in_question",
                   "unknown_command")  # fmt: skip
    assert all(per_class[c] >= 10 for c in second_pass), per_class
    # the form class asks in English and Japanese
    forms = [c.get("question", "") for c in cases if c["class"] == "form_request"]
    assert any(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", q) for q in forms)


def test_rules_are_sure_or_silent():
    cases, results = _run()
    wrong, missed = [], []
    per_class: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # decided, decidable
    for case, got in results:
        decided = got.verdict != "undecided"
        if decided and got.verdict != case["truth"]:
            wrong.append((case, got))
        if case["rule_decidable"]:
            per_class[case["class"]][1] += 1
            per_class[case["class"]][0] += decided
            if not decided:
                missed.append((case, got))
    decidable = sum(c["rule_decidable"] for c in cases)
    covered = sum(d for d, _ in per_class.values())
    for case, got in wrong:
        print(
            f"WRONG {case['id']}: ref {case['reference']!r} content {case['content']!r} "
            f"-> {got.verdict} ({got.method}, extracted {got.extracted!r}); truth {case['truth']}"
        )
    for case, got in missed:
        print(
            f"missed {case['id']}: ref {case['reference']!r} content {case['content']!r} "
            f"-> {got.method}, extracted {got.extracted!r}"
        )
    wrong_by_class = Counter(case["class"] for case, _ in wrong)
    for cls in sorted({c["class"] for c in cases}):
        d, n = per_class[cls]
        print(f"{cls:20s} decided {d}/{n}, wrong {wrong_by_class[cls]}")
    print(
        f"coverage {covered}/{decidable} = {covered / decidable:.1%}; wrong decisions {len(wrong)}"
    )
    assert not wrong, f"{len(wrong)} wrong decisions (printed above)"
    assert covered / decidable >= MIN_COVERAGE
