"""Dataset cards (README.md) for the pair and SFT sets: provenance, licences, generator models,
and counts per stage and per category, all read from the run's own stats and manifests."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ramen.io import read_json, write_text_atomic


def lineage(run_dir: Path, inputs: list[str]) -> list[str]:
    """The stages a set was made from: its inputs and, through their manifests'
    `input_hashes`, theirs, in pipeline order. Stages that merely ran earlier (e.g. `pairs`
    beside `sft`) are not in it, whatever order the jobs finished in."""
    order: list[str] = []  # each stage after the stages it read (depth-first, post-order)
    seen: set[str] = set()

    def visit(stage: str) -> None:
        if stage in seen:
            return
        seen.add(stage)
        manifest = run_dir / stage / "manifest.json"
        for upstream in read_json(manifest).get("input_hashes", {}) if manifest.is_file() else []:
            visit(upstream)
        order.append(stage)

    for stage in inputs:
        visit(stage)
    return order


def stage_counts(run_dir: Path, inputs: list[str]) -> list[dict]:
    """input / kept / dropped-by-reason of each finished stage a set was made from."""
    out = []
    for stage in lineage(run_dir, inputs):
        path = run_dir / stage / "stats.json"
        if not path.is_file():
            continue
        stats = read_json(path)
        out.append(
            {
                "stage": stage,
                "input": stats.get("input"),
                "kept": stats.get("input_kept", stats.get("kept")),
                "written": stats.get("kept"),
                "unit": stats.get("unit", "problems"),
                "dropped": stats.get("rejected", {}),
            }
        )
    return out


def _prepared(run_dir: Path) -> dict:
    """The prepare stage's stats (rows per source, the mix), if it ran."""
    path = run_dir / "prepare" / "stats.json"
    return read_json(path) if path.is_file() else {}


def _licence_field(licences: Counter) -> str:
    return next(iter(licences)) if len(licences) == 1 else "other"


def write_card(
    path: Path,
    *,
    recipe: Any,
    kind: str,
    inputs: list[str],
    rows: int,
    problems: int,
    by_category: Counter,
    licences: Counter,
    sources: Counter,
    generator_models: dict[str, str],
    this_stage: dict,
    fmt: str,
) -> str:
    """Write README.md (Hugging Face card front matter + tables); returns its text."""

    run_dir = recipe.run_dir
    stages = [*stage_counts(run_dir, inputs), this_stage]
    lines = [
        "---",
        f"license: {_licence_field(licences)}",
        "tags: [ramen, reasoning, " + ("dpo, preference" if kind == "pairs" else "sft") + "]",
        "configs:",
        "- config_name: default",
        "  data_files: data.jsonl",
        "---",
        "",
        f"# {recipe.name}: {'DPO preference pairs' if kind == 'pairs' else 'SFT set'}",
        "",
        f"Built by ramen from recipe `{recipe.name}` (recipe hash `{recipe.hash()[:12]}`, seed "
        f"{recipe.seed}). {rows} rows from {problems} problems. Format: {fmt}.",
        "",
        f"Reproduce: `ramen run <recipe file>` with the same recipe (`--stages {kind}` reruns "
        "only this stage).",
        "",
        "## Provenance",
        "",
        "| source | licence (declared) | generator of the source rows | mix weight | rows "
        "prepared | rows here |",
        "|---|---|---|---|---|---|",
    ]
    prepared = _prepared(run_dir)
    for src in recipe.data.sources:
        made_by = src.generator or ("sympy" if src.synthetic else "human-written")
        if src.written is not None:
            made_by = f"{recipe.models[src.written.writer].path} (labelled by {src.written.solver})"
        mix = prepared.get("mix", {}).get(src.label)
        weight = f"{src.weight:g} ({mix['taken']} of {mix['available']})" if mix else "-"
        lines.append(
            f"| {src.label} | {src.declared_licence} | {made_by} | {weight} | "
            f"{prepared.get('kept_by_source', {}).get(src.label, '-')} | "
            f"{sources.get(src.label, 0)} |"
        )
    lines += ["", "Licences of the rows here: "]
    lines[-1] += ", ".join(f"{k} ({v})" for k, v in sorted(licences.items())) or "none"
    allow = recipe.data.allow_licences
    lines += [
        "",
        f"Provenance gate: licences allowed: {', '.join(allow) if allow else 'any'}; generators "
        f"forbidden: {', '.join(recipe.data.forbid_generators) or 'none'}.",
        "",
        "## Generator models",
        "",
        "| role | model |",
        "|---|---|",
    ]
    for role, model in generator_models.items():
        lines.append(f"| {role} | {model} |")
    lines += [
        "",
        "## Counts per stage",
        "",
        "Input rows, input rows kept, dropped by reason, and rows written (a stage can write "
        "another unit than it reads: problems in, samples or pairs out).",
        "",
        "| stage | input | kept | dropped (reason: count) | rows written |",
        "|---|---|---|---|---|",
    ]
    for s in stages:
        dropped = ", ".join(f"{k}: {v}" for k, v in sorted(s["dropped"].items())) or "-"
        lines.append(
            f"| {s['stage']} | {s['input'] if s['input'] is not None else '-'} | {s['kept']} | "
            f"{dropped} | {s['written']} {s['unit']} |"
        )
    lines += ["", "## Rows per category", "", "| category | rows |", "|---|---|"]
    for cat, count in sorted(by_category.items()):
        lines.append(f"| {cat} | {count} |")
    text = "\n".join(lines) + "\n"
    write_text_atomic(path, text)
    return text


def model_roles(recipe: Any) -> dict[str, str]:
    """Which model played which part in making the data."""
    cur, out = recipe.curation, {}
    if cur.filter is not None:
        for name in cur.filter.models:
            out[f"difficulty filter ({name})"] = recipe.models[name].path
    if cur.sample is not None:
        out[f"sampler ({cur.sample.model})"] = recipe.models[cur.sample.model].path
    for judge in cur.grade.judges:
        out[f"judge ({judge})"] = recipe.models[judge].path
    if cur.grade.safety_judge:
        name = cur.grade.safety_judge
        out[f"safety judge ({name})"] = recipe.models[name].path
    for i, src in enumerate(recipe.data.sources):
        if src.written is not None:
            w = src.written
            out[f"problem writer ({w.writer}, data.sources[{i}])"] = recipe.models[w.writer].path
            out[f"majority-vote labeller ({w.solver}, data.sources[{i}])"] = recipe.models[
                w.solver
            ].path
    return out


def written_models(sources: list) -> list[str]:
    """The writer and solver of every written source (the card names them)."""
    return [
        n for s in sources if s.written is not None for n in (s.written.writer, s.written.solver)
    ]
