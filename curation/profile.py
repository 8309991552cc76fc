"""A profile of a whole table of rows: value counts of categorical fields and length
percentiles, computed over every row (a viewer's first page once showed a team one value of a
"domain" column that had several)."""

from __future__ import annotations

from array import array
from collections import Counter

# A field with more distinct values than this is reported by its distinct count and top values.
MAX_DISTINCT = 1000
TOP = 20
PERCENTILES = (0, 50, 90, 99, 100)


def percentiles(values: array) -> dict[str, int]:
    """Nearest-rank percentiles (p0 = min, p100 = max) of a list of lengths."""
    if not values:
        return {}
    ordered = sorted(values)
    out = {}
    for p in PERCENTILES:
        rank = max(0, min(len(ordered) - 1, -(-p * len(ordered) // 100) - 1))
        out[f"p{p}"] = ordered[rank]
    return out


class Profile:
    """Feed rows with `add`; `result()` is the JSON-able profile."""

    def __init__(self, categorical: tuple[str, ...], lengths: tuple[str, ...]):
        self.rows = 0
        self.categorical = categorical
        self.counts: dict[str, Counter] = {}
        self.overflow: set[str] = set()
        self.lengths: dict[str, array] = {k: array("q") for k in lengths}

    def _count(self, field: str, value: object) -> None:
        if value is None:
            value = "(none)"
        if not isinstance(value, str | int | bool):
            return
        counter = self.counts.get(field)
        if counter is None:
            counter = self.counts[field] = Counter()
        key = value if isinstance(value, str) else str(value)
        if key in counter or len(counter) < MAX_DISTINCT:
            counter[key] += 1
        else:
            self.overflow.add(field)
            counter["(other values)"] += 1

    def add(self, row: dict, **lengths: int | None) -> None:
        self.rows += 1
        for field in self.categorical:
            self._count(field, row.get(field))
        for key, value in (row.get("meta") or {}).items():
            if isinstance(value, str | bool):
                self._count(f"meta.{key}", value)
        for key, value in lengths.items():
            if value is not None:
                self.lengths[key].append(value)

    def merge(self, other: Profile) -> None:
        """Add another profile's rows (a worker's chunk) to this one."""
        self.rows += other.rows
        for field, counter in other.counts.items():
            for value, count in counter.items():
                mine = self.counts.get(field)
                if mine is None:
                    mine = self.counts[field] = Counter()
                if value in mine or len(mine) < MAX_DISTINCT:
                    mine[value] += count
                else:
                    self.overflow.add(field)
                    mine["(other values)"] += count
        self.overflow |= other.overflow
        for key, values in other.lengths.items():
            self.lengths[key].extend(values)

    def result(self) -> dict:
        fields = {}
        for name, counter in sorted(self.counts.items()):
            if len(counter) > 50 or name in self.overflow:
                fields[name] = {
                    "distinct": len(counter) if name not in self.overflow else f">{MAX_DISTINCT}",
                    "top": dict(counter.most_common(TOP)),
                }
            else:
                fields[name] = dict(counter.most_common())
        return {
            "rows": self.rows,
            "values": fields,
            "lengths": {k: percentiles(v) for k, v in self.lengths.items() if v},
        }
