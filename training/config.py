"""The `training:` section of a recipe."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from ramen.errors import RecipeError
from ramen.spec import StrictModel, need_model

# Arguments ramen sets itself from other recipe keys; giving them in `args` would fight it.
OWNED_ARGS = {
    "output_dir": "the stage folder",
    "deepspeed": "training.deepspeed",
    "seed": "the recipe's seed",
    "report_to": "training.report_to",
    "resume_from_checkpoint": "ramen resumes from the last checkpoint by itself",
    "assistant_only_loss": "the rendered rows: loss falls on the generated turn only",
    "completion_only_loss": "the rendered rows: loss falls on the generated turn only",
    "chat_template_path": "models.<model>.training_chat_template",
    "chat_template_kwargs": "models.<model>.chat_template_kwargs (ramen renders the prompts)",
}


class LoraSpec(StrictModel):
    r: int = Field(default=16, ge=1, description="LoRA rank.")
    alpha: int = Field(default=32, ge=1, description="LoRA scaling alpha.")
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA path.")
    target_modules: list[str] | str = Field(
        default="all-linear", description="Modules to adapt: a list of names, or `all-linear`."
    )
    HASHED_WHEN_SET = frozenset({"target_parameters"})

    target_parameters: list[str] | None = Field(
        default=None,
        description="Parameters to adapt that are not linear layers, by name suffix: an MoE's "
        "fused experts (gpt-oss: `[mlp.experts.gate_up_proj, mlp.experts.down_proj]`). The "
        "train stage's stats say which groups (attention, router, experts) LoRA adapted.",
    )


class DataEntry(StrictModel):
    """One dataset of a mixed training set (`training.data` as a list)."""

    path: str | None = Field(
        default=None,
        description="A `datasets` folder or .jsonl/.json/.parquet in TRL format; null = what "
        "curation writes for this step's method (the pairs, the SFT set, or select's problems).",
    )
    weight: float | None = Field(
        default=None,
        gt=0,
        description="Share among the entries that have a weight (normalised): the largest mix "
        "with these shares, rows drawn at random (seeded). Entries without a weight are used "
        "whole.",
    )
    limit: int | None = Field(
        default=None, ge=1, description="Use only the first N rows of this dataset (null = all)."
    )


class TrainingStep(StrictModel):
    """One training run. A recipe's `training:` is the first; `then:` chains more."""

    HASHED_WHEN_SET = frozenset({"dequantize", "checkpoint_every"})

    method: Literal["sft", "dpo", "grpo"] = Field(
        description="TRL trainer to run: `sft`, `dpo`, or `grpo` (online RL with ramen's grader "
        "as the reward)."
    )
    data: str | list[DataEntry] | None = Field(
        default=None,
        description="Training set (a `datasets` folder, or .jsonl/.json/.parquet in TRL format; "
        "for grpo, problems with question, answer and answer_type); null = what curation writes: "
        "the pairs (dpo), the SFT set (sft), or the problems `select` keeps in the pass band "
        "(grpo: a problem every rollout solves, or none does, teaches nothing). A list mixes "
        "datasets: `[{weight: 3}, {path: safety.jsonl, weight: 1}]` (an entry without `path` "
        "is curation's set); the train stage's stats.json shows the realised counts.",
    )
    judge: str | None = Field(
        default=None,
        description="grpo: a model under `models:` that judges the answers the rules leave "
        "undecided (its engine backend `endpoint` or `serve`); null = rules only. An undecided "
        "answer or a judge_error scores as missing (no gradient), never as wrong.",
    )
    lora: LoraSpec | None = Field(
        default=None, description="LoRA adapter settings; null = full parameters."
    )
    deepspeed: Literal["zero2", "zero3", "zero3_offload"] | None = Field(
        default=None,
        description="DeepSpeed ZeRO preset (recipes/deepspeed/<name>.json); null = plain DDP.",
    )
    processes: int = Field(
        default=1,
        ge=1,
        description="Training processes per machine (GPUs per node; CPU processes on a CPU box).",
    )
    checkpoint_every: float | None = Field(
        default=60.0,
        gt=0,
        description="Minutes of training between checkpoints (with optimizer states), besides "
        "`args.save_steps`, whichever comes first; null = steps only. A long run with few "
        "optimizer steps (hours per step) saves on time, and a SLURM job near its time limit "
        "asks for one more before it is requeued (`launch.requeue`), so the requeued job "
        "resumes from minutes ago, not from its start.",
    )
    dequantize: bool = Field(
        default=False,
        description="Load a quantized checkpoint (gpt-oss's MXFP4 experts) dequantized to "
        "`models.<base>.dtype` for training, as transformers does with the quantization "
        "config's `dequantize`; generation and evaluation keep serving the quantized weights. "
        "A quantized base without it is refused before training starts.",
    )
    reference: Literal["model", "precompute"] = Field(
        default="model",
        description="DPO with full parameters: keep a reference model (initialised under ZeRO-3 "
        "when DeepSpeed is on) or precompute reference log-probs once before training. With "
        "LoRA the adapter-disabled base is always the reference.",
    )
    report_to: list[Literal["none", "tensorboard", "wandb", "trackio"]] = Field(
        default_factory=lambda: ["none"],
        description="Experiment trackers; metrics always go to metrics.jsonl in the stage folder.",
    )
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="Arguments passed as they are to TRL's SFTConfig / DPOConfig / GRPOConfig "
        "(learning_rate, beta, loss_type, num_train_epochs, save_steps, num_generations, "
        "max_completion_length, ...).",
    )

    @field_validator("report_to")
    @classmethod
    def _tracker_installed(cls, report_to: list[str]) -> list[str]:
        import importlib.util

        for tracker in report_to:
            if tracker != "none" and importlib.util.find_spec(tracker) is None:
                hint = (
                    " and run with WANDB_MODE=offline where there is no network"
                    if tracker == "wandb"
                    else ""
                )
                raise ValueError(f"'{tracker}' is not installed: pip install {tracker}{hint}")
        return report_to

    @field_validator("args")
    @classmethod
    def _not_owned(cls, args: dict[str, Any]) -> dict[str, Any]:
        for key in args:
            if key in OWNED_ARGS:
                raise ValueError(f"'{key}' is set by ramen from {OWNED_ARGS[key]}; remove it")
        return args

    @field_validator("data")
    @classmethod
    def _a_mix_has_entries(cls, data: Any) -> Any:
        if isinstance(data, list) and not data:
            raise ValueError("an empty list: give datasets to mix, or null for curation's set")
        return data


def data_entries(step: Any) -> list[DataEntry]:
    """The datasets a step trains on, as a list (a single path or null is one entry). A
    function, not a method: stages read the step through a RecipeView (launch/slices.py),
    which lets them read `data` but no method."""
    if isinstance(step.data, list):
        return list(step.data)
    return [DataEntry(path=step.data)]


def uses_curation_data(step: Any) -> bool:
    """Whether an entry of the step's data is curation's own set (no path)."""
    return any(e.path is None for e in data_entries(step))


class TrainingConfig(TrainingStep):
    base: str = Field(description="Name (under `models:`) of the model to train.")
    then: list[TrainingStep] = Field(
        default_factory=list,
        max_length=3,
        description="Further runs, each starting from the previous run's model (e.g. full SFT, "
        "then LoRA on format data). Stages train-2, train-3, ...",
    )

    def steps(self) -> list[TrainingStep]:
        return [self, *self.then]

    def check(self, recipe: Any) -> None:
        """Cross-field rules: the base and any GRPO judge are declared models (a judge served,
        since the training processes ask it), every `args` key is an argument of the step's
        TRL config with the kind of value it takes, and LoRA is not paired with ZeRO-3 offload."""
        # TRL's config classes are read once per TRL version and cached (importing TRL costs
        # seconds): only a recipe with a training section pays for it
        from ramen.training.trl_args import CONFIG_CLASS, unknown_arg, wrong_kind

        need_model(recipe, "training.base", self.base)
        for i, step in enumerate(self.steps()):
            where = "training" if i == 0 else f"training.then[{i - 1}]"
            if step.judge is not None:
                if step.method != "grpo":
                    raise RecipeError(
                        f"only a grpo step has a judge (this step's method is {step.method}); "
                        "remove it",
                        where=f"{where}.judge",
                    )
                need_model(recipe, f"{where}.judge", step.judge)
                backend = recipe.models[step.judge].engine.backend
                if backend not in ("endpoint", "serve"):
                    raise RecipeError(
                        f"the GRPO judge is asked from inside the training processes: give "
                        f"models.{step.judge}.engine.backend endpoint or serve (not {backend})",
                        where=f"{where}.judge",
                    )
            bad = unknown_arg(step.method, step.args)
            if bad:
                raise RecipeError(
                    f"not an argument of TRL's {CONFIG_CLASS[step.method]}; {bad[1]}",
                    where=f"{where}.args.{bad[0]}",
                )
            bad = wrong_kind(step.method, step.args)
            if bad:
                raise RecipeError(
                    f"TRL's {CONFIG_CLASS[step.method]} {bad[1]}", where=f"{where}.args.{bad[0]}"
                )
        if self.lora is not None and self.deepspeed == "zero3_offload":
            raise RecipeError(
                "LoRA with ZeRO-3 CPU offload is not supported; use deepspeed: zero2 or zero3 with LoRA",
                where="training.deepspeed",
            )
