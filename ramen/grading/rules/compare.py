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
from ramen.grading.rules.numbers import (
    AMBIGUOUS,
    Number,
    compare_numbers,
    read_clock,
    read_number,
    split_unit,
)
from ramen.grading.rules.symbolic import SYMBOLIC_TIMEOUT_S, canonical_latex, symbolic_compare
from ramen.grading.rules.text import normalise, relation_parts, strip_prefix, strip_wrappers


def _match_unordered(refs: list[str], answers: list[str], timeout_s: float) -> bool | None:
    """Order-free match of two answer lists. False only when both are all numeric and a
    reference item has no equal (or the counts differ)."""
    numeric = all(is_numeric_item(x) for x in refs + answers)
    if len(refs) != len(answers):
        if numeric and _repeats_of(refs, answers, timeout_s):
            return None  # `1, 1, 2` against {1, 2}: a root twice, or a slip: for the judge
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


# a comma that may be a thousands separator inside a list (`3,183, 7`)
_THOUSANDS_IN_LIST = re.compile(r"\d,\d{3}(?!\d)")


def _distinct(items: list[str], timeout_s: float) -> list[str]:
    out: list[str] = []
    for item in items:
        if not any(compare(item, kept, timeout_s)[0] for kept in out):
            out.append(item)
    return out


def _repeats_of(refs: list[str], answers: list[str], timeout_s: float) -> bool:
    """Whether the two lists name the same members once repeats are removed."""
    r, a = _distinct(refs, timeout_s), _distinct(answers, timeout_s)
    if len(r) == len(refs) and len(a) == len(answers):
        return False  # no repeats on either side: simply other lists
    return len(r) == len(a) and _match_unordered(r, a, timeout_s) is True


def _compare_clocks(ref: str, ans: str) -> bool | None | str:
    """Times of day: `8:15 P.M.` is `20:15`. "skip" when neither side is one; None when one
    side only is (`20:15` against `4:3` may be a ratio)."""
    rc, ac = read_clock(ref), read_clock(ans)
    if rc is None and ac is None:
        return "skip"
    if rc is None or ac is None:
        return None
    if rc.minutes == ac.minutes and rc.meridiem == ac.meridiem:
        return True  # `08:15` against `8:15`
    r_times, a_times = rc.readings(), ac.readings()
    if r_times & a_times:
        # `8:15 P.M.` against `20:15`: the same time; `8:15` against `20:15` may be the same
        # on a 12-hour clock
        return True if len(r_times) == len(a_times) == 1 else None
    if not (rc.meridiem or ac.meridiem):
        # `20:15` against `20:30`: other times, and other ratios too; `10:20` against `5:10` are
        # other times but the same ratio: for the judge
        hours = (rc.minutes // 60, ac.minutes // 60)
        if hours[0] * ac.minutes_part == hours[1] * rc.minutes_part:
            return None
    return False


# A matrix in any bracket environment (`pmatrix`, `bmatrix`, `Bmatrix`, `matrix`, `smallmatrix`,
# an `array` inside \left[ \right] or \left( \right)); `vmatrix` is a determinant, not a matrix.
_MATRIX = re.compile(
    r"^(?:(?:\\left)?\s*[\[(]\s*)?\\begin\{(?P<env>[pbBvV]?matrix|smallmatrix|array)\}"
    r"(?:\{[^{}]*\})?(?P<body>.*?)\\end\{(?P=env)\}(?:\s*(?:\\right)?\s*[\])])?$",
    re.S,
)


def read_matrix(text: str) -> tuple[str, list[list[str]]] | None:
    """(kind, rows of cells) of a matrix written in LaTeX: kind `matrix` for every bracket
    environment, `vmatrix`/`Vmatrix` as written (a determinant or a norm)."""
    m = _MATRIX.match(text.strip())
    if not m:
        return None
    env = m.group("env")
    kind = env if env in ("vmatrix", "Vmatrix") else "matrix"
    body = m.group("body").strip()
    rows = [r for r in re.split(r"\\\\(?:\[[^\]]*\])?", body) if r.strip() or body == ""]
    return kind, [[c.strip() for c in row.split("&")] for row in rows]


def _compare_matrices(ref: str, ans: str, timeout_s: float) -> bool | None | str:
    """Matrices cell by cell, whatever their bracket environment: `pmatrix` is `bmatrix`, `0.5`
    is `\\frac{1}{2}`. "skip" when neither side is one."""
    rm, am = read_matrix(ref), read_matrix(ans)
    if rm is None and am is None:
        return "skip"
    if rm is None or am is None or rm[0] != am[0]:
        return None  # a matrix against a tuple, a determinant against a matrix: for the judge
    r_rows, a_rows = rm[1], am[1]
    if [len(x) for x in r_rows] != [len(x) for x in a_rows]:
        return False  # another shape
    results = [
        compare(x, y, timeout_s)[0]
        for r_row, a_row in zip(r_rows, a_rows, strict=True)
        for x, y in zip(r_row, a_row, strict=True)
    ]
    if any(r is False for r in results):
        return False
    return None if any(r is None for r in results) else True


def _value_of_chain(text: str) -> str | None:
    """The value a chain of equalities ends in, when what comes before it is closed
    (`\\sqrt{9} = 3`, `2 + 2 = 4`): the value it states. None otherwise."""
    operands, ops = relation_parts(text)
    if not ops or any(op != "=" for op in ops) or not operands[-1]:
        return None
    if any(re.search(r"[A-Za-z]", re.sub(r"\\[A-Za-z]+", "", x)) for x in operands[:-1]):
        return None  # `x + 1 = 3` is an equation, not a value
    return operands[-1]


def _compare_collections(ref: str, ans: str, timeout_s: float) -> bool | None | str:
    """Collections compared by kind; "skip" when neither side is one."""
    g, p = split_collection(ref), split_collection(ans)
    if g is None and p is None:
        return "skip"
    if g is None or p is None:
        return None  # a collection against a bare value
    (gb, gi), (pb, pi) = g, p
    if _THOUSANDS_IN_LIST.search(f"{ref} {ans}"):
        return None  # `\\{3,183, 7\\}`: 3183 or 3 and 183
    if gb != pb:
        half_open = {"(]", "[)"}
        if gb in half_open or pb in half_open:
            if {gb, pb} <= {"()", "[]", "(]", "[)"}:
                return False  # intervals with other ends: [0, 1) against (0, 1]
        return None  # tuple vs set, (a, b) vs [a, b]: not the same kind, for the judge
    if gb == "{}":
        if len(gi) != len(pi) and _repeats_of(gi, pi, timeout_s):
            return True  # {1, 1, 2} is the set {1, 2}
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
    matrices = _compare_matrices(r, a, timeout_s)
    if matrices != "skip":
        return matrices, "matrix"
    # answers given as lists: `x = 3 or x = 5` against `3, 5`, tuples in any order
    r_items = pm_items(r) or list_items(r)
    a_items = pm_items(a) or list_items(a)
    if len(r_items) > 1 or len(a_items) > 1:
        if _THOUSANDS_IN_LIST.search(f"{r} {a}"):
            return None, "list"  # `3,183, 92/3`: 3183 or 3 and 183
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
    clocks = _compare_clocks(r, a)
    if clocks != "skip":
        return clocks, "clock"
    # `x = 5` against `5`, `(p, q) = (3, 2)` against `(3, 2)`
    r_var, r_val = strip_prefix(r)
    a_var, a_val = strip_prefix(a)
    if r_var and a_var and r_var != a_var:
        return None, "relation"
    if r_var or a_var:
        same, _ = compare(r_val, a_val, timeout_s)
        return same, "relation"
    r_ops, a_ops = relation_parts(r), relation_parts(a)
    if bool(r_ops[1]) != bool(a_ops[1]):  # `\\sqrt{9} = 3` against 3: the value it ends in
        chain = _value_of_chain(a) if a_ops[1] else _value_of_chain(r)
        if chain is not None:
            return (compare(r, chain, timeout_s) if a_ops[1] else compare(chain, a, timeout_s))[
                0
            ], "relation"
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
    if _mathy(canonical_latex(r)) and _mathy(canonical_latex(a)):  # `infinity` is maths
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
