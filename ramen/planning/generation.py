"""vLLM by arithmetic: a model's weights per GPU under its tensor and pipeline parallel layout,
the KV-cache tokens left at its memory fraction, and how many full-budget sequences they hold.

Per GPU: weights = parameters x 2 bytes / (tensor_parallel x pipeline_parallel); with expert
parallelism (`engine.args.enable_expert_parallel`) and data_parallel replicas in one server (on
one node), vLLM spreads each MoE layer's experts over all tensor x data parallel GPUs instead,
so a GPU holds the dense part / (tensor x pipeline parallel) plus the experts / (tensor x data
x pipeline parallel); KV cache = GPU memory x gpu_memory_utilization -
weights - a fixed reserve for activations and CUDA graphs (`plan.vllm_reserve_gb`). A token's
KV cache per GPU = 2 (keys, values) x its layers on that GPU x max(1, KV heads / tensor
parallel) x head_dim x 2 bytes (1 with an fp8 KV cache): KV heads fewer than the tensor-parallel size are replicated.
"""

from __future__ import annotations

from dataclasses import dataclass

from ramen.planning.shapes import Shape

GB = 1e9


@dataclass(frozen=True)
class Serving:
    gpus_per_replica: int
    weights_per_gpu: float  # bytes
    kv_per_gpu: float  # bytes left for the KV cache (negative: the weights do not fit)
    kv_tokens: int  # tokens the KV cache of one replica holds
    full_sequences: int  # max_model_len sequences that fit at once
    usable_per_gpu: float  # GPU memory x utilization


def serving(
    shape: Shape,
    tensor_parallel: int,
    pipeline_parallel: int,
    max_model_len: int,
    gpu_memory_gb: float,
    utilization: float,
    reserve_gb: float,
    dtype_bytes: int = 2,
    expert_parallel: int = 1,
    kv_bytes: int = 2,
) -> Serving:
    """`expert_parallel`: the data-parallel replicas the experts are spread over (1: none);
    `kv_bytes`: bytes per cached value (1 with `engine.args.kv_cache_dtype: fp8*`)."""
    gpus = tensor_parallel * pipeline_parallel
    dense = shape.total_params - shape.expert_params
    weights = (dense + shape.expert_params / expert_parallel) * dtype_bytes / gpus
    usable = gpu_memory_gb * GB * utilization
    kv = usable - weights - reserve_gb * GB
    heads = max(1, -(-shape.kv_heads // tensor_parallel))  # per GPU, replicated below 1
    layers = -(-shape.layers // pipeline_parallel)
    per_token = 2 * layers * heads * shape.head_dim * kv_bytes
    tokens = int(kv // per_token) if kv > 0 else 0
    return Serving(gpus, weights, kv, tokens, tokens // max_model_len, usable)
