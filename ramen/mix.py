"""Seeded weighted mixes: how many rows each category or source keeps for target shares
(`quotas`), and which rows (`draw_mix`). Used by curation's `balance` and `prepare` stages and by
the train stage's mixed data sets."""

from __future__ import annotations

import math
import random


def quotas(counts: dict[str, int], shares: dict[str, float], cap: int | None) -> dict[str, int]:
    """Rows to keep per category: the largest total the shares allow, split by largest
    remainders. Categories without rows drop out and the other shares are renormalised."""
    present = {k: s for k, s in shares.items() if counts.get(k, 0) > 0}
    if not present:
        return {}
    norm = sum(present.values())
    present = {k: s / norm for k, s in present.items()}
    total = min(counts[k] / s for k, s in present.items())
    total = math.floor(total + 1e-9)
    if cap is not None:
        total = min(total, cap)
    raw = {k: s * total for k, s in present.items()}
    out = {k: min(counts[k], math.floor(v + 1e-9)) for k, v in raw.items()}
    left = total - sum(out.values())
    for k in sorted(raw, key=lambda k: (-(raw[k] - math.floor(raw[k] + 1e-9)), k)):
        if left <= 0:
            break
        if out[k] < counts[k]:
            out[k] += 1
            left -= 1
    return out


def draw_mix(
    available: dict[str, int], weights: dict[str, float], seed: int
) -> dict[str, list[int]]:
    """A seeded weighted mix: for each weighted label, the indices (ascending) of its rows the
    mix takes. The counts are `quotas` (the largest total with the normalised weights as
    shares; a label with no rows drops out and the others are renormalised); which rows, a
    draw seeded by `seed` and the label. Used for sources (prepare) and training sets."""
    take = quotas(available, weights, None)
    return {
        k: sorted(random.Random(f"{seed}:mix:{k}").sample(range(available[k]), take.get(k, 0)))
        for k in weights
    }
