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
from ramen.grading.rules.numbers import parse_number, split_unit
from ramen.grading.rules.question import (
    asked_form,
    asks_percent,
    form_key,
    names_unit,
    options,
)
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
    response_content: str | None,
    reference: str,
    answer_type: str = "exactMatch",
    question: str = "",
) -> RuleGrade:
    """Grade one response's final content against the reference answer. The question, when
    given, makes the rules more careful (a form it asks for is compared as a form) and reads
    the answer as it meant (an option's text for its letter, a number for a percentage)."""
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
                got = _option_named(extracted, question)  # the option's text, not its letter
            if got is None:
                return RuleGrade("undecided", "choice", extracted)
            return RuleGrade("correct" if got == want else "incorrect", "choice", extracted)
    same, method = compare(reference, extracted)
    if same is None and method == "unit" and asks_percent(question):
        same, method = _percent(reference, extracted), "percent"
    elif same is None and method == "unit" and question:
        same = _in_units_asked(reference, extracted, question)
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
    form = asked_form(question)
    if same and form and method != "exact" and form_key(reference) != form_key(extracted):
        # "factor completely": an equal value in another form is not what was asked for
        return RuleGrade("undecided", "form", extracted)
    return RuleGrade("correct" if same else "incorrect", method, extracted)


def _option_named(answer: str, question: str) -> str | None:
    """The letter of the one option of the question whose text the answer gives; None when
    no option, or more than one, is the same."""
    same = [letter for letter, text in options(question).items() if compare(text, answer)[0]]
    return same[0] if len(same) == 1 else None


def _in_units_asked(reference: str, answer: str, question: str) -> bool | None:
    """`18 dollars` (or `$18`) against 18 when the question asks in dollars: the unit is the
    question's, so the numbers decide. None when the unit is not one the question names."""
    (r_num, r_unit), (a_num, a_unit) = split_unit(reference), split_unit(answer)
    if (r_unit is None) == (a_unit is None):
        return None  # both with units (compared already) or neither
    unit = r_unit or a_unit
    if unit == "%" or not names_unit(question, unit):
        return None
    return compare(r_num, a_num)[0]


def _percent(reference: str, answer: str) -> bool | None:
    """A question that asks for a percentage: `25\\%` against 25 is the same number. False only
    when the bare side is neither the percentage nor its fraction (`0.25` may be 25%)."""
    (r_num, r_unit), (a_num, a_unit) = split_unit(reference), split_unit(answer)
    if {r_unit, a_unit} != {"%", None}:
        return None
    r, a = parse_number(r_num), parse_number(a_num)
    if r is None or a is None:
        return None
    same = compare(r_num, a_num)[0]
    if same:
        return True
    bare, pct = (r, a) if r_unit is None else (a, r)
    if compare(str(bare), str(pct / 100))[0] is not False:
        return None  # 0.25 against 25%: the fraction the percentage is
    return same


def vote_key(extracted: str | None) -> str | None:
    """The form answers are compared in for majority votes: numbers by value (`0.5`, `1/2`
    and `\\frac{1}{2}` are one vote), other answers by their normalised text."""
    if extracted is None or not extracted.strip():
        return None
    number = parse_number(extracted)
    if number is not None:
        return f"number:{number}"
    return f"text:{normalise(extracted)}"
