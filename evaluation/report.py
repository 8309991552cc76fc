"""The `report` stage: a markdown report with PNG plots, and the paired comparison.

Reads `evaluate/` (and `evaluate-baseline/` when the recipe names a baseline) and writes
`report.md`, `compare.json` and `plots/*.png`, and `report.html`: the same tables and plots in
one self-contained file with a browser over every sample (ramen/html.py). Every table says which command produced its
numbers and the recipe hash; the official numbers can be recomputed with `ramen metrics`, the
comparison with `ramen compare`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ramen.benchmarks import kind
from ramen.console import console
from ramen.evaluation.compare import compare_files, compare_many
from ramen.evaluation.plots import plot_checkpoints, plot_rounds
from ramen.html import SAMPLE_TEXTS, dataset, markdown_html, page
from ramen.io import iter_jsonl, read_json, write_text_atomic
from ramen.stage import (
    MAX_ROUNDS,
    TRAIN_STAGE_NAMES,
    StageContext,
    StageDef,
    dump,
    round_stage_name,
    split_round,
)

# --------------------------------------------------------------------------- markdown


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


# --------------------------------------------------------------------------- rounds


def _cell(c: dict | None) -> str:
    if c is None:
        return "-"
    return f"{c['difference']:+.2f} [{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}], p = {c['mcnemar_p']:.3g}"


def rounds_section(
    evaluations: dict[int, Path], baseline: tuple[str, Path] | None, seed: int, plots_dir: Path
) -> tuple[list[str], dict, list[str]]:
    """The trend across on-policy rounds: each round's trained model against the round
    before it and against the base, paired on shared question ids (the same comparison as
    `ramen compare`, whose command each row names). `evaluations` maps round -> its evaluate
    folder; `baseline` is (name, folder) of the base's evaluation. With a baseline, a plot per
    benchmark shows each round's difference from it."""
    data = {r: folder / "data.jsonl" for r, folder in sorted(evaluations.items())}
    result: dict = {"rounds": {}}
    for r in data:
        entry: dict = {"evaluate": str(evaluations[r])}
        if r - 1 in data:
            entry["vs_previous"] = compare_files(
                data[r], data[r - 1], seed=seed, names=(f"round {r}", f"round {r - 1}")
            )
        if baseline:
            entry["vs_base"] = compare_files(
                data[r], baseline[1] / "data.jsonl", seed=seed, names=(f"round {r}", baseline[0])
            )
        result["rounds"][str(r)] = entry
    out = [
        "## Rounds",
        "",
        "Each round's trained model against the round before it and against the base, paired "
        "on shared questions: difference in points, 95% paired-bootstrap CI, exact McNemar p "
        f"(`ramen compare ROUND_R/evaluate ROUND_R-1/evaluate --seed {seed}`).",
        "",
    ]
    many = None
    if baseline:
        many = compare_many(
            baseline[1] / "data.jsonl",
            [data[r] for r in data],
            seed=seed,
            names=[baseline[0], *(f"round {r}" for r in data)],
        )
        result["all_rounds_vs_base"] = many
    plots: list[str] = []
    benches = sorted(
        {
            k
            for e in result["rounds"].values()
            for c in e.values()
            if isinstance(c, dict)
            for k in c["benchmarks"]
        }
    )
    for key in benches:
        out += [
            f"**{key}**",
            "",
            "| round | accuracy (%) | vs the round before | vs the base |",
            "|---|---|---|---|",
        ]
        verdicts = []
        for r, entry in result["rounds"].items():
            prev = entry.get("vs_previous", {}).get("benchmarks", {}).get(key)
            base = entry.get("vs_base", {}).get("benchmarks", {}).get(key)
            acc = (base or prev or {}).get("a")
            out.append(
                f"| {r} | {'-' if acc is None else f'{acc:.2f}'} | {_cell(prev)} | {_cell(base)} |"
            )
            if prev:
                verdicts.append(f"Round {r} against round {int(r) - 1}: {prev['sentence']}")
        if many and key in many["benchmarks"]:  # all rounds at once, Holm-corrected
            verdicts.append(f"All rounds against the base: {many['benchmarks'][key]['verdict']}")
        out += ["", *[f"- {v}" for v in verdicts], ""]
        against = {
            int(r): e["vs_base"]["benchmarks"][key]
            for r, e in result["rounds"].items()
            if key in e.get("vs_base", {}).get("benchmarks", {})
        }
        if baseline and against:
            plot = f"{key}-rounds.png"
            plot_rounds(key, against, baseline[0], plots_dir / plot)
            out += [f"![{plot}](plots/{plot})", ""]
            plots.append(plot)
    return out, result, plots


# --------------------------------------------------------------------------- training


BLOCKS = 5  # the training table's rows: the steps in this many equal blocks


def training_section(stages: dict[str, Path], plots_dir: Path) -> tuple[list[str], list[str]]:
    """What each training stage did, step by step, from its own files: the mean loss per
    block of steps, and for GRPO the mean reward (the share of graded rollouts that were
    correct), its spread, the completions cut at the budget and the rollouts left unscored;
    its loss plot beside it. `stages` maps each train stage read to its folder."""
    out, files = [], []
    for name, folder in stages.items():
        spec = read_json(folder / "spec.json") if (folder / "spec.json").is_file() else {}
        metrics = folder / "metrics.jsonl"
        steps = [r for r in iter_jsonl(metrics) if "loss" in r] if metrics.is_file() else []
        if not steps:
            continue
        method = spec.get("method", "?")
        out += [
            f"## Training: {name}",
            "",
            f"{method} on `{spec.get('data_source', '?')}`, {steps[-1]['step']} steps "
            f"(from `{metrics}`; every step's row is there).",
            "",
        ]
        grpo = method == "grpo"
        head = ["steps", "mean loss"]
        if grpo:
            head += [
                "mean reward",
                "reward std",
                "cut at the budget",
                "unscored (undecided, judge error)",
            ]
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        size = -(-len(steps) // BLOCKS)
        for i in range(0, len(steps), size):
            block = steps[i : i + size]

            def mean(key: str, rows: list[dict] = block) -> float:
                values = [float(r[key]) for r in rows if r.get(key) is not None]
                return sum(values) / len(values) if values else float("nan")

            cells = [f"{block[0]['step']}-{block[-1]['step']}", f"{mean('loss'):.4f}"]
            if grpo:
                unscored = mean("ramen/undecided") + mean("ramen/judge_error")
                cells += [
                    f"{mean('reward'):.3f}",
                    f"{mean('reward_std'):.3f}",
                    f"{100 * mean('completions/clipped_ratio'):.1f}%",
                    f"{100 * unscored:.1f}%",
                ]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        if (folder / "loss.png").is_file():
            plot = f"{name}-training.png"
            plots_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / "loss.png", plots_dir / plot)
            out += [f"![{plot}](plots/{plot})", ""]
            files.append(plot)
    return out, files


# --------------------------------------------------------------------------- the stage


@dataclass
class ReportInputs:
    """What the report's sections read: the evaluate stages' metrics and rows by model name,
    where the plots go, and the stage context for everything else."""

    ctx: StageContext
    stages: list[str]  # evaluate, and evaluate-baseline when the recipe names a baseline
    names: dict[str, str]  # stage -> evaluated model's name
    runs: dict[str, dict]  # model name -> metrics.json
    rows: dict[str, list[dict]]  # model name -> data.jsonl rows (the HTML browser shows them)
    run_cmd: str
    plots_dir: Path

    def baseline(self) -> tuple[str, Path] | None:
        if "evaluate-baseline" not in self.stages:
            return None
        return self.names["evaluate-baseline"], self.ctx.inputs["evaluate-baseline"]

    def later_rounds(self) -> dict[int, Path]:
        return {
            split_round(s)[1]: p
            for s, p in self.ctx.inputs.items()
            if split_round(s)[0] == "evaluate" and split_round(s)[1] > 1
        }


@dataclass
class Rendered:
    """A section's markdown lines, the plots it drew, the JSON files it writes beside the
    report and the lines it prints."""

    lines: list[str]
    plots: list[str] = field(default_factory=list)
    files: dict[str, dict] = field(default_factory=dict)
    printed: list[str] = field(default_factory=list)


class Section:
    """One part of report.md. `applies` says whether this run has what it reports on;
    `render` writes it. The report is the sections that apply, in SECTIONS' order."""

    def applies(self, r: ReportInputs) -> bool:
        return True

    def render(self, r: ReportInputs) -> Rendered:
        raise NotImplementedError


class Header(Section):
    def render(self, r):
        recipe, params = r.ctx.recipe, r.runs[r.names["evaluate"]]["sampling_params"]
        lines = [
            f"# Evaluation report: {recipe.name}",
            "",
            f"Produced by `{r.run_cmd}` (recipe hash `{recipe.hash()[:12]}`, seed {recipe.seed}). "
            + ", ".join(f"{r.names[s]}: `{r.ctx.inputs[s]}`" for s in r.stages)
            + ".",
            "",
        ]
        own = {k: v for k, v in params.get("n_per_benchmark", {}).items() if v != params["n"]}
        n = f"{params['n']}" + (
            f" ({', '.join(f'{k}: {v}' for k, v in own.items())})" if own else ""
        )
        lines += [
            f"Sampling: n = {n}, temperature {params['temperature']}, top_p {params['top_p']}, "
            f"max_tokens {params['max_tokens'] or 'all the context leaves'}, seed {params['seed']} "
            "(each sample's own seed is in data.jsonl).",
            "",
        ]
        if params.get("sampling"):
            # the values both backends applied: the recipe's, else the model's generation_config
            knobs = ", ".join(f"{k} {v}" for k, v in params["sampling"].items())
            lines[-1:-1] = [f"Resolved sampling knobs: {knobs}."]
        return Rendered(lines)


class Benchmarks(Section):
    """Each benchmark's section, written by its kind (`BenchmarkKind.report`)."""

    def render(self, r):
        out = Rendered([])
        for bench in r.ctx.recipe.evaluation.benchmarks:
            key, k = bench.key, kind(bench.name)
            source = {r.names[s]: k.source(r.ctx.inputs[s], key, r.run_cmd) for s in r.stages}
            per = {n: [x for x in r.rows[n] if x["benchmark"] == key] for n in r.rows}
            section, files = k.report(key, r.runs, per, source, r.plots_dir)
            out.lines += section
            out.plots += files
        return out


class Training(Section):
    def applies(self, r):
        return any(split_round(s)[0] in TRAIN_STAGE_NAMES for s in r.ctx.inputs)

    def render(self, r):
        trained = {s: p for s, p in r.ctx.inputs.items() if split_round(s)[0] in TRAIN_STAGE_NAMES}
        lines, plots = training_section(trained, r.plots_dir)
        return Rendered(lines, plots)


class Comparison(Section):
    """The evaluated model against the baseline, paired (`ramen compare`)."""

    def applies(self, r):
        return r.baseline() is not None

    def render(self, r):
        a, b = r.ctx.inputs["evaluate"], r.ctx.inputs["evaluate-baseline"]
        seed = r.ctx.recipe.seed
        result = compare_files(
            a / "data.jsonl",
            b / "data.jsonl",
            seed=seed,
            names=(r.names["evaluate"], r.names["evaluate-baseline"]),
        )
        return Rendered(
            _compare_section(result, f"ramen compare {a} {b} --seed {seed}"),
            files={"compare.json": result},
            printed=[f"[bold]{key}[/]: {x['sentence']}" for key, x in result["benchmarks"].items()],
        )


class Candidates(Section):
    """`evaluation.models`: every candidate against the baseline, Holm-corrected."""

    def applies(self, r):
        return "evaluate-models" in r.ctx.inputs and r.baseline() is not None

    def render(self, r):
        inputs, seed = r.ctx.inputs, r.ctx.recipe.seed
        many = inputs["evaluate-models"]
        candidates = list(r.ctx.recipe.evaluation.models)
        result = compare_many(
            inputs["evaluate-baseline"] / "data.jsonl",
            [inputs["evaluate"] / "data.jsonl", *(many / m / "data.jsonl" for m in candidates)],
            seed=seed,
            names=[r.names["evaluate-baseline"], r.names["evaluate"], *candidates],
        )
        command = (f"ramen compare {inputs['evaluate-baseline']} {inputs['evaluate']} "
                   + " ".join(str(many / m) for m in candidates) + f" --seed {seed}")  # fmt: skip
        for m in candidates:  # the HTML browser shows their samples too
            r.rows[m] = list(iter_jsonl(many / m / "data.jsonl"))
        return Rendered(
            candidates_section(result, command),
            files={"compare_many.json": result},
            printed=[f"[bold]{key}[/]: {x['verdict']}" for key, x in result["benchmarks"].items()],
        )


class Checkpoints(Section):
    def applies(self, r):
        return "evaluate-checkpoints" in r.ctx.inputs

    def render(self, r):
        lines, sweep, plots = checkpoints_section(
            r.ctx.inputs["evaluate-checkpoints"], r.baseline(), r.ctx.recipe.seed, r.plots_dir
        )
        return Rendered(lines, plots, files={"checkpoints.json": sweep})


class Rounds(Section):
    """On-policy rounds: the trend, round by round."""

    def applies(self, r):
        return bool(r.later_rounds())

    def render(self, r):
        evaluations = {1: r.ctx.inputs["evaluate"], **r.later_rounds()}
        lines, trend, plots = rounds_section(
            evaluations, r.baseline(), r.ctx.recipe.seed, r.plots_dir
        )
        printed = [v[2:] for v in lines if v.startswith("- Round")]
        return Rendered(lines, plots, files={"rounds.json": trend}, printed=printed)


SECTIONS: list[Section] = [
    Header(), Benchmarks(), Training(), Comparison(), Candidates(), Checkpoints(), Rounds(),
]  # fmt: skip


def report_stage(ctx: StageContext) -> dict:
    """Stage `report`: the sections that apply, in order, as report.md and report.html."""
    stages = [s for s in ("evaluate", "evaluate-baseline") if s in ctx.inputs]
    metrics = {s: read_json(ctx.inputs[s] / "metrics.json") for s in stages}
    names = {s: metrics[s]["model"] for s in stages}
    plots_dir = ctx.out_dir / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)  # a kind or a run may draw no plot
    inputs = ReportInputs(
        ctx=ctx,
        stages=stages,
        names=names,
        runs={names[s]: metrics[s] for s in stages},
        rows={names[s]: list(iter_jsonl(ctx.inputs[s] / "data.jsonl")) for s in stages},
        run_cmd=f"ramen run {ctx.recipe_path}" if ctx.recipe_path else "ramen run RECIPE",
        plots_dir=plots_dir,
    )
    lines: list[str] = []
    plots: list[str] = []
    for section in SECTIONS:
        if not section.applies(inputs):
            continue
        out = section.render(inputs)
        lines += out.lines
        plots += out.plots
        for name, data in out.files.items():
            ctx.write_json(name, data)
        for line in out.printed:
            console.print(line)
    text = "\n".join(lines) + "\n"
    write_text_atomic(ctx.out_dir / "report.md", text)
    ctx.add_output("report.md")
    ctx.add_output("plots")
    samples = sample_rows(inputs.rows)
    write_text_atomic(
        ctx.out_dir / "report.html", html_report(text, plots_dir, samples, ctx.recipe.name)
    )
    ctx.add_output("report.html")
    console.print(
        f"report: {ctx.out_dir / 'report.md'} ({len(plots)} plots); "
        f"{ctx.out_dir / 'report.html'} (tables, plots and {len(samples)} samples in one file)"
    )
    return {"plots": plots, "html_samples": len(samples)}


# --------------------------------------------------------------------------- candidates


def candidates_section(result: dict, command: str) -> list[str]:
    """`evaluation.models`: every candidate against the baseline, Holm-corrected."""
    out = ["## Candidates against the baseline", "",
           f"Source: `{command}`. {result['correction']}.", ""]  # fmt: skip
    for key, r in result["benchmarks"].items():
        out += [f"**{key}**: {r['verdict']}", "",
                "| candidate | difference (points) | CI | McNemar p | Holm p | only it solved |",
                "|---|---|---|---|---|---|"]  # fmt: skip
        for name, c in r["candidates"].items():
            only = sum(len(ids) for ids in r["only_one_solved"].get(name, {}).values())
            out.append(
                f"| {name} | {c['difference']:+.2f} | [{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}] "
                f"| {c['mcnemar_p']:.3g} | {c['mcnemar_p_holm']:.3g} | {only} |"
            )
        missed = sum(len(ids) for ids in r["all_missed"].values())
        out += ["", f"Every model missed {missed} questions (first samples; ids in "
                "compare_many.json, by category).", ""]  # fmt: skip
    return out


# --------------------------------------------------------------------------- checkpoints


def _headline(m: dict) -> tuple[str, float, float]:
    """A benchmark's headline number: accuracy, or the safety rate for Do-Not-Answer."""
    value = "accuracy" if "accuracy" in m else "safety_rate"
    return value, m[value], m["ci95_half_width"]


def checkpoints_section(
    sweep: Path, baseline: tuple[str, Path] | None, seed: int, plots_dir: Path
) -> tuple[list[str], dict, list[str]]:
    """The sweep over the trained model's checkpoints: each one's headline metric with its CI,
    and (with a baseline) each against it, paired, McNemar p Holm-corrected over the
    checkpoints; the best one that beats the baseline is named, if any."""
    summary = read_json(sweep / "checkpoints.json")
    steps = sorted(int(s) for s in summary["steps"])
    out = ["## Checkpoints", ""]
    if not steps:
        return (
            out + ["No checkpoint was evaluated (see evaluate-checkpoints/rejects.jsonl).", ""],
            {},
            [],
        )
    out += [
        f"`evaluation.checkpoints: {summary['policy']}`: {len(steps)} of the "
        f"{len(summary['saved'])} checkpoints `{summary['train_stage']}` saved, each evaluated "
        f"like the final model (same questions and sample seeds; `{sweep}/checkpoint-N/`).",
        "",
    ]
    comparison = None
    if baseline is not None:
        comparison = compare_many(
            baseline[1] / "data.jsonl",
            [sweep / f"checkpoint-{s}" / "data.jsonl" for s in steps],
            seed=seed,
            names=[baseline[0], *(f"step {s}" for s in steps)],
        )
        out += [
            f"Against {baseline[0]}: {comparison['correction']}. The difference is that of "
            "`ramen compare`: each question's mean over its samples, paired; McNemar pairs the "
            "first samples.",
            "",
        ]
    files, trend = [], {"steps": steps, "benchmarks": {}}
    for key in summary["steps"][str(steps[0])]:
        value = _headline(summary["steps"][str(steps[0])][key])[0]
        points = {s: _headline(summary["steps"][str(s)][key])[1:] for s in steps}
        header = f"| step | {value} (Wald 95%) |"
        rule = "|---|---|"
        cands = {}
        best = None
        if comparison is not None and key in comparison["benchmarks"]:
            cands = comparison["benchmarks"][key]["candidates"]
            header += " vs baseline (points, paired CI) | McNemar p | Holm p |"
            rule += "---|---|---|"
            winners = [s for s in steps if cands[f"step {s}"]["distinguishable"]
                       and cands[f"step {s}"]["difference"] > 0]  # fmt: skip
            best = max(winners, key=lambda s: cands[f"step {s}"]["difference"], default=None)
        out += [f"**{key}**", "", header, rule]
        for s in steps:
            v, half = points[s]
            line = f"| {s}{' (best)' if s == best else ''} | {v:.2f} ± {half:.2f} |"
            if cands:
                c = cands[f"step {s}"]
                line += (f" {c['difference']:+.2f} [{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}] |"
                         f" {c['mcnemar_p']:.3g} | {c['mcnemar_p_holm']:.3g} |")  # fmt: skip
            out.append(line)
        if comparison is not None and key in comparison["benchmarks"]:
            verdict = comparison["benchmarks"][key]["verdict"]
            if best is not None:
                c = cands[f"step {best}"]
                verdict = (
                    f"Best checkpoint that beats {baseline[0]} after Holm's correction: step "
                    f"{best} ({c['difference']:+.2f} points, CI [{c['ci95'][0]:+.2f}, "
                    f"{c['ci95'][1]:+.2f}], Holm p = {c['mcnemar_p_holm']:.3g}); in all: {verdict}"
                )
            out += ["", verdict[0].upper() + verdict[1:]]
        base_point = None
        if baseline is not None:
            m = read_json(baseline[1] / "metrics.json")[key]
            base_point = (baseline[0], *_headline(m)[1:])
        name = f"{key}-checkpoints.png"
        plot_checkpoints(key, points, base_point, best, value, plots_dir / name)
        files.append(name)
        out += ["", f"![{name}](plots/{name})", ""]
        trend["benchmarks"][key] = {"points": {str(s): points[s] for s in steps}, "best": best}
    if comparison is not None:
        trend["comparison"] = comparison
    return out, trend, files


# --------------------------------------------------------------------------- report.html


def solved_by(rows: dict[str, list[dict]]) -> dict[tuple[str, str], str]:
    """Per (benchmark, question): which models' first samples scored 1: `only NAME`, `every
    model`, `no model` or `some models`, for the browser's filter. Questions a model has no
    scored first sample of are left out."""
    firsts: dict[tuple[str, str], dict[str, int]] = {}
    for name, model_rows in rows.items():
        for r in model_rows:
            if r["sample_index"] == 0 and r.get("score") is not None:
                firsts.setdefault((r["benchmark"], str(r["id"])), {})[name] = r["score"]
    out = {}
    for key, scores in firsts.items():
        if len(scores) < len(rows):
            continue
        right = [n for n, score in scores.items() if score == 1]
        if len(rows) > 1 and len(right) == 1:
            out[key] = f"only {right[0]}"
        elif len(right) == len(rows):
            out[key] = "every model"
        else:
            out[key] = "no model" if not right else "some models"
    return out


def sample_rows(rows: dict[str, list[dict]]) -> list[dict]:
    """Every evaluated sample of every model, as the sample browser shows it."""
    solved = solved_by(rows)
    out = []
    for name, model_rows in rows.items():
        for r in model_rows:
            label = r.get("label")
            out.append(
                {
                    **r,
                    "model": name,
                    "sample": r["sample_index"],
                    "verdict": r.get("verdict") or (None if label is None else f"label {label}"),
                    "finish": r.get("finish_reason"),
                    "tokens": r.get("completion_tokens"),
                    "solved": solved.get((r["benchmark"], str(r["id"])), "-"),
                    "judge": r.get("judge_raw") or r.get("judge_reasoning"),
                    "failure": r.get("failure"),
                }
            )
    return out


def html_report(markdown: str, plots_dir: Path, samples: list[dict], name: str) -> str:
    """report.html: the report's tables and plots and a browser over every sample."""
    data = dataset(
        samples,
        filters=[
            ("model", "model"),
            ("benchmark", "benchmark"),
            ("category", "category"),
            ("verdict", "verdict"),
            ("failure", "failure reason"),
            ("finish", "finish"),
            ("solved", "first sample right for"),
        ],  # fmt: skip
        columns=[
            ("model", "model"),
            ("benchmark", "benchmark"),
            ("id", "id"),
            ("sample", "sample"),
            ("category", "category"),
            ("verdict", "verdict"),
            ("extracted", "extracted answer"),
            ("tokens", "tokens"),
            ("finish", "finish"),
        ],  # fmt: skip
        detail=[
            *SAMPLE_TEXTS,
            ("judge", "Judge's reply", True),
            ("failure", "Failure reason", False),
            ("confidence", "Confidence", False),
            ("tokens", "Completion tokens", False),
            ("finish", "Finish reason", False),
        ],  # fmt: skip
    )
    note = (
        "Every sample of every evaluated model (data.jsonl of each evaluate stage). Filter, "
        "search, and click a row for its texts; the address keeps the view (#benchmark=...)."
    )
    return page(f"Evaluation report: {name}", markdown_html(markdown, plots_dir), data, note)


STAGE = StageDef(
    name="report",
    fn=report_stage,
    # the training stages: their steps, losses and rewards are in the report too
    needs=(
        "evaluate",
        "evaluate-baseline",
        "evaluate-checkpoints",
        "evaluate-models",
        *TRAIN_STAGE_NAMES,
        # later rounds' (with `rounds:`): their trend is a section of the report
        *(
            round_stage_name(s, r)
            for r in range(2, MAX_ROUNDS + 1)
            for s in ("evaluate", *TRAIN_STAGE_NAMES)
        ),
    ),
    config=lambda r: {"evaluation": dump(r.evaluation), "name": r.name, "seed": r.seed},
    enabled=lambda r: r.evaluation is not None,
    help="markdown report with plots; paired comparison with the baseline (compare.json)",
)
