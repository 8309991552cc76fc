"""Reasoning-model families for tests: the real chat templates TRL ships, put on a tokenizer
with each family's own special tokens (so end-of-turn markers are single tokens, as in the
real tokenizers). Qwen3-*-Thinking-2507 has no file of its own in TRL: its template is
`qwen3.jinja` with the generation prompt pre-filling `<think>\\n` (shared/reference/FAMILIES.md).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import trl

TEMPLATES = Path(trl.__file__).parent / "chat_templates"

# family -> (template file, special tokens the family's tokenizer has, its EOS, its BOS)
FAMILIES: dict[str, tuple[str, list[str], str | None, str | None]] = {
    "qwen3": ("qwen3", [], None, None),
    "qwen3-thinking-2507": ("qwen3", [], None, None),
    "qwen3_8": ("qwen3_8", [], None, None),
    "deepseek_r1_distill": (
        "deepseek_r1_distill",
        ["<｜begin▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<｜end▁of▁sentence｜>"],
        "<｜end▁of▁sentence｜>",
        "<｜begin▁of▁sentence｜>",
    ),
    "gptoss": (
        "gptoss",
        ["<|start|>", "<|channel|>", "<|message|>", "<|end|>", "<|return|>", "<|call|>"],
        "<|return|>",
        None,
    ),
    "glm4moe": (
        "glm4moe",
        ["[gMASK]", "<sop>", "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>"],
        "<|endoftext|>",
        None,
    ),
    "nemotron_3_nano": ("nemotron_3_nano", [], None, None),
    "gemma4_v5": ("gemma4_v5", ["<bos>", "<|turn>", "<turn|>", "<|channel>", "<channel|>"], "<turn|>", "<bos>"),
}  # fmt: skip
# what each family writes at the end of a finished assistant turn
END_OF_TURN = {
    "deepseek_r1_distill": "<｜end▁of▁sentence｜>",
    "gptoss": "<|return|>",
    "glm4moe": "<|endoftext|>",
    "gemma4_v5": "<turn|>",
}

_QWEN3_GENERATION = (
    "{{- '<|im_start|>assistant\\n' }}\n"
    "    {%- if enable_thinking is defined and enable_thinking is false %}\n"
    "        {{- '<think>\\n\\n</think>\\n\\n' }}\n"
    "    {%- endif %}"
)


def template(family: str) -> str:
    name = FAMILIES[family][0]
    text = (TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8")
    if family == "qwen3-thinking-2507":
        assert _QWEN3_GENERATION in text, "TRL's qwen3.jinja changed: rederive Thinking-2507"
        text = text.replace(_QWEN3_GENERATION, "{{- '<|im_start|>assistant\\n<think>\\n' }}")
    return text


def dress(tokenizer, family: str):
    """`tokenizer` with the family's template, special tokens, EOS and BOS."""
    _, specials, eos, bos = FAMILIES[family]
    if specials:
        tokenizer.add_special_tokens({"additional_special_tokens": specials})
    if eos:
        tokenizer.eos_token = eos
    if bos:
        tokenizer.bos_token = bos
    tokenizer.chat_template = template(family)
    return tokenizer


def end_of_turn(family: str) -> str:
    return END_OF_TURN.get(family, "<|im_end|>")


def tiny_base(family: str, strong: Path, dest: Path) -> Path:
    """A copy of the tiny strong model whose tokenizer is the family's (the embedding table
    has room for the added tokens: its rows are padded to a multiple of 64)."""
    from transformers import AutoTokenizer

    shutil.copytree(strong, dest)
    tokenizer = dress(AutoTokenizer.from_pretrained(dest), family)
    tokenizer.save_pretrained(dest)
    return dest
