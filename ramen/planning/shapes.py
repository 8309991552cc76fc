"""A model's shape, read without downloading or allocating anything.

The config comes from, in order: the model's own folder (`tiny:NAME`, a local path), the
Hugging Face cache (a snapshot already downloaded), or the bundled table of the public
config facts of the models the shipped recipes name (ramen/data/model_configs.json). The
parameter counts come from the model's real transformers class built on the meta device.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ramen.bundled import DATA_DIR

TABLE = DATA_DIR / "model_configs.json"
# keys of a bundled entry that are notes, not config
NOTES = ("quantization",)


@dataclass(frozen=True)
class Shape:
    """What planning needs to know about a model."""

    path: str
    source: str  # where the config came from
    config: dict  # the config.json facts
    architecture: str  # the transformers class
    total_params: int
    largest_layer_params: int  # the largest module's own parameters (DeepSpeed's measure)
    expert_params: int  # parameters of the experts (0 for a dense model)
    layers: int
    hidden: int
    vocab: int
    kv_heads: int
    head_dim: int
    experts: int
    experts_per_token: int

    @property
    def active_params(self) -> int:
        """Parameters one token passes through (the top-k experts of each MoE layer)."""
        if not self.experts:
            return self.total_params
        return (
            self.total_params
            - self.expert_params
            + (self.expert_params * self.experts_per_token // self.experts)
        )

    def kv_bytes_per_token(self, dtype_bytes: int = 2) -> int:
        """KV cache per token over all layers (keys and values)."""
        return 2 * self.layers * self.kv_heads * self.head_dim * dtype_bytes


def find_config(path: str, revision: str | None = None) -> tuple[dict, str] | None:
    """(config.json facts, where they came from) for a recipe's model path, or None."""
    if path.startswith("tiny:"):
        # only for tiny: paths, so that the GPU script (benchmarks/gpu/) runs without pydantic
        from ramen.testing import tiny

        folder = tiny.model_path(path.removeprefix("tiny:"))
        return json.loads((folder / "config.json").read_text()), f"{path} ({folder})"
    local = Path(path).expanduser()
    if (local / "config.json").is_file():
        return json.loads((local / "config.json").read_text()), f"{local / 'config.json'}"
    if not path.startswith((".", "/", "~", "run:")):
        cached = _hf_cached(path, revision)
        if cached is not None:
            return json.loads(Path(cached).read_text()), f"the Hugging Face cache ({cached})"
        table = _table()
        if path in table:
            return dict(table[path]), f"ramen's table of public configs ({TABLE.name})"
    return None


def _hf_cached(repo: str, revision: str | None) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache  # only for hub ids
    except ImportError:  # pragma: no cover - a dependency of transformers
        return None
    try:
        found = try_to_load_from_cache(repo, "config.json", revision=revision)
    except Exception:  # noqa: BLE001 - a malformed id is simply not cached
        return None
    return found if isinstance(found, str) else None


@functools.cache
def _table() -> dict[str, dict]:
    data = json.loads(TABLE.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def hf_config(config: dict, layers: int | None = None) -> Any:
    """The transformers config object of `config`, cut to `layers` decoder layers if given."""
    from transformers import AutoConfig  # slow to import; planning needs it

    facts = {
        k: v
        for k, v in config.items()
        if k not in ("model_type", "quantization_config", "auto_map", *NOTES)
    }
    out = AutoConfig.for_model(config["model_type"], **facts)
    if layers is not None:
        out.num_hidden_layers = layers
        if isinstance(getattr(out, "layer_types", None), list):
            out.layer_types = out.layer_types[:layers]
    return out


def meta_model(config: dict, layers: int | None = None) -> Any:
    """The model's real class on the meta device (no memory, no weights)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(hf_config(config, layers))


def param_counts(model: Any) -> tuple[int, int, int]:
    """(total, largest module's own, experts') parameter counts, as DeepSpeed's
    `model_to_params` counts them (a shared parameter once; the largest module by its own
    parameters), by identity instead of data pointer (meta tensors have none)."""
    seen: dict[int, int] = {}
    experts = 0
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) not in seen:
            seen[id(p)] = p.numel()
            if ".experts." in f".{name}." or name.split(".")[-2:-1] == ["experts"]:
                experts += p.numel()
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
    return sum(seen.values()), largest, experts


@functools.cache
def _shape(path: str, revision: str | None) -> Shape | None:
    found = find_config(path, revision)
    if found is None:
        return None
    config, source = found
    model = meta_model(config)
    total, largest, experts = param_counts(model)
    c = model.config
    heads = c.num_attention_heads
    return Shape(
        path=path,
        source=source,
        config=config,
        architecture=type(model).__name__,
        total_params=total,
        largest_layer_params=largest,
        expert_params=experts,
        layers=c.num_hidden_layers,
        hidden=c.hidden_size,
        vocab=c.vocab_size,
        kv_heads=getattr(c, "num_key_value_heads", None) or heads,
        head_dim=getattr(c, "head_dim", None) or c.hidden_size // heads,
        experts=getattr(c, "num_experts", None) or getattr(c, "num_local_experts", None) or 0,
        experts_per_token=getattr(c, "num_experts_per_tok", None) or 0,
    )


def shape_of(path: str, revision: str | None = None) -> Shape | None:
    """The shape of the model at a recipe path, or None when no config is at hand offline."""
    return _shape(path, revision)
