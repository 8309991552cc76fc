"""Comparing an answer with the reference: lists, relations, units, numbers, collections,
then symbolic equality; True or False only when sure, None (undecided) otherwise."""

from __future__ import annotations

import re

from ramen.grading.rules.collection import (
    as_set,
    is_numeric_item,
    list_items,
    pm_items,
    split_collection,
)
from ramen.grading.rules.numbers import AMBIGUOUS, Number, compare_numbers, read_number, split_unit
from ramen.grading.rules.symbolic import SYMBOLIC_TIMEOUT_S, symbolic_compare
from ramen.grading.rules.text import normalise, relation_parts, strip_prefix, strip_wrappers


def _match_unordered(refs: list[str], answers: list[str], timeout_s: float) -> bool | None:
    """Order-free match of two answer lists. False only when both are all numeric and a
    reference item has no equal (or the counts differ)."""
    numeric = all(is_numeric_item(x) for x in refs + answers)
    if len(refs) != len(answers):
        return False if numeric else None
    remaining = list(answers)
    unsure = False
    for item in refs:
        found = None
        for cand in remaining:
            same = compare(item, cand, timeout_s)[0]
            if same:
                found = cand
                break
            if same is None:
                unsure = True
        if found is None:
            return False if (numeric and not unsure) else None
        remaining.remove(found)
    return True


def _compare_collections(ref: str, ans: str, timeout_s: float) -> bool | None | str:
    """Collections compared by kind; "skip" when neither side is one."""
    g, p = split_collection(ref), split_collection(ans)
    if g is None and p is None:
        return "skip"
    if g is None or p is None:
        return None  # a collection against a bare value
    (gb, gi), (pb, pi) = g, p
    if gb != pb:
        half_open = {"(]", "[)"}
        if gb in half_open or pb in half_open:
            if {gb, pb} <= {"()", "[]", "(]", "[)"}:
                return False  # intervals with other ends: [0, 1) against (0, 1]
        return None  # tuple vs set, (a, b) vs [a, b]: not the same kind, for the judge
    if gb == "{}":
        return _match_unordered(gi, pi, timeout_s)
    if len(gi) != len(pi):
        numeric = all(is_numeric_item(x) for x in gi + pi)
        return False if numeric else None
    results = [compare(a, b, timeout_s)[0] for a, b in zip(gi, pi, strict=True)]
    if any(r is False for r in results):
        return False
    return None if any(r is None for r in results) else True


def compare(ref: str, ans: str, timeout_s: float = SYMBOLIC_TIMEOUT_S) -> tuple[bool | None, str]:
    """(same?, the rule that decided). True/False only when sure; None = undecided."""
    if normalise(ref) == normalise(ans):
        return True, "exact"
    r, a = strip_wrappers(ref), strip_wrappers(ans)
    # answers given as lists: `x = 3 or x = 5` against `3, 5`, tuples in any order
    r_items = pm_items(r) or list_items(r)
    a_items = pm_items(a) or list_items(a)
    if len(r_items) > 1 or len(a_items) > 1:
        r_set, a_set = as_set(r_items), as_set(a_items)
        r_vars = [strip_prefix(i)[0] for i in r_set]
        a_vars = [strip_prefix(i)[0] for i in a_set]
        named = [v for v in r_vars + a_vars if v]
        if named and len(set(named)) > 1:
            # x = 1, y = 2: values by variable
            if None in r_vars or None in a_vars or sorted(r_vars) != sorted(a_vars):
                return None, "list"
            rd = dict(strip_prefix(i) for i in r_set)
            ad = dict(strip_prefix(i) for i in a_set)
            if len(rd) != len(r_set) or len(ad) != len(a_set):
                return None, "list"
            results = [compare(rd[k], ad[k], timeout_s)[0] for k in rd]
            if all(results):
                return True, "list"
            return (False if False in results and None not in results else None), "list"
        same = _match_unordered(
            [strip_prefix(i)[1] for i in r_set], [strip_prefix(i)[1] for i in a_set], timeout_s
        )
        return same, "list"
    # `x = 5` against `5`, `(p, q) = (3, 2)` against `(3, 2)`
    r_var, r_val = strip_prefix(r)
    a_var, a_val = strip_prefix(a)
    if r_var and a_var and r_var != a_var:
        return None, "relation"
    if r_var or a_var:
        same, _ = compare(r_val, a_val, timeout_s)
        return same, "relation"
    r_ops, a_ops = relation_parts(r), relation_parts(a)
    if r_ops[1] or a_ops[1]:
        if r_ops[1] != a_ops[1]:
            return None, "relation"  # x > 3 against 3 < x, an equation against a value
        sides = [compare(x, y, timeout_s)[0] for x, y in zip(r_ops[0], a_ops[0], strict=True)]
        return (True if all(sides) else None), "relation"
    # units: the same unit, or nothing sure (5 cm against 50 mm, 30° against 30, 10% against 10)
    (r_num, r_unit), (a_num, a_unit) = split_unit(r), split_unit(a)
    if r_unit or a_unit:
        if r_unit == a_unit:
            return compare(r_num, a_num, timeout_s)[0], "unit"
        return None, "unit"
    # numbers
    rn, an = read_number(r), read_number(a)
    if AMBIGUOUS in (rn, an):
        return None, "number"
    if isinstance(rn, Number) and isinstance(an, Number):
        return compare_numbers(rn, an), "number"
    coll = _compare_collections(r, a, timeout_s)
    if coll != "skip":
        return coll, "collection"
    if _mathy(r) and _mathy(a):
        return symbolic_compare(r, a, timeout_s), "symbolic"
    return None, "free_text"


def _mathy(text: str) -> bool:
    """Worth a symbolic comparison: digits, LaTeX or short symbolic text, not a sentence."""
    t = re.sub(r"\\text\{[^{}]*\}", "", text)
    if re.search(r"[A-Za-z]{4,}", re.sub(r"\\[A-Za-z]+", "", t)):
        return False  # words: free text
    return bool(re.search(r"[\d\\^_+\-*/=()]|^[A-Za-z]{1,3}$", t))


def symbolic_equal(gold: str, pred: str, timeout_s: float = SYMBOLIC_TIMEOUT_S) -> bool | None:
    """The full comparison (relations, units, collections, numbers, math-verify): True / False /
    None (could not decide)."""
    return compare(gold, pred, timeout_s)[0]
