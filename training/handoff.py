"""What the train stage hands its training processes: `TrainerSpec`, written to spec.json by
the stage (training/stage.py) and read back by the same type in every process that
`accelerate launch -m ramen.training.run` starts (training/run.py). A misspelt or missing field
fails where the spec is built, in the stage, with pydantic's message, not as a KeyError inside
the accelerate workers; extra fields are refused on both sides.

The JSON is the one the stage wrote before the spec was typed (the same keys, `grpo` only for
a GRPO step), so a finished run's spec.json, an output of the stage, does not change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ramen.io import write_json_atomic
from ramen.training.config import LoraSpec

# Written by the trainer when it trains LoRA: the parameter groups PEFT adapted and those it
# left frozen (run.adapted_groups), read by the stage into its stats.
ADAPTED = "adapted.json"
# Created by a job near its time limit (launch/slurm.py): the trainer saves a checkpoint at the
# next step end, then removes it (TimedCheckpoints in run.py).
CHECKPOINT_REQUEST = "checkpoint-request"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JudgeHandoff(_Spec):
    """The judge of a GRPO reward: evaluation.judge.judge_identity's fields and its folder."""

    judge: str  # the recipe's model name
    spec: dict[str, Any]  # its ModelSpec, as JSON (ramen.spec.ModelSpec validates it)
    prompt: str
    format: str
    path: str


class GrpoHandoff(_Spec):
    """What a GRPO step needs beyond the common spec: the completion budget, how to read a
    completion (the model's output parser) and the judge, if any."""

    max_completion_length: int
    template_kwargs: dict[str, Any]
    reasoning_parser: str
    model_name: str
    judge: JudgeHandoff | None


class TrainerSpec(_Spec):
    name: str  # recipe/stage, for the loss plot's title and trackio's project
    method: Literal["sft", "dpo", "grpo"]
    model: str  # the base model's folder or hub id
    data: str  # the stage's own copy of the training set (a `datasets` folder)
    data_source: str  # what `data` is a copy of
    out_dir: str
    checkpoints: str
    seed: int
    report_to: list[str]
    gpu: bool
    dtype: str
    trust_remote_code: bool
    reference: Literal["model", "precompute"]
    lora: LoraSpec | None
    deepspeed: str | None  # a ZeRO preset's path
    args: dict[str, Any]  # passed to TRL's config (checked against it when the recipe loads)
    grpo: GrpoHandoff | None = None
    # the base's quantization config with `dequantize: true` (training.dequantize), else None
    dequantize: dict[str, Any] | None = None
    checkpoint_every_s: float | None = None  # training.checkpoint_every, in seconds

    def write(self, path: Path) -> None:
        data = self.model_dump(mode="json")
        if data["grpo"] is None:
            del data["grpo"]
        write_json_atomic(path, data)

    @classmethod
    def read(cls, path: Path) -> TrainerSpec:
        return cls.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
