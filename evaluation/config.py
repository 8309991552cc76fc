"""The `evaluation:` section of a recipe."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ramen.prompts import check_prompt_file
from ramen.spec import StrictModel


class BenchmarkSpec(StrictModel):
    name: Literal["hle", "do_not_answer", "qa"] = Field(
        description="Benchmark kind: `hle`, `do_not_answer`, or `qa` (any QA/math set)."
    )
    path: str | None = Field(
        default=None,
        description="Local file in the benchmark's schema, or `bundled:NAME`; null = the official hub set.",
    )
    limit: int | None = Field(
        default=None, ge=1, description="Evaluate only the first N questions."
    )

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value):
        # `benchmarks: [hle]` is shorthand for `benchmarks: [{name: hle}]`.
        return {"name": value} if isinstance(value, str) else value


class EvaluationConfig(StrictModel):
    model: str = Field(
        default="trained",
        description="What to evaluate: `trained` (the training output) or a name under `models:`.",
    )
    baseline: str | None = Field(
        default=None,
        description="A name under `models:` evaluated on the same questions and compared with "
        "`model` by a paired test (null = no comparison).",
    )
    benchmarks: list[BenchmarkSpec] = Field(min_length=1, description="Benchmarks to run.")
    samples: int = Field(
        default=1, ge=1, description="Samples per question (avg@n, pass@k, maj@k)."
    )
    temperature: float = Field(default=0.6, ge=0.0, description="Sampling temperature.")
    max_tokens: int | None = Field(
        default=None, ge=1, description="Cap on completion tokens (null = all the context leaves)."
    )
    judge: str | None = Field(
        default=None, description="Name (under `models:`) of the judge model."
    )
    judge_prompt: str = Field(
        default="judge_hle.txt",
        description="Judge prompt: a file in ramen/prompts or a path to your own, with "
        "{question}, {response} and {correct_answer}.",
    )

    @field_validator("judge_prompt")
    @classmethod
    def _prompt_exists(cls, value: str) -> str:
        check_prompt_file(value)
        return value
