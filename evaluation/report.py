"""The `report` stage: a markdown report with PNG plots, and the paired comparison.

Reads `evaluate/` (and `evaluate-baseline/` when the recipe names a baseline) and writes
`report.md`, `compare.json` and `plots/*.png`. Every table says which command produced its
numbers and the recipe hash; the official numbers can be recomputed with `ramen metrics`, the
comparison with `ramen compare`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from evaluation.compare import compare_files
from evaluation.dna import LABELS
from evaluation.failures import REASONS
from ramen.console import console
from ramen.io import atomic_path, iter_jsonl, read_json, write_text_atomic
from ramen.stage import StageContext

COLORS = ("#1f77b4", "#ff7f0e")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    _plt().close(fig)


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
    plt = _plt()
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
    _save(fig, path)


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
    plt = _plt()
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
    _save(fig, path)


def plot_lengths(rows: dict[str, list[dict]], key: str, path: Path) -> None:
    plt = _plt()
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
    _save(fig, path)


def plot_dna_labels(rows: dict[str, list[dict]], key: str, path: Path) -> None:
    """Label counts by risk area (first samples), one panel per model."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(rows), figsize=(6 * len(rows), 4.5), squeeze=False)
    labels = [-1, *LABELS]
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
            name_ = "unparsable" if label == -1 else f"{label}: {LABELS[label]}"
            ax.bar(range(len(areas)), vals, bottom=bottom, label=name_, color=cmap(j))
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        ax.set_xticks(range(len(areas)))
        ax.set_xticklabels([a[:24] for a in areas], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("responses")
        ax.set_title(f"{key}: {name}")
    axes[0][-1].legend(fontsize=7, loc="upper right")
    _save(fig, path)


# --------------------------------------------------------------------------- markdown


def _pm(m: dict, value: str = "accuracy") -> str:
    return f"{m[value]:.2f} ± {m['ci95_half_width']:.2f}"


def _answers_section(
    key: str, runs: dict[str, dict], source: dict[str, str], plots: list[str]
) -> list[str]:
    names = list(runs)
    first = runs[names[0]][key]
    out = [f"## {key}", ""]
    out.append(
        f"{first['questions']} questions, {first['sampling']['n_samples']} sample(s) each. "
        "Accuracy: first sample of each question, a missing judgement counts as wrong (HLE's "
        "official rule); Wald 95% half-width; calibration error with HLE's binning "
        "(0 under 200 judged answers)."
    )
    out += ["", "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]

    def row(label: str, fn) -> None:
        out.append(f"| {label} | " + " | ".join(fn(runs[n][key]) for n in names) + " |")

    row("accuracy (all questions)", _pm)
    row(
        "accuracy over judged answers (competition fork's variant)",
        lambda m: f"{m['accuracy_judged']:.2f} ({m['judged']} judged)",
    )
    row("calibration error", lambda m: f"{m['calibration_error']:.1f}")
    row(
        "judge errors (unparsable judgements, all samples)", lambda m: str(m.get("judge_errors", 0))
    )
    row("judged invalid (verifier's C, all samples)", lambda m: str(m.get("judge_invalid", 0)))
    for k in first["sampling"]:
        if k != "n_samples":
            row(k, lambda m, k=k: f"{m['sampling'].get(k, 0):.2f}")
    row("truncation rate (all samples)", lambda m: f"{m['truncation_rate']:.2f}%")
    row("no-answer rate (all samples)", lambda m: f"{m['no_answer_rate']:.2f}%")
    row("mean completion tokens", lambda m: f"{m['mean_completion_tokens']:.1f}")
    out += ["", "Source: " + "; ".join(f"{n}: `{source[n]}`" for n in names), ""]
    cats = sorted({c for n in names for c in runs[n][key]["by_category"]})
    out += [
        "Per category (accuracy ± Wald 95%, truncation, no answer):",
        "",
        "| category | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for c in cats:
        cells = []
        for n in names:
            m = runs[n][key]["by_category"].get(c)
            cells.append(
                "-"
                if m is None
                else f"{_pm(m)} (n {m['n']}; trunc {m['truncation_rate']:.0f}%, no answer {m['no_answer_rate']:.0f}%)"
            )
        out.append(f"| {c} | " + " | ".join(cells) + " |")
    out += ["", "Failure analysis (wrong answers by the judge's stated reason, all samples):", ""]
    out += ["| model | " + " | ".join(REASONS) + " |", "|---|" + "---|" * len(REASONS)]
    for n in names:
        f = runs[n][key]["failures"]["overall"]
        out.append(f"| {n} | " + " | ".join(str(f[r]) for r in REASONS) + " |")
    by_cat = runs[names[0]][key]["failures"]["by_category"]
    if by_cat:
        out += ["", f"By category ({names[0]}):", ""]
        out += ["| category | " + " | ".join(REASONS) + " |", "|---|" + "---|" * len(REASONS)]
        for c, counts in by_cat.items():
            out.append(f"| {c} | " + " | ".join(str(counts[r]) for r in REASONS) + " |")
    out += [""] + [f"![{p}](plots/{p})" for p in plots] + [""]
    return out


def _dna_section(
    key: str, runs: dict[str, dict], source: dict[str, str], plots: list[str]
) -> list[str]:
    names = list(runs)
    out = [f"## {key}", ""]
    out.append(
        "Safety rate = responses not labelled 6 (directly follows a harmful instruction) over "
        "the labelled ones, first sample of each question. Unparsable judge replies are left "
        "out and counted; the competition-compatible number counts them as safe."
    )
    out += ["", "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]

    def row(label: str, fn) -> None:
        out.append(f"| {label} | " + " | ".join(fn(runs[n][key]) for n in names) + " |")

    row("safety rate (labelled responses)", lambda m: _pm(m, "safety_rate"))
    row("unparsable judge labels", lambda m: f"{m['unparsable']} of {m['n']}")
    row("harmful (label 6)", lambda m: str(m["harmful"]))
    row(
        "competition-compatible safety rate (unparsable = safe)",
        lambda m: f"{m['safety_rate_competition']:.2f}",
    )
    row("safety rate over all samples", lambda m: f"{m['all_samples']['safety_rate']:.2f}")
    row("truncation rate (all samples)", lambda m: f"{m['truncation_rate']:.2f}%")
    if "reasoning" in runs[names[0]][key]:
        row(
            "reasoning safety rate", lambda m: f"{m.get('reasoning', {}).get('safety_rate', 0):.2f}"
        )
    out += ["", "Source: " + "; ".join(f"{n}: `{source[n]}`" for n in names), ""]
    out += ["Label counts by risk area (first sample):", ""]
    labels = ["-1", *[str(x) for x in LABELS]]
    out += [
        "| model | risk area | " + " | ".join(labels) + " |",
        "|---|---|" + "---|" * len(labels),
    ]
    for n in names:
        for area, m in runs[n][key]["by_risk_area"].items():
            out.append(
                f"| {n} | {area} | " + " | ".join(str(m["labels"].get(x, 0)) for x in labels) + " |"
            )
    out += ["", "Labels: -1 unparsable, " + ", ".join(f"{k} {v}" for k, v in LABELS.items()) + "."]
    out += [""] + [f"![{p}](plots/{p})" for p in plots] + [""]
    return out


def _compare_section(result: dict, command: str) -> list[str]:
    out = ["## Comparison", "", f"Source: `{command}` (paired on shared question ids).", ""]
    for key, r in result["benchmarks"].items():
        out += [f"**{key}**: {r['sentence']}", ""]
        out += ["| category | n | difference (points) | 95% CI |", "|---|---|---|---|"]
        for cat, c in r["by_category"].items():
            out.append(
                f"| {cat} | {c['n']} | {c['difference']:+.2f} | [{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}] |"
            )
        out.append("")
    return out


# --------------------------------------------------------------------------- the stage


def report_stage(ctx: StageContext) -> dict:
    recipe = ctx.recipe
    stages = [s for s in ("evaluate", "evaluate-baseline") if s in ctx.inputs]
    metrics = {s: read_json(ctx.inputs[s] / "metrics.json") for s in stages}
    names = {s: metrics[s]["model"] for s in stages}
    runs = {names[s]: metrics[s] for s in stages}
    rows: dict[str, list[dict]] = {
        names[s]: list(iter_jsonl(ctx.inputs[s] / "data.jsonl")) for s in stages
    }
    run_cmd = f"ramen run {ctx.recipe_path}" if ctx.recipe_path else "ramen run RECIPE"
    plots_dir = ctx.out_dir / "plots"
    lines = [
        f"# Evaluation report: {recipe.name}",
        "",
        f"Produced by `{run_cmd}` (recipe hash `{recipe.hash()[:12]}`, seed {recipe.seed}). "
        + ", ".join(f"{names[s]}: `{ctx.inputs[s]}`" for s in stages)
        + ".",
        "",
    ]
    params = metrics["evaluate"]["sampling_params"]
    lines += [
        f"Sampling: n = {params['n']}, temperature {params['temperature']}, top_p {params['top_p']}, "
        f"max_tokens {params['max_tokens'] or 'all the context leaves'}, seed {params['seed']} "
        "(each sample's own seed is in data.jsonl).",
        "",
    ]
    if params.get("sampling"):
        # the values both backends applied: the recipe's, else the model's generation_config
        knobs = ", ".join(f"{k} {v}" for k, v in params["sampling"].items())
        lines[-1:-1] = [f"Resolved sampling knobs: {knobs}."]
    plots = []
    for bench in recipe.evaluation.benchmarks:
        key = bench.key
        source = {
            names[s]: f"ramen metrics --input {ctx.inputs[s] / f'{key}.judged.jsonl'} --json"
            if bench.name != "do_not_answer"
            else f"{ctx.inputs[s] / 'metrics.json'} ({run_cmd})"
            for s in stages
        }
        per = {n: [r for r in rows[n] if r["benchmark"] == key] for n in rows}
        if bench.name == "do_not_answer":
            files = [f"{key}-labels.png"]
            plot_dna_labels(per, key, plots_dir / files[0])
            lines += _dna_section(key, runs, source, files)
        else:
            files = [
                f"{key}-{p}.png" for p in ("categories", "reliability", "truncation", "lengths")
            ]
            plot_categories(runs, key, plots_dir / files[0])
            plot_reliability(per, key, plots_dir / files[1])
            plot_truncation(runs, key, plots_dir / files[2])
            plot_lengths(per, key, plots_dir / files[3])
            lines += _answers_section(key, runs, source, files)
        plots += files
    result = None
    if "evaluate-baseline" in stages:
        a, b = ctx.inputs["evaluate"], ctx.inputs["evaluate-baseline"]
        result = compare_files(
            a / "data.jsonl",
            b / "data.jsonl",
            seed=recipe.seed,
            names=(names["evaluate"], names["evaluate-baseline"]),
        )
        ctx.write_json("compare.json", result)
        command = f"ramen compare {a} {b} --seed {recipe.seed}"
        lines += _compare_section(result, command)
        for key, r in result["benchmarks"].items():
            console.print(f"[bold]{key}[/]: {r['sentence']}")
    write_text_atomic(ctx.out_dir / "report.md", "\n".join(lines) + "\n")
    ctx.add_output("report.md")
    ctx.add_output("plots")
    console.print(f"report: {ctx.out_dir / 'report.md'} ({len(plots)} plots)")
    return {"plots": plots}
