"""Training memory per GPU and per node: model states by DeepSpeed's own estimators, and the
activation and logit peak by a fake-tensor training step of the model's real class.

Model states (16-bit weights, gradients, fp32 master weights and Adam moments) follow
DeepSpeed's `estimate_zero3_model_states_mem_needs` / `estimate_zero2_model_states_mem_needs`
called with the model's counts (its default 1.5 buffer factor on host memory); without
DeepSpeed (plain DDP) every GPU holds 16 bytes per trainable parameter. LoRA trains only the
adapter: the frozen 16-bit weights are sharded by ZeRO-3 or replicated, and the estimators
count the adapter's parameters.

Activations: one forward and backward step of the model cut to 1 and 2 decoder layers, under
`FakeTensorMode` (nothing allocated) and `torch.distributed._tools.mem_tracker.MemTracker`, at
the recipe's sequence length and micro-batch with gradient checkpointing as configured; the
per-layer growth is extrapolated to every layer. The logits (micro-batch x tokens x vocabulary,
kept for the loss) are never built: TRL's trainers replace the LM head by a fused, tiled one
(`trl.trainer.utils.add_fused_lm_head`), and so does the simulated step.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from ramen.planning.shapes import Shape, hf_config

GiB = 1024**3
ADAM_BYTES = 16  # DDP: fp32 weights, gradients and two Adam moments per trainable parameter


@dataclass(frozen=True)
class ModelStates:
    gpu_bytes: int  # per GPU
    host_bytes: int  # per node
    parts: dict  # name -> bytes per GPU, for the table


def zero_estimate(
    total: int, largest: int, gpus_per_node: int, nodes: int, preset: str | None
) -> tuple[int, int]:
    """(GPU bytes per GPU, host bytes per node) of full-parameter training's model states,
    as DeepSpeed's estimator for the preset computes them."""
    if preset in ("zero3", "zero3_offload"):
        estimate_zero3_model_states_mem_needs = _deepspeed(
            "stage3"
        ).estimate_zero3_model_states_mem_needs
        offload = preset == "zero3_offload"
        cpu, gpu, _ = estimate_zero3_model_states_mem_needs(
            total, largest, num_gpus_per_node=gpus_per_node, num_nodes=nodes,
            cpu_offload=offload, cpu_offload_params=offload, zero_init=True,
        )  # fmt: skip
        return gpu, cpu
    if preset == "zero2":
        estimate_zero2_model_states_mem_needs = _deepspeed(
            "stage_1_and_2"
        ).estimate_zero2_model_states_mem_needs
        cpu, gpu = estimate_zero2_model_states_mem_needs(
            total, num_gpus_per_node=gpus_per_node, num_nodes=nodes, cpu_offload=False
        )
        return gpu, cpu
    return ADAM_BYTES * total, 0


def _deepspeed(module: str) -> Any:
    """A DeepSpeed ZeRO module, imported quietly: on a machine without a GPU its import logs
    which accelerator it picked, which would break `ramen validate`'s one-line answer."""
    import contextlib
    import importlib
    import io

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return importlib.import_module(f"deepspeed.runtime.zero.{module}")


def model_states(
    shape: Shape,
    trainable: int,
    gpus_per_node: int,
    nodes: int,
    preset: str | None,
    reference: bool,
    dtype_bytes: int = 2,
) -> ModelStates:
    """Model states per GPU and host memory per node; `reference`: a separate frozen reference
    model lives beside the policy (full-parameter DPO without precomputed log-probs)."""
    gpus = max(1, gpus_per_node * nodes)
    total, largest = shape.total_params, shape.largest_layer_params
    parts: dict[str, int] = {}
    host = 0
    if trainable >= total:  # full parameters
        gpu, host = zero_estimate(total, largest, gpus_per_node, nodes, preset)
        parts["weights, gradients, optimizer (DeepSpeed's estimate)"] = gpu
    else:  # LoRA: the frozen base in 16 bits, the adapter's states by the estimator
        frozen = dtype_bytes * total // (gpus if preset in ("zero3", "zero3_offload") else 1)
        gathered = dtype_bytes * largest if preset in ("zero3", "zero3_offload") else 0
        adapter_gpu, host = zero_estimate(trainable, 0, gpus_per_node, nodes, preset)
        parts["frozen weights (16-bit)"] = frozen + gathered
        parts["adapter: weights, gradients, optimizer"] = adapter_gpu
    if reference:
        if preset == "zero3_offload":
            host += dtype_bytes * total * gpus_per_node // gpus
        else:
            sharded = preset == "zero3"
            parts["reference model (16-bit)"] = dtype_bytes * total // (gpus if sharded else 1)
    return ModelStates(sum(parts.values()), host, parts)


@dataclass(frozen=True)
class Activations:
    peak_bytes: int  # activations and temporaries at the step's peak, per GPU
    simulated: str  # what was simulated


def simulate(
    shape: Shape,
    batch: int,
    tokens: int,
    checkpointing: bool,
    method: str = "sft",
    dtype: str = "bfloat16",
) -> Activations:
    """The activation peak of one training step at [batch, tokens] (see the module
    docstring); simulated once per shape and size."""
    one = sum(_step(_key(shape), 1, batch, tokens, checkpointing, method, dtype))
    two = sum(_step(_key(shape), 2, batch, tokens, checkpointing, method, dtype))
    # The tracker reports the step's single peak, whose moment can move with depth (the end
    # of the backward pass, say, after the later layers' saved inputs are freed); with
    # checkpointing each layer keeps at least its input until its backward, so a layer adds
    # no less than that.
    kept = batch * tokens * shape.hidden * (2 if dtype == "bfloat16" else 4) if checkpointing else 0
    per_layer = max(two - one, kept)
    return Activations(
        one + per_layer * (shape.layers - 1),
        f"1 and 2 of {shape.layers} layers at [{batch}, {tokens}] in {dtype}, gradient "
        f"checkpointing {'on' if checkpointing else 'off'}, TRL's fused LM head",
    )


def _key(shape: Shape) -> str:
    import json

    return json.dumps(shape.config, sort_keys=True)


# what TRL's trainers ask their fused LM head for (trl/trainer/*_trainer.py add_fused_lm_head)
FUSED_OUTPUTS = {
    "sft": ("log_probs", "entropy", "is_top1"),
    "dpo": ("log_probs", "entropy", "mean_logits", "is_top1"),
    "grpo": ("log_probs", "entropy"),
}


@functools.cache
def _step(
    config_json: str, layers: int, batch: int, tokens: int, checkpointing: bool, method: str,
    dtype: str, fused: bool = True,
) -> tuple[int, int]:  # fmt: skip
    """(activation bytes, temporary bytes) at the peak of one fake training step, run as TRL
    runs it: the model's LM head replaced by TRL's fused, tiled head (`add_fused_lm_head`), so
    the full logits are never built, and the loss from its per-token log-probabilities."""
    import json

    import torch  # slow to import: only when planning a training stage
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker
    from transformers import AutoModelForCausalLM

    config = hf_config(json.loads(config_json), layers)
    config.use_cache = False
    before = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))  # a fake model cannot be cast once built
    try:
        with FakeTensorMode():
            # grouped_mm: experts run on their routed tokens only (tokens x top-k rows), with
            # shapes known in advance; the eager loop's data-dependent indexing has none
            experts = {"experts_implementation": "grouped_mm"} if _is_moe(config) else {}
            model = AutoModelForCausalLM.from_config(config, **experts)
            if fused:  # TRL's head; without it (fused=False) the model's own loss
                from trl.trainer.utils import add_fused_lm_head  # TRL: slow, and not everywhere

                add_fused_lm_head(model, outputs=FUSED_OUTPUTS[method])
            if checkpointing:
                model.gradient_checkpointing_enable()
            model.train()
            ids = torch.zeros((batch, tokens), dtype=torch.long)
            tracker = MemTracker()
            tracker.track_external(model)
            with tracker:
                extra = {"fused_lm_head": True} if fused else {}
                model(input_ids=ids, labels=ids, **extra).loss.backward()
            peak = next(iter(tracker.get_tracker_snapshot("peak").values()))
    finally:
        torch.set_default_dtype(before)
    by = {str(k).rsplit(".", 1)[-1]: v for k, v in peak.items()}
    return by.get("ACT", 0), by.get("TEMP", 0)


def _is_moe(config: Any) -> bool:
    return bool(getattr(config, "num_experts", None) or getattr(config, "num_local_experts", None))
