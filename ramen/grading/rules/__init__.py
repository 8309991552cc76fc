"""The rule grader: decide `correct | incorrect | undecided` from the final content alone.

The rules are sure or silent. With `rules_first` a rule `incorrect` never reaches the judge and
turns a right answer into a DPO *rejected*; a rule `correct` makes a wrong answer *chosen*. So
a rule decides only what it can decide for certain, and everything else is `undecided` and goes
to the judge:

- `incorrect` only for: no final content at all (cut inside the reasoning, or empty); another
  multiple-choice letter, or a hedge between letters; another number (not a coarser rounding of
  the reference); other exact values (integers, rationals, factorials, binomials that SymPy
  evaluates exactly); another count or other members of an all-numeric answer list.
- `correct` for: the same text after light normalisation (case, articles, trailing punctuation,
  `\\text{}`); the same number (exact, or within a relative 1e-6); the same collection (sets
  and lists of solutions in any order, tuples in order); the same value with the same unit;
  math-verify's equivalence where its known traps cannot apply (shared/reference/EVALUATION.md).
- `undecided` for the rest: free-text mismatches (synonyms), unit mismatches, tuple vs set,
  locale-ambiguous numbers (`0,111`, `3,5`), a final content with no answer marker, anything
  math-verify cannot settle.

Traps guarded: relations are split only at the top level (never at the `=` of a subscript or a
limit such as `\\sum_{k=0}^{n}`); math-verify drops units (`5 cm` = `5 mm`), lower-cases symbols
(`X` = `x`), equates an open interval with a set (`(1, 2)` = `\\{1, 2\\}`) and tiny values
(`1/2004!` = `1/2006!`), and reads `4\\sqrt(2)` as 4; its SIGALRM timeouts are off (they raise
outside the main thread) and replaced by a worker-thread timeout.

By concern: text.py (wrappers, normal form, top-level splitting), extract.py (the stated
answer), numbers.py (numbers and units), symbolic.py (math-verify), collection.py (sets, lists,
tuples), choices.py (multiple choice), compare.py (the comparison); grading here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ramen.grading.rules.choices import choice_letter, is_choice_hedge
from ramen.grading.rules.compare import compare, symbolic_equal
from ramen.grading.rules.extract import Extraction, extract, extract_answer
from ramen.grading.rules.numbers import parse_number
from ramen.grading.rules.text import normalise

Verdict = Literal["correct", "incorrect", "undecided"]

__all__ = [
    "RuleGrade",
    "Verdict",
    "Extraction",
    "choice_letter",
    "compare",
    "extract",
    "extract_answer",
    "grade",
    "parse_number",
    "symbolic_equal",
    "vote_key",
]


@dataclass(frozen=True)
class RuleGrade:
    verdict: Verdict
    # which rule decided: no_answer, no_marker, choice, choice_hedge, exact, number, unit,
    # collection, list, relation, symbolic, free_text, boxed_set
    method: str
    extracted: str | None


def grade(
    response_content: str | None, reference: str, answer_type: str = "exactMatch"
) -> RuleGrade:
    """Grade one response's final content against the reference answer."""
    if response_content is None or not response_content.strip():
        return RuleGrade("incorrect", "no_answer", None)
    ex = extract(response_content)
    if ex.answer is None:
        # a final content the rules find no answer in: the judge may still find it
        return RuleGrade("undecided", "no_marker", None)
    extracted = ex.answer
    if answer_type == "multipleChoice":
        want, got = choice_letter(reference), choice_letter(extracted)
        if want is not None:
            if got is None and is_choice_hedge(extracted):
                return RuleGrade("incorrect", "choice_hedge", extracted)  # hedging is wrong
            if got is None:
                return RuleGrade("undecided", "choice", extracted)
            return RuleGrade("correct" if got == want else "incorrect", "choice", extracted)
    same, method = compare(reference, extracted)
    if same is not True and len(ex.boxed) > 1:
        # an answer split over several \boxed{}: all of them, as a set
        together = ", ".join(ex.boxed)
        both, _ = compare(reference, together)
        if both:
            return RuleGrade("correct", "boxed_set", together)
        if same is False and both is None:
            same = None
    if same is None:
        return RuleGrade("undecided", method, extracted)
    return RuleGrade("correct" if same else "incorrect", method, extracted)


def vote_key(extracted: str | None) -> str | None:
    """The form answers are compared in for majority votes: numbers by value (`0.5`, `1/2`
    and `\\frac{1}{2}` are one vote), other answers by their normalised text."""
    if extracted is None or not extracted.strip():
        return None
    number = parse_number(extracted)
    if number is not None:
        return f"number:{number}"
    return f"text:{normalise(extracted)}"
