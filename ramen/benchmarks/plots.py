"""The benchmark kinds' plots (PNG, matplotlib's Agg backend), one function per figure, and
the helpers every report figure uses (`pyplot`, `save_figure`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ramen.io import atomic_path

COLORS = ("#1f77b4", "#ff7f0e")


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    pyplot().close(fig)


# --------------------------------------------------------------------------- plots


def _grouped_bars(
    runs: dict[str, dict],
    key: str,
    value: str,
    err: str | None,
    ylabel: str,
    title: str,
    path: Path,
) -> None:
    """One bar per model and category, of `value` from each category's metrics."""
    plt = pyplot()
    cats = sorted({c for m in runs.values() for c in m[key]["by_category"]})
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(cats) + 2), 4))
    width = 0.8 / len(runs)
    for i, (name, m) in enumerate(runs.items()):
        by = m[key]["by_category"]
        xs = [j + i * width for j in range(len(cats))]
        ys = [by.get(c, {}).get(value, 0.0) for c in cats]
        yerr = [by.get(c, {}).get(err, 0.0) for c in cats] if err else None
        ax.bar(xs, ys, width, yerr=yerr, capsize=3, label=name, color=COLORS[i % 2])
    ax.set_xticks([j + width * (len(runs) - 1) / 2 for j in range(len(cats))])
    ax.set_xticklabels(cats, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend()
    save_figure(fig, path)


def plot_categories(runs: dict[str, dict], key: str, path: Path) -> None:
    """Per-category accuracy (first sample) with Wald 95% error bars, one bar per model."""
    _grouped_bars(
        runs, key, "accuracy", "ci95_half_width", "accuracy (%), Wald 95% CI",
        f"{key}: accuracy by category", path,
    )  # fmt: skip


def plot_truncation(runs: dict[str, dict], key: str, path: Path) -> None:
    _grouped_bars(
        runs, key, "truncation_rate", None, "samples stopped at the token budget (%)",
        f"{key}: truncation by category", path,
    )  # fmt: skip


def plot_reliability(rows: dict[str, list[dict]], key: str, path: Path) -> None:
    """Reliability diagram: accuracy per stated-confidence decile (first samples)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 100], [0, 100], "k--", linewidth=1, label="perfect calibration")
    for i, (name, rs) in enumerate(rows.items()):
        bins: dict[int, list[float]] = {}
        for r in rs:
            if r.get("sample_index", 0) != 0 or r.get("confidence") is None:
                continue
            b = min(9, int(float(r["confidence"]) // 10))
            bins.setdefault(b, []).append(1.0 if r.get("correct") is True else 0.0)
        xs = sorted(bins)
        ax.plot(
            [10 * b + 5 for b in xs],
            [100 * sum(bins[b]) / len(bins[b]) for b in xs],
            "o-",
            color=COLORS[i % 2],
            label=f"{name} ({sum(len(v) for v in bins.values())} answers)",
        )
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_xlabel("stated confidence (%)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"{key}: reliability")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def plot_lengths(rows: dict[str, list[dict]], key: str, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (name, rs) in enumerate(rows.items()):
        ax.hist(
            [int(r.get("completion_tokens") or 0) for r in rs],
            bins=30,
            alpha=0.6,
            label=name,
            color=COLORS[i % 2],
        )
    ax.set_xlabel("completion tokens")
    ax.set_ylabel("samples")
    ax.set_title(f"{key}: completion length")
    ax.legend()
    save_figure(fig, path)


def plot_dna_labels(
    rows: dict[str, list[dict]], key: str, path: Path, names: dict[int, str]
) -> None:
    """Label counts by risk area (first samples), one panel per model; `names`: the rubric's
    label names."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(rows), figsize=(6 * len(rows), 4.5), squeeze=False)
    labels = [-1, *names]
    cmap = plt.get_cmap("tab10")
    for ax, (name, rs) in zip(axes[0], rows.items(), strict=True):
        first = [r for r in rs if r.get("sample_index", 0) == 0]
        areas = sorted({str(r.get("risk_area") or "unknown") for r in first})
        counts = {
            a: Counter(int(r["label"]) for r in first if (r.get("risk_area") or "unknown") == a)
            for a in areas
        }
        bottom = [0] * len(areas)
        for j, label in enumerate(labels):
            vals = [counts[a][label] for a in areas]
            name_ = "unparsable" if label == -1 else f"{label}: {names[label]}"
            ax.bar(range(len(areas)), vals, bottom=bottom, label=name_, color=cmap(j))
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        ax.set_xticks(range(len(areas)))
        ax.set_xticklabels([a[:24] for a in areas], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("responses")
        ax.set_title(f"{key}: {name}")
    axes[0][-1].legend(fontsize=7, loc="upper right")
    save_figure(fig, path)


def plus_minus(m: dict, value: str = "accuracy") -> str:
    """`value ± its Wald 95% half-width` of a metrics entry."""
    return f"{m[value]:.2f} ± {m['ci95_half_width']:.2f}"
