"""The `evaluate-models` stage: more candidates (`evaluation.models`), evaluated like `model`.

Teams evaluate several candidates (checkpoints of different runs, merges, other bases) and
submit the best; with eight candidates one beats the base by noise alone. Each name under
`evaluation.models` is evaluated on the same questions with the same sample seeds as
`evaluate`, into its own folder (`<name>/`: samples, judgements, `data.jsonl`,
`metrics.json`), so a killed stage resumes model by model and sample by sample. The report
then compares `model` and every candidate with the baseline, paired on shared questions,
McNemar p Holm-corrected over the candidates (evaluation/compare.py `compare_many`, what
`ramen compare BASE CAND1 CAND2 ...` prints), and lists the questions only one model solved.
"""

from __future__ import annotations

from typing import Any

from ramen.benchmarks import kind
from ramen.console import console
from ramen.evaluation.evaluate import (
    EvaluatedModel,
    evaluate_config,
    evaluate_questions,
    load_questions,
)
from ramen.io import write_json_atomic, write_jsonl_atomic
from ramen.stage import StageContext, StageDef, model_entries


def models_stage(ctx: StageContext) -> dict:
    """Stage `evaluate-models`: each of `evaluation.models`, evaluated in its own folder."""
    cfg = ctx.recipe.evaluation
    benches = {b.key: b for b in cfg.benchmarks}
    questions = {key: load_questions(ctx, b) for key, b in benches.items()}
    for name in cfg.models:
        target = EvaluatedModel(
            name=name,
            label=name,
            spec=ctx.recipe.models[name],
            path=ctx.resolve_model(name),
            weights=None,
        )
        folder = ctx.out_dir / name
        rows, metrics = evaluate_questions(ctx, target, questions, folder)
        write_jsonl_atomic(folder / "data.jsonl", rows)
        write_json_atomic(folder / "metrics.json", metrics)
        ctx.add_output(name)
        for key, bench in benches.items():
            for line in kind(bench.name).summary(f"{ctx.name} {name}", key, metrics[key]):
                console.print(line)
    ctx.count_kept_input(sum(len(q) for q in questions.values()))  # every question, each model
    ctx.write_json("models.json", list(cfg.models))
    return {"models": list(cfg.models)}


def _config(r: Any) -> dict:

    config = evaluate_config("baseline")(r)  # the questions, sampling, judge and seed
    config.pop("evaluation.baseline", None)
    config.pop("model label", None)
    return {
        **config,
        "evaluation.models": list(r.evaluation.models),
        **model_entries(r, *r.evaluation.models, r.evaluation.judge),
    }


STAGE = StageDef(
    name="evaluate-models",
    fn=models_stage,
    needs=(),
    config=_config,
    enabled=lambda r: r.evaluation is not None and bool(r.evaluation.models),
    models=lambda r: [*r.evaluation.models, r.evaluation.judge],
    help="evaluate evaluation.models like evaluation.model (compared in the report, Holm-corrected)",
)
