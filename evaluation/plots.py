"""The report's own plots (rounds, checkpoints); the benchmark kinds draw theirs
(`ramen.benchmarks.plots`)."""

from __future__ import annotations

from pathlib import Path

from ramen.benchmarks.plots import COLORS, pyplot, save_figure


def plot_rounds(key: str, diffs: dict[int, dict], against: str, path: Path) -> None:
    """Each round's difference from `against` (points), with its paired-bootstrap 95% CI."""
    plt = pyplot()
    rounds = sorted(diffs)
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(rounds) + 2), 3.5))
    ys = [diffs[r]["difference"] for r in rounds]
    lo = [diffs[r]["difference"] - diffs[r]["ci95"][0] for r in rounds]
    hi = [diffs[r]["ci95"][1] - diffs[r]["difference"] for r in rounds]
    ax.errorbar(rounds, ys, yerr=[lo, hi], fmt="o-", capsize=4, color=COLORS[0])
    ax.axhline(0.0, color="grey", linewidth=1)
    ax.set_xticks(rounds)
    ax.set_xlabel("round")
    ax.set_ylabel(f"points vs {against} (paired 95% CI)")
    ax.set_title(f"{key}: each round against {against}")
    save_figure(fig, path)


def plot_checkpoints(
    key: str,
    points: dict[int, tuple[float, float]],
    baseline: tuple[str, float, float] | None,
    best: int | None,
    ylabel: str,
    path: Path,
) -> None:
    """A metric (± its Wald 95% half-width) against training step, the baseline's as a band,
    and the best checkpoint that beats it (after correction) ringed."""
    plt = pyplot()
    steps = sorted(points)
    fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(steps) + 3), 3.8))
    ys = [points[s][0] for s in steps]
    ax.errorbar(steps, ys, yerr=[points[s][1] for s in steps], fmt="o-", capsize=4,
                color=COLORS[0], label="checkpoint")  # fmt: skip
    if baseline is not None:
        name, value, half = baseline
        ax.axhline(value, color=COLORS[1], linewidth=1, label=name)
        ax.axhspan(value - half, value + half, color=COLORS[1], alpha=0.15)
    if best is not None:
        ax.plot([best], [points[best][0]], "o", markersize=14, markerfacecolor="none",
                markeredgecolor="green", label=f"best beating the baseline (step {best})")  # fmt: skip
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{key}: checkpoints (Wald 95% CI)")
    ax.legend(fontsize=8)
    save_figure(fig, path)
