"""What the question says about its answer: a form it asks for ("factor completely", "in lowest
terms", "因数分解せよ"), that the answer is a percentage, the options of a multiple-choice
question. The rules read the question only to be more careful (a form asked for) or to read the
answer as the question meant it (an option's text, a percentage); never to guess."""

from __future__ import annotations

import re

from ramen.grading.rules.symbolic import canonical_latex
from ramen.grading.rules.text import depth_map, strip_wrappers

# Questions that ask for a form of the answer, not only its value: an equal expression in
# another form (a partly factored product, the expanded polynomial, 6/8 for 3/4) is not the
# answer they ask for. English, Japanese and Chinese.
_FORM_ASKED = re.compile(
    r"\bfactor(?:i[sz]e)?\b(?!\s+of\b)|\bfactor(?:i[sz]e)?d\b|\bfactori[sz]ation\b|"
    r"\bsimplif(?:y|ied|ies)\b|\bsimplest\b|\blowest terms\b|\breduced (?:form|fraction)\b|"
    r"\bexpand(?:ed)?\b|\binterval notation\b|\bset[- ]builder\b|\bradical form\b|"
    r"\bstandard form\b|\bvertex form\b|\bslope[- ]intercept\b|\bpoint[- ]slope\b|"
    r"\bscientific notation\b|\bmixed number\b|\bimproper fraction\b|\bcommon fraction\b|"
    r"\bas an? (?:fraction|decimal|integer)\b|\bin terms of\b|"
    r"\brationali[sz]e\b|\bin the form\b|\bpartial fractions?\b|\bcompletely\b|"
    r"因数分解|因式分解|簡単にし|簡単にせよ|簡単な形|最も簡単|既約分数|展開し|展開せよ|展開した|"
    r"区間で|有理化|の形で|分数で|小数で|帯分数|仮分数|化简|最简|展开|分解因式",
    re.I,
)
# a question that asks for a percentage (not one that mentions one: "after a 20% discount,
# what was the price?" asks for a price)
_PERCENT = re.compile(
    r"\b(?:what|which|how much)\b[^.?!\n]{0,40}?\bpercent(?:age)?s?\b|"
    r"\b(?:as|in) (?:an? )?percent(?:age)?s?\b|\bfind the percent(?:age)?\b|"
    r"\bpercent(?:age)? (?:change|increase|decrease|error|yield)\b|"
    r"何パーセント|何%|何％|百分率で|百分之几",
    re.I,
)
_OPTION = re.compile(r"^[ \t]*\(?([A-Z])[.):][ \t]+(.+?)[ \t]*$", re.M)


def asked_form(question: str) -> str | None:
    """The words of the question that ask for a form of the answer, or None."""
    m = _FORM_ASKED.search(question or "")
    return m.group(0) if m else None


# a unit as the question may name it: the symbol itself (2 letters or more), or its words
_UNIT_WORDS = {
    "dollars": ("dollar", "$", "usd"), "cents": ("cent",), "cm": ("centimeter", "centimetre"),
    "m": ("meter", "metre"), "km": ("kilometer", "kilometre"), "mm": ("millimeter", "millimetre"),
    "kg": ("kilogram",), "g": ("gram",), "mg": ("milligram",), "s": ("second",),
    "sec": ("second",), "seconds": ("second",), "min": ("minute",), "minutes": ("minute",),
    "h": ("hour",), "hr": ("hour",), "hours": ("hour",), "days": ("day",), "day": ("day",),
    "years": ("year",), "year": ("year",), "L": ("liter", "litre"), "l": ("liter", "litre"),
    "ml": ("milliliter", "millilitre"), "mL": ("milliliter", "millilitre"), "°": ("degree", "°"),
    "mph": ("mph", "miles per hour"), "km/h": ("km/h", "kilometers per hour"),
    "m/s": ("m/s", "meters per second"), "ft": ("foot", "feet"), "in": ("inch",),
    "miles": ("mile",), "mi": ("mile",), "lb": ("pound",), "oz": ("ounce",),
}  # fmt: skip


_WORD_LIKE = {"in", "min", "day", "year", "hr", "au", "pc", "cd"}  # symbols that are words too


def names_unit(question: str, unit: str) -> bool:
    """Whether the question names `unit` (its symbol, or one of its words): then an answer in
    that unit is in the question's unit."""
    q = question or ""
    if (
        len(unit) >= 2
        and unit not in _WORD_LIKE
        and re.search(rf"(?<![A-Za-z]){re.escape(unit)}(?![A-Za-z])", q)
    ):
        return True
    for word in _UNIT_WORDS.get(unit, ()):
        pattern = re.escape(word) if not word[0].isalpha() else rf"\b{re.escape(word)}(?:s|es)?\b"
        if re.search(pattern, q, re.I):
            return True
    return False


def asks_percent(question: str) -> bool:
    return bool(_PERCENT.search(question or ""))


def options(question: str) -> dict[str, str]:
    """The options of a multiple-choice question, letter -> text: lines `A. ...`, `(B) ...`,
    `C) ...`, lettered from A without gaps; {} when there are fewer than two."""
    found: dict[str, str] = {}
    for m in _OPTION.finditer(question or ""):
        letter = m.group(1)
        if letter in found:
            return {}  # two lists of options: which one is meant is not for rules
        found[letter] = m.group(2)
    letters = sorted(found)
    if len(letters) < 2 or letters != [chr(ord("A") + i) for i in range(len(letters))]:
        return {}
    return found


# --------------------------------------------------------------------------- forms


def _frac_to_slash(t: str) -> str:
    for _ in range(4):
        new = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", t)
        if new == t:
            break
        t = new
    return t


def form_key(text: str) -> str:
    """The written form of an expression with what does not change it removed: spacing,
    `\\cdot` and `*` against juxtaposition, `\\frac{a}{b}` against `a/b`, the order of the
    terms of a sum and of the factors of a product. `(x+2)(x+1)` and `(x + 1)(x + 2)` have one
    form; `(x+1)(x+2)`, `x^2+3x+2` and `2(x+1)` against `2x+2` have two each."""
    t = canonical_latex(strip_wrappers(text))
    t = _frac_to_slash(t.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac"))
    t = t.replace("\\cdot", "*").replace("\\times", "*")
    t = re.sub(r"\s+", "", t).replace("{", "(").replace("}", ")").replace("*", "")
    t = re.sub(r"\((\w)\)", r"\1", t)  # (2)/(3) -> 2/3, x^(2) -> x^2
    return _canon(t)


def _split_at(t: str, at: str) -> list[str]:
    depths = depth_map(t)
    parts, last = [], 0
    for i, ch in enumerate(t):
        if ch in at and depths[i] == 0 and i > 0 and t[i - 1] not in "^(/":
            parts.append(t[last:i])
            last = i
    parts.append(t[last:])
    return [p for p in parts if p]


def _canon(t: str) -> str:
    terms = _split_at(t, "+-")
    if len(terms) > 1:
        signed = [x if x[0] in "+-" else "+" + x for x in terms]
        return "".join(sorted(_canon_factors(x[0], x[1:]) for x in signed))
    return _canon_factors("", t)


def _canon_factors(sign: str, t: str) -> str:
    """A product's factors sorted: the parenthesised groups (with their exponents), and what is
    outside them as written."""
    groups, rest, i = [], "", 0
    depths = depth_map(t)
    while i < len(t):
        if t[i] == "(" and depths[i] == 0:
            j = i + 1
            while j < len(t) and not (t[j] == ")" and depths[j] == 0):
                j += 1
            inner = "(" + _canon(t[i + 1 : j]) + ")"
            m = re.match(r"\^(\w|\([^()]*\))", t[j + 1 :])
            if m:
                inner += m.group(0)
                j += len(m.group(0))
            groups.append(inner)
            i = j + 1
        else:
            rest += t[i]
            i += 1
    if "/" in rest:
        return sign + rest + "".join(groups)  # a quotient keeps its order
    return sign + rest + "".join(sorted(groups))
