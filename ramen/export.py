"""Merge a LoRA adapter into its base model: a standalone model folder that vLLM (and any
transformers user) loads without PEFT. Used by the train stage after a LoRA run and by
`ramen export`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ramen.errors import UserError
from ramen.io import atomic_dir


def adapter_base(adapter_dir: Path) -> str:
    config = adapter_dir / "adapter_config.json"
    if not config.is_file():
        raise UserError(f"no LoRA adapter (adapter_config.json) in {adapter_dir}")
    return json.loads(config.read_text(encoding="utf-8"))["base_model_name_or_path"]


def merge_lora(
    adapter_dir: Path,
    out_dir: Path,
    base: str | None = None,
    dtype: str = "auto",
    dequantize: dict | None = None,
) -> Path:
    """Load base + adapter, merge the LoRA weights in, save model, tokenizer and a generation
    config that stops on the tokenizer's EOS (the chat template's end of turn). `dequantize`:
    the quantized base's quantization config with `dequantize` on (training.dequantize): the
    merge is a plain model in `dtype` (LoRA cannot be merged into MXFP4 blocks)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = base or adapter_base(adapter_dir)
    torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
    extra = {}
    if dequantize is not None:
        from transformers.quantizers.auto import AutoQuantizationConfig

        extra["quantization_config"] = AutoQuantizationConfig.from_dict(dequantize)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch_dtype, **extra)
    if dequantize is not None:
        plain_layout(model)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(str(adapter_dir))
    with atomic_dir(out_dir) as tmp:
        merged.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        stop_on_eos(tmp, tokenizer)
    return out_dir


def plain_layout(model: Any) -> None:
    """Save `model` (or a PEFT model's base) in its architecture's own layout. transformers
    5.19 saves a model by reversing the conversions it was loaded with; loaded dequantized from
    an MXFP4 checkpoint (gpt-oss), that reversal has no way back to blocks and scales and
    writes the model without its experts, silently (tests/test_architectures_training.py)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base._weight_conversions = None


def stop_on_eos(folder: Path, tokenizer) -> None:
    """Make the saved generation config stop on the tokenizer's EOS as well as its own."""
    from transformers import GenerationConfig

    try:
        gen = GenerationConfig.from_pretrained(str(folder))
    except OSError:
        gen = GenerationConfig()
    ids = gen.eos_token_id
    ids = [] if ids is None else ([ids] if isinstance(ids, int) else list(ids))
    if tokenizer.eos_token_id not in ids:
        ids.insert(0, tokenizer.eos_token_id)
    gen.eos_token_id = ids
    gen.pad_token_id = tokenizer.pad_token_id
    gen.save_pretrained(str(folder))
