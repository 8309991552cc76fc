"""Model specs: every model of a recipe is declared once under `models:` and referred to by name."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# The tiny model family that training/tiny.py builds offline (`path: tiny:NAME`).
TINY_NAMES = ("weak", "strong", "judge")


class StrictModel(BaseModel):
    """Base of every recipe section: unknown keys are errors (the loader adds a did-you-mean)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class ModelSpec(StrictModel):
    path: str = Field(
        description="Where the weights are: a hub id (`Qwen/Qwen3-32B`), a local folder, or "
        "`tiny:NAME` for a model ramen builds offline (`tiny:weak`, `tiny:strong`, `tiny:judge`)."
    )
    revision: str | None = Field(
        default=None,
        description="Hub revision (branch, tag or commit) to pin; null = default branch.",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto",
        description="Weights dtype for vLLM and training; `auto` takes the model's own.",
    )
    max_model_len: int = Field(
        default=32768,
        ge=64,
        description="Context length (prompt + completion tokens) the engine serves; the completion "
        "budget is what the prompt leaves of it.",
    )
    tensor_parallel: int = Field(
        default=1, ge=1, description="vLLM tensor-parallel size (GPUs per replica)."
    )
    pipeline_parallel: int = Field(
        default=1, ge=1, description="vLLM pipeline-parallel size (nodes per replica, over Ray)."
    )
    data_parallel: int = Field(default=1, ge=1, description="Number of independent vLLM replicas.")
    gpu_memory_utilization: float = Field(
        default=0.9, gt=0.0, le=1.0, description="Share of GPU memory vLLM may take."
    )
    enable_thinking: bool | None = Field(
        default=None,
        description="Passed to the chat template as `enable_thinking` (Qwen3); null leaves the "
        "template's default. Set false for a judge.",
    )
    chat_template_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra keyword arguments for the model's chat template."
    )
    trust_remote_code: bool = Field(
        default=False,
        description="Run Python code shipped with the model. Off unless you trust the repository; "
        "ramen warns when it is on.",
    )

    @field_validator("path")
    @classmethod
    def _tiny_name(cls, path: str) -> str:
        if path.startswith("tiny:") and path.removeprefix("tiny:") not in TINY_NAMES:
            raise ValueError(
                f"unknown tiny model '{path}'; use one of "
                + ", ".join(f"tiny:{n}" for n in TINY_NAMES)
            )
        return path
