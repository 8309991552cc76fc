"""Statistics over n samples per question, and paired tests between two models.

- `pass_at_k`: the unbiased estimator of Chen et al. (2021), 1 - C(n-c, k) / C(n, k), averaged
  over questions; pass@1 is avg@n, the mean accuracy over all samples.
- `paired_bootstrap`: the 95% CI of mean(a) - mean(b) over questions resampled with
  replacement (seeded), each question scored by its mean over samples.
- `mcnemar_exact`: the two-sided exact McNemar p-value (a binomial test on discordant pairs).
- `wald_half_width`: 1.96 * sqrt(p (100 - p) / n) in points, as HLE's scoring script.
- `holm`: Holm's step-down adjusted p-values, for several candidates tested against one base.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

BOOTSTRAP_RESAMPLES = 10_000
ALPHA = 0.05


def wald_half_width(percent: float, n: int) -> float:
    return round(1.96 * math.sqrt(percent * (100 - percent) / n), 2) if n else 0.0


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n (c correct)
    is correct."""
    if k > n:
        raise ValueError(f"k = {k} > n = {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def ks_for(n: int) -> list[int]:
    """The k reported for n samples: 1, 2, 4, ... up to n, and n itself."""
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    return ks + [n]


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    alpha: float = ALPHA,
) -> tuple[float, float, float]:
    """(difference of means in points, CI low, CI high) for paired per-question scores in [0, 1];
    the CI's level is 1 - alpha."""
    import numpy as np

    if len(a) != len(b):
        raise ValueError("paired scores need the same length")
    if not len(a):
        return 0.0, 0.0, 0.0
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(resamples, len(diff)))
    means = diff[idx].mean(axis=1)
    lo, hi = np.percentile(means, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return 100 * float(diff.mean()), 100 * float(lo), 100 * float(hi)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (a right and b wrong, and the
    reverse): 2 * P(X <= min) for X ~ Binomial(only_a + only_b, 1/2), capped at 1."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    low = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(low + 1)) / 2**n
    return min(1.0, 2 * tail)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's (1979) step-down adjusted p-values, in the order given: the i-th smallest p is
    multiplied by (m - i + 1), then made non-decreasing in that order and capped at 1. Rejecting
    where the adjusted p < alpha controls the family-wise error rate at alpha."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
