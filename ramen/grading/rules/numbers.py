"""Numbers and units: a number read exactly as written (fractions, decimals, thousands
separators, scientific notation; a decimal comma is ambiguous), compared with the rounding it
states; a trailing unit split off."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from ramen.grading.rules.text import strip_wrappers

REL_TOL = 1e-6  # decimals this close are the same number
NEAR_MISS_TOL = 1e-4  # decimals this close are for the judge (HLE allows "a small margin")

_REPEATING = re.compile(r"^([+-]?)(\d*)\.(\d*)\\overline\{(\d+)\}$")
_MIXED = re.compile(r"^([+-]?)(\d+)\s+(\d+)\s*/\s*(\d+)$")
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
    if (
        not _MIXED.match(strip_wrappers(text))
        and re.search(r"\d\s+\d", text)
        and not re.fullmatch(r"\s*[+-]?\d{1,3}(?: \d{3})+(?:\.\d+)?\s*", text)
    ):
        return None  # "1 2" is not 12; "1 000" is 1000; "2 1/3" is a mixed number (below)
    if re.fullmatch(r"\s*[+-]?\d+\s*\\[dt]?frac\s*\{\s*\d+\s*\}\s*\{\s*\d+\s*\}\s*", text):
        return AMBIGUOUS  # `2\\frac{1}{3}`: a mixed number (7/3) or a product (2/3)
    m = _REPEATING.match(strip_wrappers(text).replace(" ", ""))
    if m:  # 0.\overline{3} = 1/3, 1.2\overline{45}: exactly the fraction it repeats to
        sign, whole, fixed, period = m.group(1), m.group(2) or "0", m.group(3), m.group(4)
        base = Fraction(int(whole + fixed), 10 ** len(fixed))
        tail = Fraction(int(period), (10 ** len(period) - 1) * 10 ** len(fixed))
        return Number(-(base + tail) if sign == "-" else base + tail, None)
    m = _MIXED.match(strip_wrappers(text))
    if m:  # `2 1/3` (plain text): two and a third
        whole, num, den = (int(x) for x in m.group(2, 3, 4))
        if den == 0:
            return None
        value = whole + Fraction(num, den)
        return Number(-value if m.group(1) == "-" else value, None)
    t = strip_wrappers(text).replace(" ", "").replace("{,}", ",")
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
        exponent = int(m.group(2))
        return Number(base.value * Fraction(10) ** exponent, (base.decimals or 0) - exponent)

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
    """The decimal places a number states: `0.25` 2; in scientific notation those of its
    mantissa shifted by its exponent (`1.66666666667e-1` states 12, `3e8` -8: a rounding to
    hundreds of millions); None for an integer (exact)."""
    mantissa, e, exponent = t.lower().partition("e")
    places = len(mantissa.split(".", 1)[1]) if "." in mantissa else (0 if e else None)
    if not e:
        return places
    return (places or 0) - int(exponent)


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
    if ref.decimals is not None and ans.decimals is None:
        # 6.022e23 against a reference of 6.02e23: the answer rounds to the digits the
        # reference gives, for the judge to weigh
        if abs(ref.value - ans.value) <= Fraction(1, 2) / Fraction(10) ** ref.decimals:
            return None
    if ans.decimals is not None and ref.decimals is not None and ans.decimals > ref.decimals:
        if abs(ref.value - ans.value) <= Fraction(1, 2) / Fraction(10) ** ref.decimals:
            return None  # more digits than the rounded reference, the same at its digits
    if ans.decimals is not None:
        # 3.14 against 3.14159, 0.333 against 1/3: a rounding of the reference to the digits
        # the answer gives, for the judge to weigh; 3.004 against 3 is simply another number
        scaled = ref.value * Fraction(10) ** ans.decimals
        half_ulp = Fraction(1, 2) / Fraction(10) ** ans.decimals
        if scaled.denominator != 1 and abs(ref.value - ans.value) <= half_ulp:
            return None
    return False


@dataclass(frozen=True)
class Clock:
    minutes: int  # after midnight
    minutes_part: int  # the minutes as written (`20:15` -> 15), for the ratio reading
    meridiem: bool  # a.m. or p.m. stated

    def readings(self) -> set[int]:
        """The times it can be: `20:15` one; `8:15` without a.m. or p.m. two (8:15 or 20:15 on a
        12-hour clock)."""
        hours, minutes = divmod(self.minutes, 60)
        if self.meridiem or not 1 <= hours <= 12:
            return {self.minutes}
        return {hours % 12 * 60 + minutes, (hours % 12 + 12) * 60 + minutes}


_CLOCK = re.compile(
    r"^(\d{1,2})(?::(\d{2}))?(?::\d{2})?\s*(?:\\text\{\s*)?"
    r"(?:([ap])\.?\s?m\.?)?(?:\s*\})?$",
    re.I,
)


def read_clock(text: str) -> Clock | None:
    """A time of day as written: `20:15`, `8:15 P.M.`, `8:15\\text{ pm}`, `8 pm`, `12:00 a.m.`;
    None for anything else (`8` alone, `4:3`, `25:00`)."""
    m = _CLOCK.match(strip_wrappers(text))
    if not m or (m.group(2) is None and m.group(3) is None):
        return None
    hours, minutes = int(m.group(1)), int(m.group(2) or 0)
    if minutes >= 60:
        return None
    if m.group(3):
        if not 1 <= hours <= 12:
            return None
        hours = hours % 12 + (12 if m.group(3).lower() == "p" else 0)
    elif hours > 24:
        return None
    return Clock(hours * 60 + minutes, minutes, bool(m.group(3)))


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


_NOT_UNITS = {"e", "i", "d"}  # upright e, i, d: Euler's number, the imaginary unit, a differential


def split_unit(text: str) -> tuple[str, str | None]:
    """('5', 'cm') for `5 cm`, `5\\,\\text{cm}`, `5\\mathrm{cm}`; ('30', '°') for `30^\\circ`;
    (text, None) when no unit follows a number."""
    t = strip_wrappers(text)
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
    if unit in _NOT_UNITS:
        return text, None  # `2\\mathrm{i}`, `3\\mathrm{e}`: a constant set upright, not a unit
    letters_only = re.fullmatch(r"[A-Za-z]+", raw)
    if letters_only and raw not in _UNITS and not re.search(r"\s", t[m.start("unit") - 1 :][:1]):
        return text, None  # `5x`: an expression, not a unit
    if letters_only and raw not in _UNITS and len(raw) < 3:
        return text, None
    return m.group("num").strip(), unit
