"""The `training:` section of a recipe."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ramen.spec import StrictModel


class LoraSpec(StrictModel):
    r: int = Field(default=16, ge=1, description="LoRA rank.")
    alpha: int = Field(default=32, ge=1, description="LoRA scaling alpha.")
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA path.")
    target_modules: list[str] | str = Field(
        default="all-linear", description="Modules to adapt: a list of names, or `all-linear`."
    )


class TrainingConfig(StrictModel):
    method: Literal["sft", "dpo"] = Field(description="TRL trainer to run: `sft` or `dpo`.")
    base: str = Field(description="Name (under `models:`) of the model to train.")
    data: str | None = Field(
        default=None,
        description="Training set (a `datasets` folder or jsonl in TRL format); null = the pairs "
        "(dpo) or SFT set (sft) that curation writes.",
    )
    lora: LoraSpec | None = Field(
        default=None, description="LoRA adapter settings; null = full parameters."
    )
    deepspeed: Literal["zero2", "zero3", "zero3_offload"] | None = Field(
        default=None, description="DeepSpeed ZeRO preset for full-parameter runs (null = none)."
    )
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="Arguments passed as they are to TRL's SFTConfig / DPOConfig "
        "(learning_rate, beta, num_train_epochs, ...).",
    )
