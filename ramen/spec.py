"""Model specs: every model of a recipe is declared once under `models:` and referred to by name."""

from __future__ import annotations

import ast
import difflib
import importlib.util
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ramen.errors import RecipeError
from ramen.turns import find_template

# Names that become file or folder names (run, model, benchmark label): no path separators,
# no leading dot, so no recipe value can point a write outside the run folder.
SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"

# The tiny model family that ramen/testing/tiny_build.py builds and ramen/testing/tiny_family/ ships (`path: tiny:NAME`).
TINY_NAMES = ("weak", "strong", "judge", "writer", "lax")


def need_model(recipe: Any, where: str, name: str | None, allow_trained: bool = False) -> None:
    """A recipe key that names a model must name one declared under `models:` (`trained`, the
    run's trained model, where `allow_trained`); otherwise one line with a did-you-mean. Used by
    each section's `check(recipe)`."""
    names = sorted(recipe.models)
    if name is None or (allow_trained and name == "trained") or name in names:
        return
    close = difflib.get_close_matches(name, names, n=1)
    hint = (
        f"did you mean '{close[0]}'?"
        if close
        else f"declare it under models: (known: {', '.join(names) or 'none'})"
    )
    raise RecipeError(f"unknown model '{name}'; {hint}", where=where)


class StrictModel(BaseModel):
    """Base of every recipe section: unknown keys are errors (the loader adds a did-you-mean)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class EngineSpec(StrictModel):
    """How a model is served: an offline vLLM engine, a `vllm serve` ramen starts, or an endpoint."""

    backend: Literal["offline", "serve", "endpoint"] = Field(
        default="offline",
        description="`offline`: a vLLM `LLM` in the stage's process (batch jobs); `serve`: ramen "
        "starts an OpenAI-compatible vLLM server on 127.0.0.1 and talks to it; `endpoint`: an "
        "OpenAI-compatible server that is already running (`url`).",
    )
    url: str | None = Field(
        default=None,
        description="Base URL of the endpoint, e.g. `http://10.0.0.5:8000/v1` (backend `endpoint`).",
    )
    api_key_env: str | None = Field(
        default=None,
        description="Name of the environment variable that holds the endpoint's API key (the key "
        "itself never goes in a recipe, a log or a manifest).",
    )
    served_name: str | None = Field(
        default=None,
        description="Model name to send to the endpoint (null = the model's `path`).",
    )
    concurrency: int = Field(
        default=64, ge=1, description="Most requests in flight at once to a server."
    )
    request_timeout_s: float = Field(
        default=3600.0,
        gt=0,
        description="Seconds before one server request is abandoned and retried.",
    )
    max_retries: int = Field(
        default=4,
        ge=0,
        description="Retries of a failed server request (connection errors, timeouts, 429, 5xx), "
        "with exponential backoff.",
    )
    reconnect_timeout_s: float = Field(
        default=900.0,
        ge=0,
        description="Seconds a request keeps retrying while the server cannot be reached at all "
        "(connection refused or dropped: a server that crashed and is restarting), with backoff "
        "capped at 30 s. Counted apart from `max_retries`, which covers error replies and timeouts.",
    )
    max_restarts: int = Field(
        default=3,
        ge=0,
        description="Backend `serve`: how many times ramen restarts its `vllm serve` when the "
        "server process dies mid-run (requests in flight are retried; 0 = fail on the first death).",
    )
    startup_timeout_s: float = Field(
        default=1800.0,
        gt=0,
        description="Seconds to wait for a started `vllm serve` to be healthy.",
    )
    budget_margin: int = Field(
        default=8,
        ge=0,
        description="Tokens kept free of the context: max_tokens = max_model_len - prompt_tokens - margin.",
    )
    length_retries: int = Field(
        default=0,
        ge=0,
        description="Re-request a sample that stopped at the length limit up to this many times, "
        "with a fresh seed (the HLE competition harness did).",
    )
    max_num_seqs: int | None = Field(
        default=None, ge=1, description="vLLM's cap on sequences per batch (null = vLLM's default)."
    )
    enforce_eager: bool | None = Field(
        default=None,
        description="Disable CUDA graphs (null = on for CPU, off for GPU).",
    )
    multiprocessing: bool | None = Field(
        default=None,
        description="Backend `offline`: run vLLM's engine core in a process of its own (vLLM's "
        "default; `VLLM_ENABLE_V1_MULTIPROCESSING`), which overlaps scheduling with the GPU. "
        "null = on for GPU, off for CPU, where the spawned engine core and worker re-import torch "
        "and vLLM: a tiny model's engine starts in ~7 s in-process instead of ~23 s, and "
        "samples the same text (benchmarks/engine_modes.py).",
    )

    @model_validator(mode="after")
    def _endpoint_needs_url(self) -> EngineSpec:
        if self.backend == "endpoint" and not self.url:
            raise ValueError("backend `endpoint` needs `url` (e.g. http://host:8000/v1)")
        if self.api_key_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.api_key_env):
            raise ValueError(
                "`api_key_env` is the NAME of an environment variable (e.g. OPENAI_API_KEY), "
                "not the key itself"
            )
        return self


class ModelSpec(StrictModel):
    path: str = Field(
        description="Where the weights are: a hub id (`Qwen/Qwen3-32B`), a local folder, or "
        "`tiny:NAME` for a member of the tiny family ramen ships (`tiny:weak`, `tiny:strong`, `tiny:judge`, `tiny:writer`, `tiny:lax`; ramen/testing/tiny_family)."
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
    gpu_memory_utilization: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="Share of accelerator memory vLLM may take; null = 0.9 on GPU and 0.3 on CPU, "
        "where vLLM-CPU reserves that share of RAM and refuses to start if it is not free.",
    )
    enable_thinking: bool | None = Field(
        default=None,
        description="Passed to the chat template as `enable_thinking` (Qwen3); null leaves the "
        "template's default. Set false for a judge.",
    )
    chat_template_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra keyword arguments for the model's chat template."
    )
    training_chat_template: str | None = Field(
        default=None,
        description="For training only: a .jinja file, or the name of a template TRL ships "
        "(`deepseek_r1_distill_training`), that renders the assistant turn with its reasoning "
        "where the model's own template drops it. Null: the model's own template, else TRL's "
        "training variant of it. Generation and evaluation always use the model's own.",
    )
    reasoning_parser: str = Field(
        default="auto",
        pattern=r"^[A-Za-z0-9_]+$",
        description="How generated text is split into reasoning and answer: the name of a vLLM "
        "reasoning parser (`qwen3`, `deepseek_r1`, `gemma4`, `glm45`, `nemotron_v3`, "
        "`openai_gptoss`, ...), run by ramen on the raw text on every backend (`vllm serve` "
        "returns the raw text, which training needs); `auto` picks the one for the model's type "
        "and template and checks it on a probe turn the template renders; `none` splits at "
        "`</think>` without a parser. A model that does not reason under its template "
        "(`enable_thinking: false`) gets none.",
    )
    engine: EngineSpec = Field(
        default_factory=EngineSpec, description="How the model is served for generation."
    )
    judge_format: Literal["hle", "verdict", "abc"] = Field(
        default="hle",
        description="How this model answers when it judges: `hle` = the four HLE fields "
        "(extracted_final_answer, reasoning, correct, confidence); `verdict` = a bare "
        "`Correct`/`Incorrect` (xVerify-style verifiers); `abc` = `A` correct, `B` incorrect, "
        "`C` invalid (CompassVerifier-style; `invalid` is its own verdict, never `incorrect`). "
        "Each format has its default prompt (judge_hle.txt, judge_verdict.txt, judge_abc.txt).",
    )
    generation_defaults: Literal["model", "none"] = Field(
        default="model",
        description="Sampling knobs a recipe leaves unset (top_k, min_p, repetition_penalty, "
        "presence_penalty, frequency_penalty): `model` takes them from the model's "
        "generation_config.json, as `vllm serve` does; `none` uses vLLM's neutral values. Both "
        "backends apply the same resolved values.",
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

    @field_validator("reasoning_parser")
    @classmethod
    def _parser_known(cls, value: str) -> str:
        known = known_reasoning_parsers()
        if value not in ("auto", "none") and known is not None and value not in known:
            raise ValueError(
                f"'{value}' is not a vLLM reasoning parser; use auto, none or one of "
                + ", ".join(sorted(known))
            )
        return value

    @field_validator("training_chat_template")
    @classmethod
    def _template_found(cls, value: str | None) -> str | None:

        if value is not None and find_template(value) is None:
            raise ValueError(
                f"'{value}' is neither a .jinja file nor a template TRL ships; give a file or a "
                "name such as deepseek_r1_distill_training"
            )
        return value

    def template_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the chat template (`enable_thinking` included when set)."""
        kwargs = dict(self.chat_template_kwargs)
        if self.enable_thinking is not None:
            kwargs["enable_thinking"] = self.enable_thinking
        return kwargs

    def memory_utilization(self, on_gpu: bool) -> float:
        """The `gpu_memory_utilization` vLLM gets: the recipe's, else a default per device."""
        if self.gpu_memory_utilization is not None:
            return self.gpu_memory_utilization
        return 0.9 if on_gpu else 0.3


def known_reasoning_parsers() -> set[str] | None:
    """The names vLLM registers reasoning parsers under, read from its source without
    importing it (seconds); None when they cannot be read (the engine checks the name)."""
    try:
        spec = importlib.util.find_spec("vllm")
        init = Path(spec.origin).parent / "reasoning" / "__init__.py"  # type: ignore[union-attr]
        for node in ast.parse(init.read_text(encoding="utf-8")).body:
            if (
                isinstance(node, ast.Assign)
                and getattr(node.targets[0], "id", "") == "_REASONING_PARSERS_TO_REGISTER"
                and isinstance(node.value, ast.Dict)
            ):
                return {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
    except (AttributeError, OSError, SyntaxError, TypeError, ValueError):
        pass
    return None
