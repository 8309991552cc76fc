"""One sampling distribution for every backend.

The offline engine samples with exactly the SamplingParams it is given, while `vllm serve`
fills every field a request leaves out from the model's `generation_config.json` (Qwen3 ships
top_k 20, for instance), and vLLM's chat API makes `skip_special_tokens` follow it too. So
ramen resolves every knob itself, once, the same way for both: the recipe's value if it set
one; else, with the model's `generation_defaults: model`, the model's generation_config value;
else vLLM's neutral value. Both backends then apply the resolved values explicitly, and the
values are recorded in the store settings and the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field

from ramen.inference.parsing import output_format
from ramen.spec import ModelSpec, StrictModel

# vLLM's neutral values: what SamplingParams() has when nothing is set.
NEUTRAL: dict[str, Any] = {
    "top_k": 0,
    "min_p": 0.0,
    "repetition_penalty": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
}
KNOBS = tuple(NEUTRAL)
# Not a sampling knob, but vLLM's chat API defaults it from generation_config too.
SKIP_SPECIAL_TOKENS = True


def temperature_field(default: float, description: str = "Sampling temperature.") -> Any:
    """The temperature field of a section whose default differs from Sampling's."""
    return Field(default=default, ge=0.0, description=description)


class Sampling(StrictModel):
    """One sampling settings model, for `curation.filter`, `curation.sample`, `evaluation`
    and `ramen generate`: temperature, top_p and the completion cap, then the knobs, which
    are null when the recipe leaves them to the model (see `resolve`)."""

    temperature: float = temperature_field(1.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0, description="Nucleus sampling threshold.")
    max_tokens: int | None = Field(
        default=None, ge=1, description="Cap on completion tokens (null = all the context leaves)."
    )

    top_k: int | None = Field(
        default=None,
        ge=-1,
        description="Sample from the k most likely tokens (0 or -1 = all); null = the model's "
        "generation_config value, or off (see the model's `generation_defaults`).",
    )
    min_p: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Drop tokens below this fraction of the top token's probability; null = the "
        "model's generation_config value, or 0.",
    )
    repetition_penalty: float | None = Field(
        default=None,
        gt=0.0,
        description="Penalty on tokens already in the prompt or output (1 = none); null = the "
        "model's generation_config value, or 1.",
    )
    presence_penalty: float | None = Field(
        default=None,
        ge=-2.0,
        le=2.0,
        description="Penalty on tokens already in the output (0 = none); null = the model's "
        "generation_config value, or 0.",
    )
    frequency_penalty: float | None = Field(
        default=None,
        ge=-2.0,
        le=2.0,
        description="Penalty growing with a token's count in the output (0 = none); null = the "
        "model's generation_config value, or 0.",
    )

    def knobs(self) -> dict[str, Any]:
        """The knobs the recipe set."""
        return {k: getattr(self, k) for k in KNOBS if getattr(self, k) is not None}


def generation_config(spec: ModelSpec, path: str | None) -> dict[str, Any]:
    """The sampling values of the model's own `generation_config.json` (local folder or the
    local hub cache; nothing is downloaded); {} when it has none or `generation_defaults` is
    `none`."""
    if spec.generation_defaults == "none" or not path:
        return {}
    file = Path(path) / "generation_config.json"
    if not file.is_file():
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(path, "generation_config.json", revision=spec.revision)
        except Exception:  # noqa: BLE001 - not a hub id: no config
            cached = None
        if not isinstance(cached, str):
            return {}
        file = Path(cached)
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError):
        return {}
    return {k: data[k] for k in KNOBS if data.get(k) is not None}


def resolve(knobs: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Every knob's value: the recipe's, else the model's default, else vLLM's neutral one."""
    out = {k: knobs.get(k, defaults.get(k, NEUTRAL[k])) for k in KNOBS}
    if out["top_k"] == -1:
        out["top_k"] = 0  # both mean "all tokens"; one spelling for the settings hash
    out["skip_special_tokens"] = SKIP_SPECIAL_TOKENS
    return out


def knob_defaults(spec: ModelSpec, path: str | None) -> dict[str, Any] | None:
    """Where a model's unset knobs come from: its generation_config (or vLLM's neutral values),
    resolved by ramen; None for an `endpoint`, a server someone else runs, which is sent only
    what the recipe set and fills the rest with its own defaults. The one place this is
    decided, for the request bodies and for the recorded settings alike."""
    if spec.engine.backend == "endpoint":
        return None
    return generation_config(spec, path)


def applied(knobs: dict[str, Any], defaults: dict[str, Any] | None) -> dict[str, Any]:
    """The knob values a request carries, given `knob_defaults`."""
    return resolve(knobs, defaults) if defaults is not None else dict(knobs)


def local_tokenizer(spec: ModelSpec, path: str) -> Any | None:
    """The model's tokenizer when it is on this machine (a folder or the HF cache), else None."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(
            path,
            revision=spec.revision,
            trust_remote_code=spec.trust_remote_code,
            local_files_only=True,
        )
    except Exception:  # noqa: BLE001 - a provider model has no local tokenizer
        return None


def special_tokens_kept(spec: ModelSpec, path: str | None) -> bool:
    """True where the model's reasoning markers are special tokens (gpt-oss, Gemma 4): the
    engines decode with `skip_special_tokens: false`, or the markers would vanish."""

    tokenizer = local_tokenizer(spec, path or spec.path)
    fmt = output_format(tokenizer, spec.template_kwargs()) if tokenizer is not None else None
    return bool(fmt and fmt.special)


def resolved_for(spec: ModelSpec, path: str | None, knobs: dict[str, Any]) -> dict[str, Any]:
    """What a model samples with, for the store settings and the report."""
    defaults = knob_defaults(spec, path)
    out = (
        {**knobs, "unset": "the endpoint's defaults"}
        if defaults is None
        else applied(knobs, defaults)
    )
    if special_tokens_kept(spec, path):
        out["skip_special_tokens"] = False
    return out
