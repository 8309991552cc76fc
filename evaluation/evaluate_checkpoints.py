"""The `evaluate-checkpoints` stage: the trained model's saved checkpoints, evaluated like it.

With `evaluation.checkpoints: all` (or `every_K`) the last training step keeps every checkpoint
it saves, and this stage evaluates each chosen one with the same benchmarks, questions and
sample seeds as `evaluate`. A LoRA checkpoint is merged into its base first
(`models/checkpoint-N/`, once); a full-parameter checkpoint is served from its folder (one
without loadable weights is skipped, named in stats.json and on the console). Each
checkpoint has its own folder (`checkpoint-N/`: samples, judgements, `data.jsonl`,
`metrics.json`), so a killed sweep resumes checkpoint by checkpoint, sample by sample.

`checkpoints.json` lists the steps and their metrics; the report plots accuracy against step
with 95% CIs and compares every checkpoint with the baseline (paired on shared questions,
McNemar p Holm-corrected over the checkpoints, evaluation/compare.py `compare_many`), marking
the best one that beats it, if any.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from ramen.benchmarks import kind
from ramen.console import console
from ramen.evaluation.evaluate import (
    EvaluatedModel,
    evaluate_config,
    evaluate_questions,
    evaluated_model,
    load_questions,
)
from ramen.export import merge_lora
from ramen.io import read_json, write_json_atomic, write_jsonl_atomic
from ramen.stage import TRAIN_STAGE_NAMES, StageContext, StageDef

_STEP = re.compile(r"^checkpoint-(\d+)$")


def saved_checkpoints(train_dir: Path) -> list[tuple[int, Path]]:
    """(step, folder) of each checkpoint a training stage saved, by step."""
    found = []
    for folder in (train_dir / "checkpoints").glob("checkpoint-*"):
        m = _STEP.match(folder.name)
        if m and folder.is_dir():
            found.append((int(m.group(1)), folder))
    return sorted(found)


def choose(steps: list[int], policy: str) -> list[int]:
    """The steps a policy evaluates: `all`, or `every_K` (every K-th in order, and the last)."""
    if policy == "all" or not steps:
        return list(steps)
    k = int(policy.removeprefix("every_"))
    picked = [s for i, s in enumerate(steps) if (i + 1) % k == 0]
    return picked if picked and picked[-1] == steps[-1] else [*picked, steps[-1]]


def checkpoint_model(folder: Path, out: Path) -> Path | None:
    """A folder vLLM can serve for one checkpoint: the LoRA adapter merged into the base it
    was trained on (its adapter_config.json names it; once, into `out`, as the train stage
    merges its final adapter), or the checkpoint itself when it holds full weights; None if
    it holds no weights a server could load (e.g. ZeRO-3 shards only)."""
    if (folder / "adapter_config.json").is_file():
        if not (out / "config.json").is_file():
            merge_lora(folder, out)
        return out
    has_weights = any(folder.glob("*.safetensors")) or any(folder.glob("pytorch_model*.bin"))
    return folder if (folder / "config.json").is_file() and has_weights else None


def forget_other_merges(models: Path, weights: str) -> None:
    """`models/checkpoint-N/` is merged once per training: a retrained run (another hash of the
    train stage's output) has other checkpoints under the same names, so the old merges go."""
    marker = models / "ramen-weights.json"
    if models.is_dir() and (not marker.is_file() or read_json(marker).get("weights") != weights):
        shutil.rmtree(models)
    models.mkdir(parents=True, exist_ok=True)
    write_json_atomic(marker, {"weights": weights})


def sweep_stage(ctx: StageContext) -> dict:
    """Stage `evaluate-checkpoints`: every chosen checkpoint of the trained model, evaluated."""
    cfg = ctx.recipe.evaluation
    final = evaluated_model(ctx, "model")
    train = next(s for s in reversed(TRAIN_STAGE_NAMES) if s in ctx.inputs)
    saved = saved_checkpoints(ctx.inputs[train])
    steps = choose([s for s, _ in saved], cfg.checkpoints)
    folders = dict(saved)
    forget_other_merges(ctx.out_dir / "models", str(ctx.input_hashes.get(train)))
    benches = {b.key: b for b in cfg.benchmarks}
    questions = {key: load_questions(ctx, b) for key, b in benches.items()}
    done: dict[str, dict] = {}
    for step in steps:
        name = f"checkpoint-{step}"
        path = checkpoint_model(folders[step], ctx.out_dir / "models" / name)
        if path is None:  # said on the console and in stats.json, never skipped silently
            ctx.stats.setdefault("checkpoints_without_weights", []).append(str(folders[step]))
            console.print(f"[yellow]{ctx.name}[/]: {folders[step]} holds no weights vLLM can "
                          "load (ZeRO-3 shards only?); skipped")  # fmt: skip
            continue
        target = EvaluatedModel(
            name=final.name,
            label=f"{final.label} step {step}",
            spec=final.spec,
            path=str(path),
            weights=f"{ctx.input_hashes.get(train)}:{name}",  # a retrained run: new samples
        )
        folder = ctx.out_dir / name
        rows, metrics = evaluate_questions(ctx, target, questions, folder)
        metrics["step"] = step
        write_jsonl_atomic(folder / "data.jsonl", [{**r, "step": step} for r in rows])
        write_json_atomic(folder / "metrics.json", metrics)
        ctx.add_output(name)
        done[str(step)] = {k: metrics[k] for k in benches}
        for key, bench in benches.items():
            for line in kind(bench.name).summary(f"{ctx.name} step {step}", key, metrics[key]):
                console.print(line)
    ctx.count_kept_input(sum(len(q) for q in questions.values()))  # every question, each step
    ctx.write_json("checkpoints.json", {"policy": cfg.checkpoints, "train_stage": train,
                                        "saved": [s for s, _ in saved], "steps": done})  # fmt: skip
    if (ctx.out_dir / "models").is_dir():
        ctx.add_output("models")
    return {"checkpoints_saved": len(saved), "checkpoints_evaluated": len(done)}


def _config(r: Any) -> dict:

    return {
        **evaluate_config("model")(r),
        "evaluation.checkpoints": r.evaluation.checkpoints,
    }


def _enabled(r: Any) -> bool:
    return r.training is not None and r.evaluation is not None and r.evaluation.sweeps_checkpoints


STAGE = StageDef(
    name="evaluate-checkpoints",
    fn=sweep_stage,
    needs=TRAIN_STAGE_NAMES,
    config=_config,
    enabled=_enabled,
    models=lambda r: [r.training.base, r.evaluation.judge],
    help="evaluate the trained model's saved checkpoints (evaluation.checkpoints: all | every_K)",
)
