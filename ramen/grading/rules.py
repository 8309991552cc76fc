"""Rule grader: decide `correct | incorrect | undecided` from the final content alone.

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
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

Verdict = Literal["correct", "incorrect", "undecided"]

# ramen passes timeout None on purpose and enforces its own: silence math-verify's warning.
logging.getLogger("math_verify").setLevel(logging.ERROR)

REL_TOL = 1e-6  # decimals this close are the same number
NEAR_MISS_TOL = 1e-4  # decimals this close are for the judge (HLE allows "a small margin")
SYMBOLIC_TIMEOUT_S = 5.0
# A final content without an answer marker is itself the answer when it is this short and on
# one line ("42", "B", "x = 5"); a longer one is for the judge.
BARE_ANSWER_MAX_CHARS = 40


# --------------------------------------------------------------------------- extraction

# "Answer: 4", "**Answer:** 4", "Final Answer: 34", "**Final Answer**: 34", "Exact Answer: 4".
_ANSWER_LINE = re.compile(
    r"^[ \t>#]*\**[ \t]*(?:the[ \t]+)?(?:final|exact)?[ \t]*answer[ \t]*\**[ \t]*[:：][ \t]*(.*?)[ \t]*$",
    re.I | re.M,
)
# "The final answer is $10,455$." (the payload runs to the end of the sentence or line).
# "**Final Answer**" or "## Final Answer" alone on its line: the answer is the next block.
_FINAL_HEADING = re.compile(
    r"^[ \t>#]*\**[ \t]*final[ \t]+answer[ \t]*\**[ \t]*:?[ \t]*\**[ \t]*$", re.I | re.M
)
_THE_ANSWER_IS = re.compile(
    r"\b(?:the|my)\s+(?:final\s+)?answer\s+(?:is|would be|=)\s*[:：]?\s*(.+?)\s*(?:\.\s|\.?\s*$)",
    re.I | re.M,
)
_JA_ANSWER = re.compile(r"答え\s*(?:は|[:：])\s*(.+?)\s*(?:です|。|$)", re.M)


def _braced(text: str, open_at: int) -> tuple[str, int] | None:
    """The content of the `{...}` opening at `open_at`, with nested braces, and its end."""
    depth = 0
    for j in range(open_at, len(text)):
        if text[j] == "{" and (j == 0 or text[j - 1] != "\\"):
            depth += 1
        elif text[j] == "}" and (j == 0 or text[j - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : j], j + 1
    return None


def _all_boxed(text: str) -> list[tuple[int, str]]:
    """(position, content) of every `\\boxed{...}` / `\\fbox{...}`, in order."""
    out = []
    for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text):
        got = _braced(text, m.end() - 1)
        if got is not None and got[0].strip():
            out.append((m.start(), got[0].strip()))
    return out


@dataclass(frozen=True)
class Extraction:
    answer: str | None  # the stated final answer (the last marker in the text)
    boxed: tuple[str, ...]  # every \boxed{} after the last non-boxed marker, in order


_HOPE = re.compile(r"\s*I hope (?:it|this) is correct\.?\s*$", re.I)
_SENTENCE_TAIL = re.compile(
    r"^[^.]*?\s(?:is|are|equals|was|would be)\s+(?P<tail>[^\s].*?)\s*\.?$", re.I
)


def _clean_payload(text: str) -> str:
    t = _HOPE.sub("", text.strip()).strip().strip("*").strip()
    if re.search(r"[A-Za-z]{3,}\s+[A-Za-z]{2,}", re.sub(r"\$[^$]*\$", "", t)):
        # a sentence: "The largest $n$ is 34." -> "34"
        m = _SENTENCE_TAIL.match(t)
        if m and not re.search(r"\s(?:is|are)\s", m.group("tail")):
            t = m.group("tail")
    boxes = _all_boxed(t)
    if boxes:  # "Answer: $\\boxed{5}$", "The final answer is \\boxed{3} and \\boxed{5}"
        return ", ".join(b for _, b in boxes)
    inner = _THE_ANSWER_IS.search(t)
    if inner and inner.start() == 0:
        t = inner.group(1)
    return t.strip().strip("*").strip()


def extract(content: str | None) -> Extraction:
    """The answer a final content states. The marker latest in the text wins, whatever its
    kind, so an intermediate `\\boxed{}` never beats a later "The final answer is ..."."""
    if not content or not content.strip():
        return Extraction(None, ())
    found: list[tuple[int, int, str, str]] = []  # (start, end, payload, marker)
    for m in _ANSWER_LINE.finditer(content):
        if m.group(1).strip(" *"):
            found.append((m.start(), m.end(), m.group(1), "answer_line"))
    for m in _FINAL_HEADING.finditer(content):
        rest = content[m.end() :]
        block = rest.lstrip("\n").split("\n\n", 1)[0]
        if block.strip() and not _all_boxed(block):  # a box is found as a box below
            end = m.end() + len(rest) - len(rest.lstrip("\n")) + len(block)
            found.append((m.start(), end, block.strip(), "answer_line"))
    for pattern, marker in ((_THE_ANSWER_IS, "answer_is"), (_JA_ANSWER, "ja")):
        for m in pattern.finditer(content):
            found.append((m.start(), m.end(), m.group(1), marker))
    for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", content):
        got = _braced(content, m.end() - 1)
        if got is None or not got[0].strip():
            continue
        inside = [f for f in found if f[3] != "boxed" and f[0] <= m.start() < f[1]]
        if not inside:  # a box inside an answer line belongs to that line
            found.append((m.start(), got[1], got[0].strip(), "boxed"))
    if not found:
        bare = content.strip()
        if "\n" not in bare and len(bare) <= BARE_ANSWER_MAX_CHARS:
            return Extraction(_clean_payload(bare) or None, ())
        return Extraction(None, ())
    found.sort(key=lambda f: f[0])
    _, _, payload, marker = found[-1]
    last_other = max((f[0] for f in found if f[3] != "boxed"), default=-1)
    boxed = tuple(f[2] for f in found if f[3] == "boxed" and f[0] > last_other)
    answer = _clean_payload(payload)
    return Extraction(answer or None, boxed if marker == "boxed" else ())


def extract_answer(content: str | None) -> str | None:
    """The final answer in a response's final content, or None if it states none."""
    return extract(content).answer


# --------------------------------------------------------------------------- normalisation


def _strip_wrappers(text: str) -> str:
    """`$x$`, `\\(x\\)`, `\\[x\\]`, `\\boxed{x}`, `\\text{x}` (whole), `\\displaystyle`, `\\left`."""
    t = text.strip()
    for _ in range(4):
        before = t
        t = re.sub(r"(?<![.\s])\s*\.$", "", t.strip()).strip()  # a full stop, not an ellipsis
        t = re.sub(r"^\\\$\s*|\s*\\\$$", "", t)  # currency: \$16,386.20
        if len(t) >= 2 and t[0] == "$" and t[-1] == "$":
            t = t.strip("$")
        for a, b in (("\\(", "\\)"), ("\\[", "\\]")):
            if t.startswith(a) and t.endswith(b):
                t = t[len(a) : -len(b)]
        m = re.match(r"^\\(?:boxed|text|textbf|textnormal|mathrm|mathbf)\s*\{", t)
        if m:
            got = _braced(t, m.end() - 1)
            if got is not None and got[1] == len(t):
                t = got[0]
        t = re.sub(r"\\(?:displaystyle|left|right|!|;)\s*", "", t)
        t = t.replace("\\,", " ").replace("\\ ", " ").replace("~", " ")
        t = t.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
        t = re.sub(r"\s+", " ", t).strip()
        if t == before:
            break
    return t


_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.I)


def _norm(text: str) -> str:
    """Free-text form: no wrappers, `\\text{}` unwrapped, lower case, no leading article, no
    trailing punctuation or quotes."""
    t = _strip_wrappers(text)
    t = re.sub(r"\\text\{([^{}]*)\}", r"\1", t)
    if re.search(r"[^\W\d_]{3,}", t):
        t = t.lower()  # words: case does not matter; symbols (`X`, `S_3`, `AB`) keep theirs
    t = t.strip(" \"'`“”‘’*").rstrip(".!;:").strip()
    t = _ARTICLE.sub("", t)
    return re.sub(r"\s+", " ", t)


# --------------------------------------------------------------------------- top-level scanning

_OPEN, _CLOSE = "([{", ")]}"


def _depth_map(text: str) -> list[int]:
    """Bracket depth before each character (`\\{` counts as a bracket too)."""
    depths, depth = [], 0
    for ch in text:
        if ch in _CLOSE:
            depth -= 1
        depths.append(depth)
        if ch in _OPEN:
            depth += 1
    return depths


def _split_top(text: str, separators: re.Pattern) -> list[str]:
    """Split at the separators that sit at bracket depth 0."""
    depths = _depth_map(text)
    parts, last = [], 0
    for m in separators.finditer(text):
        if depths[m.start()] == 0 and (m.end() >= len(text) or depths[m.end() - 1] == 0):
            parts.append(text[last : m.start()])
            last = m.end()
    parts.append(text[last:])
    return [p.strip() for p in parts]


_RELATION = re.compile(r"\\(?:leq?|geq?|neq|ne|approx|lt|gt)(?![A-Za-z])|<=|>=|!=|=|<|>|≤|≥|≠")
_LIST_SEP = re.compile(
    r"\s*(?:;|\\text\{\s*(?:or|and|,)\s*\}|\\(?:q?quad)(?![A-Za-z])|\bor\b|\band\b|,)\s*", re.I
)
_VARIABLE = r"[A-Za-z](?:_\{?\w+\}?)?'?"
_VAR_LHS = re.compile(rf"^\s*(?:{_VARIABLE}|\(\s*{_VARIABLE}(?:\s*,\s*{_VARIABLE})+\s*\))\s*$")


def relation_parts(text: str) -> tuple[list[str], list[str]]:
    """The operands and the relations between them, split only at the top level."""
    depths = _depth_map(text)
    operands, ops, last = [], [], 0
    for m in _RELATION.finditer(text):
        if depths[m.start()] == 0:
            operands.append(text[last : m.start()].strip())
            ops.append(m.group(0))
            last = m.end()
    operands.append(text[last:].strip())
    return operands, ops


def strip_prefix(text: str) -> tuple[str | None, str]:
    """`x = 5` -> ('x', '5'); `(p, q) = (3, 2)` -> ('(p,q)', '(3, 2)'); else (None, text)."""
    m = re.fullmatch(rf"\s*({_VARIABLE})\s*\\in\s*(.+)", text)
    if m:  # x \in [-2, 7]
        return m.group(1), m.group(2)
    operands, ops = relation_parts(text)
    if ops == ["="] and _VAR_LHS.match(operands[0]) and operands[1]:
        return re.sub(r"\s+", "", operands[0]), operands[1]
    return None, text


# --------------------------------------------------------------------------- numbers

_NUM = re.compile(r"^[+-]?(?:\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_TIMES_TEN = re.compile(
    r"^([+-]?[\d.]+)\s*(?:\\times|\\cdot|×|x|\*)\s*10\s*\^\s*\{?\s*([+-]?\d+)\s*\}?$"
)


@dataclass(frozen=True)
class Number:
    value: Fraction
    decimals: int | None  # digits after the point as written; None: exact (integer, fraction)
    alternative: Fraction | None = None  # "1,234" may be 1.234 where the comma is decimal


AMBIGUOUS = "ambiguous"


def read_number(text: str) -> Number | str | None:
    """A number as written, exactly: '3/4', '0.75', '1,234', '1.2e3', '1.2 \\times 10^{3}',
    '007', '-2', '\\frac{3}{4}'. `AMBIGUOUS` for a comma that may be a decimal point and cannot
    be a thousands separator ('0,111', '3,5'); None when it is not a number."""
    if re.search(r",\s", text):
        return None  # "3, 5": a list
    if re.search(r"\d\s+\d", text) and not re.fullmatch(
        r"\s*[+-]?\d{1,3}(?: \d{3})+(?:\.\d+)?\s*", text
    ):
        return None  # "1 2" is not 12; "1 000" is 1000
    t = _strip_wrappers(text).replace(" ", "").replace("{,}", ",")
    t = t.replace("−", "-").replace("\\%", "%")
    t = re.sub(r"^(-?)\\frac\{([^{}]+)\}\{([^{}]+)\}$", r"\1\2/\3", t)
    t = re.sub(r"^(-?)\\frac(\d)(\d)$", r"\1\2/\3", t)
    if not t or not any(c.isdigit() for c in t):
        return None
    m = _TIMES_TEN.match(t)
    if m:
        base = read_number(m.group(1))
        if not isinstance(base, Number):
            return base
        return Number(base.value * Fraction(10) ** int(m.group(2)), None)
    if t.count("/") == 1:
        num, den = (read_number(x) for x in t.split("/"))
        if AMBIGUOUS in (num, den):
            return AMBIGUOUS
        if not isinstance(num, Number) or not isinstance(den, Number) or den.value == 0:
            return None
        return Number(num.value / den.value, None)
    if "," in t:
        if re.fullmatch(r"[+-]?0\d*(?:,\d+)+", t) or re.fullmatch(
            r"[+-]?\d+,\d{1,2}|[+-]?\d+,\d{4,}", t
        ):
            return AMBIGUOUS  # 0,111 / 3,5 / 2,71828: a decimal comma or a list
        if not _THOUSANDS.match(t):
            return None
        plain = t.replace(",", "")
        alt = None
        if t.count(",") == 1 and "." not in t:
            alt = Fraction(t.replace(",", "."))
        value = Fraction(plain)
        return Number(value, _decimals(plain), alt)
    if not _NUM.match(t):
        return None
    try:
        return Number(Fraction(t), _decimals(t))
    except (ValueError, ZeroDivisionError):
        return None


def _decimals(t: str) -> int | None:
    if "e" in t.lower():
        return None
    return len(t.split(".", 1)[1]) if "." in t else None


def parse_number(text: str) -> Fraction | None:
    """An exact rational for text that is unambiguously a number, else None."""
    n = read_number(text)
    return n.value if isinstance(n, Number) else None


def numbers_equal(a: Fraction, b: Fraction, rel_tol: float = REL_TOL) -> bool:
    if a == b:
        return True
    scale = max(abs(a), abs(b))
    return abs(a - b) <= rel_tol * scale


def compare_numbers(ref: Number, ans: Number) -> bool | None:
    """True: the same number; False: sure it is another; None: the answer may be the
    reference rounded to the digits it gives, or the comma may be a decimal comma."""
    if ref.value == ans.value:
        return True
    inexact = ref.decimals is not None or ans.decimals is not None
    if inexact and numbers_equal(ref.value, ans.value):
        return True
    if inexact and numbers_equal(ref.value, ans.value, NEAR_MISS_TOL):
        return None  # 0.50001 against 0.5: a near miss the judge may accept as a margin
    if ans.alternative is not None and numbers_equal(ref.value, ans.alternative):
        return None  # "1,234" against 1.234
    if ref.alternative is not None and numbers_equal(ref.alternative, ans.value):
        return None
    if ans.decimals is not None:
        # 3.14 against 3.14159, 0.333 against 1/3: a rounding of the reference to the digits
        # the answer gives, for the judge to weigh; 3.004 against 3 is simply another number
        scaled = ref.value * 10**ans.decimals
        half_ulp = Fraction(1, 2 * 10**ans.decimals)
        if scaled.denominator != 1 and abs(ref.value - ans.value) <= half_ulp:
            return None
    return False


# --------------------------------------------------------------------------- units

_UNITS = {
    "nm", "um", "μm", "mm", "cm", "m", "km", "in", "ft", "yd", "mi", "mg", "g", "kg", "t", "lb",
    "oz", "ms", "s", "sec", "min", "h", "hr", "hrs", "hours", "hour", "minutes", "seconds", "days",
    "day", "years", "year", "ml", "mL", "l", "L", "cl", "dl", "N", "kN", "J", "kJ", "MJ", "eV",
    "keV", "MeV", "GeV", "W", "kW", "MW", "V", "mV", "kV", "A", "mA", "Ω", "ohm", "ohms", "Hz",
    "kHz", "MHz", "GHz", "Pa", "kPa", "MPa", "atm", "bar", "mol", "mmol", "M", "mM", "K", "C",
    "cal", "kcal", "dB", "rad", "sr", "T", "Wb", "F", "uF", "nF", "pF", "H", "Bq", "Gy", "Sv",
    "cd", "lm", "lx", "kb", "bp", "Da", "kDa", "amu", "au", "AU", "ly", "pc", "m/s", "km/h",
    "mph", "m/s^2", "m^2", "m^3", "cm^2", "cm^3", "km^2", "ft^2", "dollars", "cents", "meters",
    "metres", "kilometers", "grams", "kilograms", "liters", "litres", "units", "degrees",
}  # fmt: skip
_UNIT_TAIL = re.compile(
    r"^(?P<num>.*?[\d}])\s*(?:\\[,;: ]\s*)*(?P<unit>\\(?:text|textnormal|mathrm|mbox|rm)\s*\{[^{}]+\}(?:\s*\^\s*\{?\d\}?)?"
    r"|[A-Za-zμΩ][A-Za-zμΩ/^0-9]*|\^\s*\{?\\circ\}?|°|\\%|%|\\degree)$"
)


def split_unit(text: str) -> tuple[str, str | None]:
    """('5', 'cm') for `5 cm`, `5\\,\\text{cm}`, `5\\mathrm{cm}`; ('30', '°') for `30^\\circ`;
    (text, None) when no unit follows a number."""
    t = _strip_wrappers(text)
    if read_number(t) is not None:
        return text, None  # `1e3`, `0,111`: a number alone
    m = _UNIT_TAIL.match(t)
    if not m or read_number(m.group("num")) is None:
        return text, None
    raw = m.group("unit")
    unit = re.sub(r"\\(?:text|textnormal|mathrm|mbox|rm)\s*\{\s*([^{}]*?)\s*\}", r"\1", raw)
    unit = unit.replace(" ", "").replace("{", "").replace("}", "")
    if unit in ("^\\circ", "°", "\\degree", "degrees"):
        unit = "°"
    if unit in ("\\%", "%", "percent", "pct"):
        unit = "%"
    letters_only = re.fullmatch(r"[A-Za-z]+", raw)
    if letters_only and raw not in _UNITS and not re.search(r"\s", t[m.start("unit") - 1 :][:1]):
        return text, None  # `5x`: an expression, not a unit
    if letters_only and raw not in _UNITS and len(raw) < 3:
        return text, None
    return m.group("num").strip(), unit


# --------------------------------------------------------------------------- symbolic


def _fix_latex(text: str) -> str:
    # `4\sqrt(2)` is parsed by math-verify as 4: give \sqrt its braces.
    return re.sub(r"\\sqrt\s*\(([^()]*)\)", r"\\sqrt{\1}", text)


def _letters(text: str) -> set[str]:
    """The letters outside LaTeX commands and \\text{}."""
    t = re.sub(r"\\[A-Za-z]+", " ", re.sub(r"\\text\{[^{}]*\}", " ", text))
    return set(re.findall(r"[A-Za-z]", t))


def _letter_runs(text: str) -> list[str]:
    """Runs of two or more letters outside LaTeX commands and \\text{}, in order."""
    t = re.sub(r"\\[A-Za-z]+", " ", re.sub(r"\\text\{[^{}]*\}", " ", text))
    return re.findall(r"[A-Za-z]{2,}", t)


def _exact_value(expr):
    """An exact SymPy number for a closed expression (factorials and binomials evaluated), or
    None when it has symbols or floats."""
    import sympy

    if not isinstance(expr, sympy.Basic) or expr.free_symbols or expr.has(sympy.Float):
        return None
    if not expr.is_number:
        return None
    value = expr.doit()
    return value if value.is_Rational else None


def _closed_number(expr) -> bool:
    """An exact closed-form constant: no symbols, no floats, no unevaluated sums or limits."""
    import sympy

    return (
        isinstance(expr, sympy.Basic)
        and expr.is_number
        and not expr.free_symbols
        and not expr.has(sympy.Float)
        and not expr.has(sympy.Sum, sympy.Product, sympy.Integral, sympy.Limit)
    )


def _plain_notation(latex: str) -> bool:
    """Only notation with one reading (no `\\log` of unstated base, no `\\sin 30` in degrees)."""
    rest = re.sub(
        r"\\(?:sqrt|frac|dfrac|tfrac|pi|cdot|times|binom|left|right)(?![A-Za-z])", "", latex
    )
    return re.fullmatch(r"[\d\s+\-*/^(){}\[\].!]*", rest) is not None


def _mv_compare(gold: str, pred: str) -> bool | None:
    """math-verify equivalence: True when it is sure they are equal; False only when both are
    exact rationals (factorials, powers, binomials evaluated) that differ; else None."""
    import sympy
    from math_verify import parse, verify

    g = parse(f"${_fix_latex(gold)}$", parsing_timeout=None)
    p = parse(f"${_fix_latex(pred)}$", parsing_timeout=None)
    if not g or not p:
        return None
    gv, pv = g[0], p[0]
    # exact numbers: decided by exact arithmetic, in both directions
    ge, pe = _exact_value(gv), _exact_value(pv)
    if ge is not None and pe is not None:
        return bool(ge == pe)
    if (
        _closed_number(gv)
        and _closed_number(pv)
        and _plain_notation(gold)
        and _plain_notation(pred)
    ):
        # 2\sqrt{3} against 3\sqrt{2}: exact constants whose values differ are different
        a, b = sympy.N(gv, 50), sympy.N(pv, 50)
        if a.is_real and b.is_real:
            scale = max(abs(a), abs(b))
            if scale != 0 and abs(a - b) / scale > 1e-12:
                return False
    if isinstance(gv, sympy.Set | sympy.Interval) != isinstance(pv, sympy.Set | sympy.Interval):
        return None
    if not verify(g, p, timeout_seconds=None):
        return None
    if (
        isinstance(gv, sympy.Basic)
        and isinstance(pv, sympy.Basic)
        and gv.is_number
        and pv.is_number
    ):
        # tiny values: math-verify rounds them equal; compare by relative error at 50 digits
        a, b = sympy.N(gv, 50), sympy.N(pv, 50)
        if a.is_real and b.is_real and a != b:
            scale = max(abs(a), abs(b))
            if scale != 0 and abs(a - b) / scale > REL_TOL:
                return None
    return True


_POOL: concurrent.futures.ThreadPoolExecutor | None = None


def _forget_pool() -> None:
    global _POOL
    _POOL = None  # a forked child has the pool object but not its thread


os.register_at_fork(after_in_child=_forget_pool)
_BASE_NOTATION = re.compile(r"[\dA-Fa-f]_\{?\d+\}?")


def symbolic_compare(gold: str, pred: str, timeout_s: float = SYMBOLIC_TIMEOUT_S) -> bool | None:
    """math-verify in a worker thread with a timeout; None = could not decide.

    A stuck SymPy call cannot be killed: its thread is abandoned and a fresh pool is used."""
    global _POOL
    if _BASE_NOTATION.search(gold) or _BASE_NOTATION.search(pred):
        return None  # 204_5 is a base-5 numeral; math-verify reads it as 204
    if _letter_runs(gold) != _letter_runs(pred):
        return None  # `ab` against `ba`: words read as products of symbols
    if _letters(gold) != _letters(pred) and {c.lower() for c in _letters(gold)} == {
        c.lower() for c in _letters(pred)
    }:
        return None  # `X` against `x`: math-verify lower-cases symbols
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = _POOL.submit(_mv_compare, gold, pred)
    try:
        return future.result(timeout=timeout_s)
    except concurrent.futures.TimeoutError:
        _POOL.shutdown(wait=False, cancel_futures=True)
        _POOL = None
        return None
    except Exception:  # noqa: BLE001 - a parser crash means "cannot decide", not a verdict
        return None


def symbolic_equal(gold: str, pred: str, timeout_s: float = SYMBOLIC_TIMEOUT_S) -> bool | None:
    """The full comparison (relations, units, collections, numbers, math-verify): True / False /
    None (could not decide)."""
    return compare(gold, pred, timeout_s)[0]


# --------------------------------------------------------------------------- comparison

_BRACKETS = {"(": ")", "[": "]", "{": "}"}


def _split_collection(text: str) -> tuple[str, list[str]] | None:
    """('()', items) for a bracketed collection whose brackets enclose the whole text."""
    t = _strip_wrappers(text).replace("\\{", "{").replace("\\}", "}")
    t = t.replace("\\lbrace", "{").replace("\\rbrace", "}")
    if len(t) < 2 or t[0] not in _BRACKETS or t[-1] not in ")]}":
        return None
    depths = _depth_map(t)
    if any(d == 0 for d in depths[1:-1]):
        return None  # `(1,2),(3,4)`: a list of two, not one collection
    inner = t[1:-1]
    if not inner.strip():
        return t[0] + t[-1], []
    items = _split_top(inner, re.compile(r","))
    if any(not i for i in items):
        return None
    return t[0] + t[-1], items


def _is_numeric_item(text: str) -> bool:
    if isinstance(read_number(text), Number):
        return True
    c = _split_collection(text)
    return c is not None and bool(c[1]) and all(_is_numeric_item(i) for i in c[1])


def _match_unordered(refs: list[str], answers: list[str], timeout_s: float) -> bool | None:
    """Order-free match of two answer lists. False only when both are all numeric and a
    reference item has no equal (or the counts differ)."""
    numeric = all(_is_numeric_item(x) for x in refs + answers)
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
    g, p = _split_collection(ref), _split_collection(ans)
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
        numeric = all(_is_numeric_item(x) for x in gi + pi)
        return False if numeric else None
    results = [compare(a, b, timeout_s)[0] for a, b in zip(gi, pi, strict=True)]
    if any(r is False for r in results):
        return False
    return None if any(r is None for r in results) else True


def _list_items(text: str) -> list[str]:
    """A multi-answer list at the top level: `3, 5`, `x = 3 or x = 5`, `(1,2); (3,4)`."""
    t = _strip_wrappers(text)
    if isinstance(read_number(t), Number) or read_number(t) == AMBIGUOUS:
        return [t]
    items = [i for i in _split_top(t, _LIST_SEP) if i]
    return items if len(items) > 1 else [t]


def _pm_items(text: str) -> list[str] | None:
    """`\\pm 3` -> ['3', '-3']."""
    t = _strip_wrappers(text)
    m = re.fullmatch(r"\\pm\s*(.+)", t)
    if m and isinstance(read_number(m.group(1)), Number):
        return [m.group(1), f"-{m.group(1)}"]
    return None


def compare(ref: str, ans: str, timeout_s: float = SYMBOLIC_TIMEOUT_S) -> tuple[bool | None, str]:
    """(same?, the rule that decided). True/False only when sure; None = undecided."""
    if _norm(ref) == _norm(ans):
        return True, "exact"
    r, a = _strip_wrappers(ref), _strip_wrappers(ans)
    # answers given as lists: `x = 3 or x = 5` against `3, 5`, tuples in any order
    r_items = _pm_items(r) or _list_items(r)
    a_items = _pm_items(a) or _list_items(a)
    if len(r_items) > 1 or len(a_items) > 1:
        r_set, a_set = _as_set(r_items), _as_set(a_items)
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


def _as_set(items: list[str]) -> list[str]:
    """A single set `{a, b}` compared against an unbracketed list reads as its members."""
    if len(items) == 1:
        c = _split_collection(items[0])
        if c is not None and c[0] == "{}":
            return c[1]
    return items


def _mathy(text: str) -> bool:
    """Worth a symbolic comparison: digits, LaTeX or short symbolic text, not a sentence."""
    t = re.sub(r"\\text\{[^{}]*\}", "", text)
    if re.search(r"[A-Za-z]{4,}", re.sub(r"\\[A-Za-z]+", "", t)):
        return False  # words: free text
    return bool(re.search(r"[\d\\^_+\-*/=()]|^[A-Za-z]{1,3}$", t))


# --------------------------------------------------------------------------- multiple choice

_LETTER = re.compile(r"^(?:\(\s*([A-Za-z])\s*\)|([A-Za-z])(?=[.:)]|$))")
_HEDGE = re.compile(r"^\(?[A-Za-z]\)?\s*(?:,|/|\bor\b|\band\b)\s*\(?[A-Za-z]\)?(?:[\s.,)]|$)", re.I)


def is_choice_hedge(text: str) -> bool:
    """'A or B', 'A/B', 'B, C', 'A and B': more than one letter offered as the answer."""
    return bool(_HEDGE.match(text.strip().strip("*$").strip()))


def choice_letter(text: str) -> str | None:
    """'B', '(B)', 'b', 'B. 2', 'B)' -> 'B'. A letter is never taken from a word: 'I believe
    it is C' -> None. A hedge like 'A or B' -> None."""
    t = _strip_wrappers(text.strip().strip("*$").strip()).strip("*").strip()
    t = re.sub(r"^(?:option|choice)\s+", "", t, flags=re.I)
    m = _LETTER.match(t)
    if not m:
        return None
    rest = t[m.end() :]
    if re.search(r"\b(or|and|/)\s*\(?[A-Za-z]\b\)?", rest, re.I) or re.match(
        r"^\s*,\s*[A-Za-z]\b", rest
    ):
        return None  # a hedge between letters is not an answer
    return (m.group(1) or m.group(2)).upper()


# --------------------------------------------------------------------------- grading


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
    return f"text:{_norm(extracted)}"
