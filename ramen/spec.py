"""Model specs: every model of a recipe is declared once under `models:` and referred to by name."""

from __future__ import annotations

import ast
import difflib
import functools
import importlib.util
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from ramen.errors import RecipeError
from ramen.turns import find_template

# Names that become file or folder names (run, model, benchmark label): no path separators,
# no leading dot, so no recipe value can point a write outside the run folder.
SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"

# The tiny model family that ramen/testing/tiny_build.py builds and ramen/testing/tiny_family/ ships (`path: tiny:NAME`).
TINY_NAMES = ("weak", "strong", "judge", "writer", "lax", "moe", "oss")


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


Scalar = str | int | float | bool | None


class StrictModel(BaseModel):
    """Base of every recipe section: unknown keys are errors (the loader adds a did-you-mean)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)
    # Keys added after users had finished runs: a stage's config hash counts them only when the
    # recipe sets them to something other than their default, so a new knob reruns nothing.
    HASHED_WHEN_SET: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _hashed(self, handler: Any, info: SerializationInfo) -> Any:
        out = handler(self)
        if self.HASHED_WHEN_SET and isinstance(out, dict) and (info.context or {}).get("hashed"):
            fields = type(self).model_fields
            for name in self.HASHED_WHEN_SET:
                if getattr(self, name) == fields[name].get_default(call_default_factory=True):
                    out.pop(name, None)
        return out


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

    HASHED_WHEN_SET = frozenset({"args"})

    args: dict[str, Scalar | list[Scalar]] = Field(
        default_factory=dict,
        description="More vLLM engine arguments, by their `EngineArgs` names, given to the offline "
        "engine as keywords and to `vllm serve` as flags alike: what MoE serving needs "
        "(`enable_expert_parallel: true`, `kv_cache_dtype: fp8`, `enable_prefix_caching: true`, "
        "...). Names are checked against vLLM's EngineArgs when the recipe loads; `ramen "
        "validate` also runs vLLM's own argument parser on the values. Arguments ramen sets "
        "from other keys (dtype, max_model_len, parallel sizes, seed, ...) are refused here.",
    )

    @field_validator("args")
    @classmethod
    def _known_engine_args(cls, value: dict) -> dict:
        for name in value:
            check_engine_arg(name)
        return value

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
        "`tiny:NAME` for a member of the tiny family ramen ships (`tiny:weak`, `tiny:strong`, `tiny:judge`, `tiny:writer`, `tiny:lax`, the Qwen3-MoE `tiny:moe`, the gpt-oss `tiny:oss`; ramen/testing/tiny_family)."
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
    HASHED_WHEN_SET = frozenset({"reasoning_effort"})

    reasoning_effort: Literal["low", "medium", "high"] | None = Field(
        default=None,
        description="How hard a reasoning model thinks (gpt-oss: `Reasoning: low|medium|high` in "
        "its system message); null leaves the model's default. Sent as the request's "
        "`reasoning_effort` field to a server (vLLM's harmony rendering reads it there, never "
        "from `chat_template_kwargs`) and given to the chat template offline and in training.",
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

    @field_validator("chat_template_kwargs")
    @classmethod
    def _effort_is_its_own_key(cls, value: dict) -> dict:
        if "reasoning_effort" in value:
            raise ValueError(
                "reasoning_effort: use the model's own `reasoning_effort` key (a server reads it "
                "as the request's field; vLLM's harmony rendering of gpt-oss ignores "
                "chat_template_kwargs)"
            )
        return value

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

    def _recipe_kwargs(self) -> dict[str, Any]:
        """The template arguments the recipe gives: chat_template_kwargs and enable_thinking."""
        kwargs = dict(self.chat_template_kwargs)
        if self.enable_thinking is not None:
            kwargs["enable_thinking"] = self.enable_thinking
        return kwargs

    def template_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the chat template (`enable_thinking` and `reasoning_effort`
        included when set), as `vllm serve` renders a request with `request_fields()`: it gives
        the template the request's `reasoning_effort`, and `enable_thinking` true with it
        unless the recipe set that."""
        kwargs = self._recipe_kwargs()
        if self.reasoning_effort is not None:
            kwargs["reasoning_effort"] = self.reasoning_effort
            kwargs.setdefault("enable_thinking", True)
        return kwargs

    def request_fields(self) -> dict[str, Any]:
        """The fields of a `/v1/chat/completions` request that carry this model's template
        settings: `reasoning_effort` as the request's own field (vLLM's harmony rendering of
        gpt-oss reads only that), the rest as vLLM's `chat_template_kwargs`."""
        kwargs = self._recipe_kwargs()
        fields: dict[str, Any] = {"chat_template_kwargs": kwargs} if kwargs else {}
        if self.reasoning_effort is not None:
            fields["reasoning_effort"] = self.reasoning_effort
        return fields

    def memory_utilization(self, on_gpu: bool) -> float:
        """The `gpu_memory_utilization` vLLM gets: the recipe's, else a default per device."""
        if self.gpu_memory_utilization is not None:
            return self.gpu_memory_utilization
        return 0.9 if on_gpu else 0.3


# vLLM engine arguments ramen sets from its own keys: `engine.args` may not set them.
RAMEN_ENGINE_ARGS = {
    "model": "models.<m>.path",
    "served_model_name": "models.<m>.engine.served_name",
    "revision": "models.<m>.revision",
    "dtype": "models.<m>.dtype",
    "max_model_len": "models.<m>.max_model_len",
    "tensor_parallel_size": "models.<m>.tensor_parallel",
    "pipeline_parallel_size": "models.<m>.pipeline_parallel",
    "data_parallel_size": "models.<m>.data_parallel",
    "gpu_memory_utilization": "models.<m>.gpu_memory_utilization",
    "trust_remote_code": "models.<m>.trust_remote_code",
    "seed": "seed",
    "enforce_eager": "models.<m>.engine.enforce_eager",
    "max_num_seqs": "models.<m>.engine.max_num_seqs",
    "distributed_executor_backend": "models.<m>.tensor_parallel (Ray is chosen from the layout)",
}


def _vllm_source(relative: str) -> ast.Module | None:
    """A module of the installed vLLM, parsed without importing vLLM (which takes seconds);
    None when it cannot be read."""
    try:
        spec = importlib.util.find_spec("vllm")
        path = Path(spec.origin).parent / relative  # type: ignore[union-attr]
        return ast.parse(path.read_text(encoding="utf-8"))
    except (AttributeError, OSError, SyntaxError, TypeError, ValueError):
        return None


@functools.cache
def known_engine_args() -> frozenset[str] | None:
    """The fields of vLLM's `EngineArgs` (what `LLM(**kwargs)` takes and `vllm serve` has as
    flags), read from its source; None when they cannot be read."""
    tree = _vllm_source("engine/arg_utils.py")
    for node in tree.body if tree is not None else ():
        if isinstance(node, ast.ClassDef) and node.name == "EngineArgs":
            return frozenset(
                n.target.id
                for n in node.body
                if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
            )
    return None


def check_engine_arg(name: str) -> None:
    """A ValueError naming the fix when `name` is not an engine argument `engine.args` may set."""
    if name in RAMEN_ENGINE_ARGS:
        raise ValueError(f"'{name}' is set by ramen from {RAMEN_ENGINE_ARGS[name]}; set it there")
    known = known_engine_args()
    if known is not None and name not in known:
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f"did you mean '{close[0]}'?" if close else "see `vllm serve --help`"
        raise ValueError(f"'{name}' is not a vLLM engine argument; {hint}")


def engine_flags(args: dict[str, Any]) -> list[str]:
    """`engine.args` as `vllm serve` flags: `--name value`, a list as repeated values, true as
    `--name`, false as `--no-name` (vLLM's boolean flags take both forms)."""
    out: list[str] = []
    for name, value in args.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            out.append(flag)
        elif value is False:
            out.append(f"--no-{name.replace('_', '-')}")
        elif isinstance(value, list):
            out += [flag, *(str(v) for v in value)]
        elif value is not None:
            out += [flag, str(value)]
    return out


def known_reasoning_parsers() -> set[str] | None:
    """The names vLLM registers reasoning parsers under, read from its source without
    importing it (seconds); None when they cannot be read (the engine checks the name)."""
    tree = _vllm_source("reasoning/__init__.py")
    for node in tree.body if tree is not None else ():
        if (
            isinstance(node, ast.Assign)
            and getattr(node.targets[0], "id", "") == "_REASONING_PARSERS_TO_REGISTER"
            and isinstance(node.value, ast.Dict)
        ):
            return {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
    return None
