"""The tokenizer (and chat template) of the model a training step starts from: the train
stage renders SFT/DPO rows with it and the GRPO prompts (training/grpo.py) likewise."""

from __future__ import annotations

from typing import Any

from ramen.errors import UserError
from ramen.stage import StageContext


def base_tokenizer(ctx: StageContext, base: str, model: str) -> Any:
    """The tokenizer (and chat template) of the model a step starts from, or a one-line error
    naming `models.<model>.path`."""
    from transformers import AutoTokenizer  # slow to import; the stage's processes need it

    spec = ctx.recipe.models[model]
    try:
        return AutoTokenizer.from_pretrained(
            base,
            revision=spec.revision if base == spec.path else None,
            trust_remote_code=spec.trust_remote_code,
        )
    except (OSError, ValueError) as e:
        raise UserError(
            f"cannot load the tokenizer of {base}: {e}", where=f"models.{model}.path"
        ) from None
