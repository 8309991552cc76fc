"""Does vLLM serve what was trained? The same prompts through vLLM and through transformers,
greedy, token by token: a model folder whose weights vLLM loads differently from the trainer
(fused experts saved in a layout vLLM reads another way, a LoRA merge that missed a group, a
dtype cast) answers differently.

    .venv/bin/python -m ramen.testing.serving MODEL_FOLDER... [--tokens 32] [--dtype float32]

prints one JSON line per folder: how many prompts, how many gave the same tokens, and the
first difference. tests/test_architectures_e2e.py runs it on the tiny MoE and gpt-oss after each kind
of training (ZeRO-3 full-parameter, LoRA merged); it works on any local model folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

# Questions no tiny member trained on, in the shape of the bundled problems.
PROMPTS = (
    "What is 23 + 58?",
    "What is 7 * 9?",
    "Solve for x: x + 14 = 31.",
    "What is the remainder when 47 is divided by 6?",
    "What is 120 - 77?",
    "What is 3 + 4 + 5?",
)


def prompt_ids(tokenizer: Any, prompts: tuple[str, ...] | list[str]) -> list[list[int]]:
    """Each question rendered by the model's own template, as generation renders it."""
    return [
        tokenizer.encode(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
            ),
            add_special_tokens=False,
        )
        for p in prompts
    ]


def transformers_greedy(
    path: str, ids: list[list[int]], tokens: int, dtype: str
) -> list[list[int]]:
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype)).eval()
    eos = GenerationConfig.from_pretrained(path).eos_token_id
    out = []
    with torch.no_grad():
        for prompt in ids:  # one at a time: no padding in the way
            x = torch.tensor([prompt])
            y = model.generate(
                x, attention_mask=torch.ones_like(x), max_new_tokens=tokens, do_sample=False,
                eos_token_id=eos, pad_token_id=model.config.pad_token_id,
            )  # fmt: skip
            out.append(y[0, len(prompt) :].tolist())
    return out


def vllm_greedy(path: str, ids: list[list[int]], tokens: int, dtype: str) -> list[list[int]]:
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    from ramen.inference.offline import vllm_multiprocessing  # imports vLLM: only to compare

    with vllm_multiprocessing(False):
        llm = LLM(
            model=path, dtype=dtype, max_model_len=1024, enforce_eager=True, seed=0,
            gpu_memory_utilization=0.2,
        )  # fmt: skip
    params = SamplingParams(temperature=0.0, max_tokens=tokens)
    outputs = llm.generate([TokensPrompt(prompt_token_ids=p) for p in ids], params, use_tqdm=False)
    del llm  # the next folder's engine gets the memory
    return [list(o.outputs[0].token_ids) for o in outputs]


def compare(path: str, tokens: int = 32, dtype: str = "float32") -> dict:
    """vLLM's and transformers' greedy tokens on PROMPTS, compared."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    ids = prompt_ids(tokenizer, PROMPTS)
    hf = transformers_greedy(path, ids, tokens, dtype)
    vl = vllm_greedy(path, ids, tokens, dtype)
    eos = set(tokenizer.convert_tokens_to_ids([tokenizer.eos_token]))
    same, first = 0, None
    for prompt, a, b in zip(PROMPTS, hf, vl, strict=True):
        a = a[: len(b)] if len(a) > len(b) and set(a[len(b) :]) <= eos else a  # the EOS itself
        if a == b:
            same += 1
        elif first is None:
            at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
            first = {
                "prompt": prompt,
                "at_token": at if at is not None else min(len(a), len(b)),
                "transformers": tokenizer.decode(a, skip_special_tokens=False),
                "vllm": tokenizer.decode(b, skip_special_tokens=False),
            }
    return {"model": path, "prompts": len(PROMPTS), "same": same, "first_difference": first,
            "tokens": tokens, "dtype": dtype}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ramen.testing.serving",
        description="vLLM's and transformers' greedy tokens for the same prompts, compared.",
    )
    parser.add_argument("models", nargs="+", help="local model folders")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args(argv)
    worst = 0
    for model in args.models:  # one process: vLLM and torch import once
        result = compare(model, args.tokens, args.dtype)
        print(json.dumps(result), flush=True)
        worst = max(worst, int(result["same"] != result["prompts"]))
    return worst


if __name__ == "__main__":
    sys.exit(main())
