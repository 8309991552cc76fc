"""A recipe planned on its `launch:` allocation, stage by stage, and the gate that refuses
what cannot fit (`ramen validate`, `ramen launch --dry-run`; `ramen plan` prints the table).

Every number says where it comes from: the model's shape (shapes.py), DeepSpeed's estimator
and the fake-tensor step (training.py), vLLM arithmetic (generation.py), and the recipe's
`plan:` assumptions (GPU memory, host memory, throughput), which the table always prints.
Sizes of data not yet made (how many problems, how long each row) are planned at their
bound: a row at `max_length` (or, without one, the sampler's whole context), time and tokens
per 1,000 problems or rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ramen.cluster import generation_layout
from ramen.errors import RecipeError
from ramen.planning.generation import GB, serving
from ramen.planning.shapes import Shape, meta_model, shape_of
from ramen.planning.training import (
    Activations,
    ModelStates,
    model_states,
    simulate,
    zero_estimate,
)
from ramen.stage import split_round, train_stage_name
from ramen.training.stage import collective_timeout_s

PER = 1000  # tokens and time are per this many problems (generation) or rows (training)
TRL_MICRO_BATCH = 8  # transformers' default per_device_train_batch_size
GRPO_PROMPT_TOKENS = 1024  # a GRPO prompt's length when data.clean.max_question_tokens is unset
TRL_MAX_COMPLETION = 512  # TRL's default max_completion_length
FEW_SEQUENCES = 8  # a replica whose KV cache holds fewer full-length sequences gets a note


@dataclass
class Check:
    level: str  # "error" or "warning"
    where: str  # the recipe key to change
    message: str  # says what does not fit and the fix


@dataclass
class StagePlan:
    stage: str
    devices: str
    gpu: dict[str, float] = field(default_factory=dict)  # part -> bytes per GPU
    host_per_node: float = 0.0
    disk: float = 0.0
    tokens: str = ""
    time_hours: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def gpu_peak(self) -> float:
        return sum(self.gpu.values())


@dataclass
class Plan:
    recipe: str
    assumptions: dict[str, Any]
    stages: list[StagePlan]
    checks: list[Check]

    def errors(self) -> list[Check]:
        return [c for c in self.checks if c.level == "error"]

    def to_json(self) -> dict:
        return {
            "recipe": self.recipe,
            "assumptions": self.assumptions,
            "stages": [
                {
                    "stage": s.stage,
                    "devices": s.devices,
                    "gpu_bytes": {
                        **{k: round(v) for k, v in s.gpu.items()},
                        "peak": round(s.gpu_peak),
                    },
                    "host_bytes_per_node": round(s.host_per_node),
                    "disk_bytes": round(s.disk),
                    "tokens": s.tokens,
                    "time_hours": s.time_hours,
                    "notes": s.notes,
                }
                for s in self.stages
            ],
            "checks": [c.__dict__ for c in self.checks],
        }


# --------------------------------------------------------------------------- the recipe


def plan(recipe: Any, stages: list[Any]) -> Plan:
    """Plan every stage of `stages` (the runner's StageDefs) the recipe runs; a later round's
    stages are planned as round 1's (the same models and shapes)."""
    a = recipe.plan
    gpn, nodes = recipe.launch.gpus_per_node, recipe.launch.nodes
    host_limit = _host_limit(recipe)
    out = Plan(
        recipe.name,
        {
            "gpu_memory_gb": a.gpu_memory_gb if gpn else None,
            "host_memory_gb_per_node": host_limit / GB if gpn else None,
            "gpus": f"{nodes} node(s) x {gpn} GPU(s)" if gpn else "none (CPU)",
            "generation_tokens_per_s_per_gpu": a.generation_tokens_per_s_per_gpu,
            "training_mfu": a.mfu,
            "gpu_tflops_bf16": a.gpu_tflops,
            "vllm_reserve_gb": a.vllm_reserve_gb,
            "warn_above": a.warn_above,
        },
        [],
        [],
    )
    for stage in stages:
        if split_round(stage.name)[1] > 1 or not stage.enabled(recipe):
            continue
        index = _train_index(recipe, stage.name)
        if index is not None:
            out.stages.append(_plan_training(recipe, index, out.checks))
            continue
        served = [m for m in (stage.models(recipe) if stage.models else []) if m]
        if served:
            out.stages.append(_plan_generation(recipe, stage.name, served, out.checks))
    if gpn:
        _gate_memory(recipe, out)
    return out


def _train_index(recipe: Any, name: str) -> int | None:
    if recipe.training is None:
        return None
    for i, _ in enumerate(recipe.training.steps()):
        if train_stage_name(i) == name:
            return i
    return None


def _host_limit(recipe: Any) -> float:
    """Host memory per node: `launch.mem` (SLURM's units, megabytes without one; 0 means the
    whole node), else the plan's assumption."""
    mem = (recipe.launch.mem or "").strip()
    if mem and mem != "0":
        number, unit = (
            (float(mem[:-1]), mem[-1].upper()) if mem[-1].isalpha() else (float(mem), "M")
        )
        return number * {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}.get(unit, 1e6)
    return recipe.plan.host_memory_gb * GB


def _shape(recipe: Any, name: str, where: str, checks: list[Check]) -> Shape | None:
    spec = recipe.models[name]
    shape = shape_of(spec.path, spec.revision)
    if shape is None:
        checks.append(Check("warning", where, f"no config.json for '{spec.path}' here (not a "
                            "local folder, not in the Hugging Face cache, not in ramen's table): "
                            "its stages are not planned"))  # fmt: skip
    return shape


# --------------------------------------------------------------------------- generation


def _plan_generation(recipe: Any, stage: str, served: list[str], checks: list[Check]) -> StagePlan:
    a, gpn = recipe.plan, recipe.launch.gpus_per_node
    row = StagePlan(stage, "")
    devices, gpus_total = [], 0
    peak_parts: dict[str, float] = {}
    models = dict.fromkeys(served)  # a stage serves its models one after the other
    # launched on SLURM, the stage's job has the shape its widest model needs and fans each
    # model out over it (ramen/cluster.py generation_layout): replicas per node, or Ray
    widest = max(
        recipe.models[m].tensor_parallel * recipe.models[m].pipeline_parallel for m in models
    )
    job = generation_layout(widest, gpn, recipe.launch.nodes) if _fans_out(recipe) else None
    for name in models:
        spec = recipe.models[name]
        shape = _shape(recipe, name, f"models.{name}.path", checks)
        if shape is None:
            continue
        tp, pp = spec.tensor_parallel, spec.pipeline_parallel
        util = spec.gpu_memory_utilization or 0.9
        # vLLM spreads the experts over the data-parallel ranks of one server, which ramen
        # runs on one node: at most the node's replicas of this size share them
        ep = 1
        if spec.engine.args.get("enable_expert_parallel"):
            ep = min(spec.data_parallel, max(1, gpn // (tp * pp))) if gpn else spec.data_parallel
        s = serving(
            shape, tp, pp, spec.max_model_len, a.gpu_memory_gb, util, a.vllm_reserve_gb,
            expert_parallel=ep, kv_bytes=_kv_bytes(spec),
        )  # fmt: skip
        # one server per replica of the fan-out; elsewhere one server of data_parallel engines
        replicas = job.replicas(tp * pp) if job is not None else spec.data_parallel
        gpus = tp * pp * replicas
        gpus_total = max(gpus_total, gpus)
        devices.append(
            f"{name}: {replicas} x TP{tp}"
            + (f"xPP{pp}" if pp > 1 else "")
            + (f", experts over EP{ep * tp}" if ep > 1 else "")
        )
        if gpn:
            parts = {
                f"{name}: weights": s.weights_per_gpu,
                f"{name}: KV cache": max(0.0, s.kv_per_gpu),
            }
            if sum(parts.values()) > sum(peak_parts.values()):
                peak_parts = parts
            row.notes.append(
                f"{name}: KV cache holds {s.kv_tokens:,} tokens per replica = "
                f"{s.full_sequences} sequences at max_model_len {spec.max_model_len:,}"
                + (
                    f", {s.full_sequences * replicas} over {replicas} replicas"
                    if replicas > 1
                    else ""
                )
            )
            if 1 <= s.full_sequences < FEW_SEQUENCES:
                row.notes.append(
                    f"{name}: at most {s.full_sequences} full-length sequences decode at once "
                    "per replica (shorter ones share the room); the time assumes full batches. "
                    f"More room: models.{name}.gpu_memory_utilization, "
                    f"models.{name}.engine.args.kv_cache_dtype: fp8 (half the bytes per token)"
                )
            if job is not None and tp * pp <= gpn:
                row.notes.append(
                    f"{name}: {replicas} independent vLLM replicas "
                    f"({job.nodes} node(s) x {job.per_node(tp * pp)}), each serving its share of "
                    "the requests: no Ray, nothing crosses nodes"
                )
            elif job is None and tp * pp <= gpn and recipe.launch.nodes * gpn >= 2 * tp * pp:
                row.notes.append(
                    f"{name} fits one node: the allocation ({recipe.launch.nodes} x {gpn} GPUs) "
                    f"holds {recipe.launch.nodes * gpn // (tp * pp)} replicas "
                    f"(models.{name}.data_parallel)"
                )
            if tp * pp > gpn:
                _one_node_instead(recipe, name, shape, s, replicas, row)
            _check_serving(recipe, name, shape, s, checks)
        budget = _budget(recipe, stage, name, spec)
        n = _samples(recipe, stage, name)
        tokens = PER * n * budget
        row.tokens += f"{name}: {n} x {budget:,} tokens per problem at most; "
        rate = a.generation_tokens_per_s_per_gpu * max(gpus, 1)
        row.time_hours = (row.time_hours or 0.0) + tokens / rate / 3600
    row.gpu.update(peak_parts)
    row.devices = "; ".join(devices) + (f" ({gpus_total} GPUs)" if gpn else " (CPU)")
    row.tokens = row.tokens.rstrip("; ") + f"; time per {PER:,} problems"
    return row


def _kv_bytes(spec: Any) -> int:
    """Bytes per cached key or value: vLLM's `kv_cache_dtype` (auto: the model's dtype)."""
    return 1 if str(spec.engine.args.get("kv_cache_dtype", "auto")).startswith("fp8") else 2


def _fans_out(recipe: Any) -> bool:
    """Whether the stage runs as ramen launch's SLURM fan-out (else one server, data_parallel)."""
    return recipe.launch.backend == "slurm" and bool(recipe.launch.gpus_per_node)


def _one_node_instead(
    recipe: Any, name: str, shape: Shape, s: Any, replicas: int, row: StagePlan
) -> None:
    """A model spread over nodes (Ray, pipeline parallel) that would fit one node at tensor
    parallel = the node's GPUs: the replicas that layout gives, against this one, so the
    recipe can weigh no Ray against KV-cache room (more sequences at once per GPU)."""
    spec, a, gpn = recipe.models[name], recipe.plan, recipe.launch.gpus_per_node
    util = spec.gpu_memory_utilization or 0.9
    one = serving(
        shape, gpn, 1, spec.max_model_len, a.gpu_memory_gb, util, a.vllm_reserve_gb,
        kv_bytes=_kv_bytes(spec),
    )  # fmt: skip
    if one.full_sequences < 1:
        return
    n = recipe.launch.nodes
    row.notes.append(
        f"{name} would fit one node at tensor_parallel {gpn} without pipeline parallel: "
        f"{n} replicas (one per node, no Ray) of {one.full_sequences} sequences at "
        f"max_model_len each ({n * one.full_sequences} at once over {n * gpn} GPUs), against "
        f"{s.full_sequences * replicas} at once over {spec.tensor_parallel * spec.pipeline_parallel * replicas} "
        "GPUs here"
    )


def _budget(recipe: Any, stage: str, name: str, spec: Any) -> int:
    """The completion budget a stage gives model `name`: the section's max_tokens, else
    what the context leaves (all of max_model_len at most)."""
    section = {"filter": "filter", "sample": "sample"}.get(split_round(stage)[0])
    cfg = getattr(recipe.curation, section, None) if section and recipe.curation else None
    if cfg is None and stage.startswith("evaluate") and recipe.evaluation is not None:
        cfg = recipe.evaluation
    cap = getattr(cfg, "max_tokens", None) if cfg is not None else None
    return min(cap, spec.max_model_len) if cap else spec.max_model_len


def _samples(recipe: Any, stage: str, name: str) -> int:
    base = split_round(stage)[0]
    if base == "sample" and recipe.curation and recipe.curation.sample:
        return recipe.curation.sample.n
    if base == "filter" and recipe.curation and recipe.curation.filter:
        return recipe.curation.filter.samples
    if base.startswith("evaluate") and recipe.evaluation is not None:
        return recipe.evaluation.samples
    return 1


def _check_serving(recipe: Any, name: str, shape: Shape, s: Any, checks: list[Check]) -> None:
    spec, a, gpn = recipe.models[name], recipe.plan, recipe.launch.gpus_per_node
    gpus = spec.tensor_parallel * spec.pipeline_parallel
    if gpus > gpn * recipe.launch.nodes:
        checks.append(Check("error", f"models.{name}.tensor_parallel",
                            f"'{name}' needs {gpus} GPUs (tensor_parallel x pipeline_parallel), "
                            f"the allocation has {gpn * recipe.launch.nodes}; lower them or raise "
                            "launch.nodes"))  # fmt: skip
        return
    if s.kv_per_gpu <= 0:
        need = -(-shape.total_params * 2 // int(s.usable_per_gpu - a.vllm_reserve_gb * GB))
        checks.append(Check("error", f"models.{name}.tensor_parallel",
                            f"'{name}' ({shape.total_params / 1e9:.1f}e9 parameters) needs "
                            f"{s.weights_per_gpu / GB:.0f} GB of weights per GPU at tensor_parallel "
                            f"x pipeline_parallel = {gpus}, over the {s.usable_per_gpu / GB:.0f} GB "
                            f"vLLM may use; use {int(need)} GPUs or more per replica"))  # fmt: skip
    elif s.full_sequences < 1:
        checks.append(Check("error", f"models.{name}.max_model_len",
                            f"'{name}''s KV cache holds {s.kv_tokens:,} tokens per replica, less "
                            f"than one max_model_len sequence ({spec.max_model_len:,}); lower "
                            "max_model_len or raise tensor_parallel"))  # fmt: skip


# --------------------------------------------------------------------------- training


@dataclass
class TrainingFit:
    states: ModelStates
    acts: Activations
    tokens: int
    batch: int
    length_from: str
    method: str
    dtype: str
    trainable: int  # the parameters the step trains (LoRA: the adapter's)


def _plan_training(recipe: Any, index: int, checks: list[Check]) -> StagePlan:
    a = recipe.plan
    step = recipe.training.steps()[index]
    name = train_stage_name(index)
    where = "training" if index == 0 else f"training.then[{index - 1}]"
    base = recipe.training.base
    shape = _shape(recipe, base, f"models.{base}.path", checks)
    gpn, nodes = recipe.launch.gpus_per_node, recipe.launch.nodes
    gpus = gpn * nodes if gpn else 0
    row = StagePlan(
        name, f"{nodes} node(s) x {gpn} GPUs" if gpn else f"{step.processes} CPU process(es)"
    )
    if shape is None:
        return row
    fit = training_fit(recipe, step, shape)
    row.gpu.update(fit.states.parts)
    row.gpu["activations and temporaries (fake-tensor step)"] = fit.acts.peak_bytes
    if step.method == "grpo" and step.args.get("use_vllm") and gpus:
        _colocated_vllm(recipe, step, where, shape, row, checks)
    row.host_per_node = fit.states.host_bytes
    row.notes.append(
        f"{step.method} at [{fit.batch}, {fit.tokens:,}] ({fit.length_from}); simulated "
        f"{fit.acts.simulated}"
    )
    full = step.lora is None
    if full and step.deepspeed in ("zero3", "zero3_offload"):
        save = 2 * shape.total_params  # rank 0 gathers the 16-bit weights at every save
        row.host_per_node += save
        row.notes.append(
            f"rank 0's node also holds the consolidated 16-bit save ({save / GB:.0f} GB)"
        )
        _check_collective_timeout(recipe, step, where, save, row, checks)
    checkpoint = 14 * fit.trainable  # 16-bit weights, fp32 master weights and two Adam moments
    kept = step.args.get("save_total_limit")
    export = 2 * shape.total_params
    row.disk = checkpoint * (kept or 1) + export
    row.notes.append(
        f"disk: {checkpoint / GB:.0f} GB a checkpoint x "
        f"{kept if kept else 'every save (training.args.save_total_limit unset; counted once)'}"
        f" + {export / GB:.0f} GB export"
    )
    rows_tokens = PER * fit.tokens * (2 if step.method == "dpo" else 1)
    row.tokens = f"{rows_tokens:,} tokens per {PER:,} rows at the length planned"
    flops = (
        (8 if step.args.get("gradient_checkpointing") else 6) * shape.active_params * rows_tokens
    )
    if gpus:
        row.time_hours = flops / (gpus * a.gpu_tflops * 1e12 * a.mfu) / 3600
    if gpus:
        _check_training(recipe, step, where, shape, fit, row, checks)
    return row


def _check_collective_timeout(
    recipe: Any, step: Any, where: str, save: float, row: StagePlan, checks: list[Check]
) -> None:
    rate = recipe.plan.disk_write_gb_per_s
    need = collective_timeout_s(save, rate)
    given = step.args.get("ddp_timeout")
    row.notes.append(
        f"collectives wait {given if given else need:,} s for the save (training.args.ddp_timeout"
        + (")" if given else f", set by the stage: 3 x {save / GB:.0f} GB at {rate} GB/s)")
    )
    if given is not None and given < need / 3:
        checks.append(Check("warning", f"{where}.args.ddp_timeout",
                            f"ddp_timeout {given:,} s is shorter than writing the {save / GB:.0f} GB "
                            f"consolidated save at {rate} GB/s (plan.disk_write_gb_per_s): the "
                            f"other ranks' collectives would time out; unset it or use {need:,}"))  # fmt: skip


def _colocated_vllm(
    recipe: Any, step: Any, where: str, shape: Shape, row: StagePlan, checks: list[Check]
) -> None:
    """TRL's GRPO with `use_vllm`: in colocate mode every training GPU also holds a vLLM engine
    that reserves `vllm_gpu_memory_utilization` of its memory (TRL's default 0.3), its share of
    the weights at `vllm_tensor_parallel_size` (default 1) inside that."""
    a = recipe.plan
    if step.args.get("vllm_mode", "colocate") != "colocate":
        row.notes.append("vLLM in server mode: its GPUs are outside this stage's allocation")
        return
    util = float(step.args.get("vllm_gpu_memory_utilization", 0.3))
    tp = int(step.args.get("vllm_tensor_parallel_size", 1))
    share = util * a.gpu_memory_gb * GB
    weights = 2 * shape.total_params / tp
    row.gpu["colocated vLLM (its memory share)"] = share
    room = share - a.vllm_reserve_gb * GB
    if weights > room:
        need = -(-int(2 * shape.total_params) // int(room)) if room > 0 else None
        checks.append(Check("error", f"{where}.args.vllm_tensor_parallel_size",
                            f"the colocated vLLM holds {weights / GB:.0f} GB of weights per GPU at "
                            f"vllm_tensor_parallel_size {tp}, over its {room / GB:.0f} GB "
                            f"({util:g} of {a.gpu_memory_gb:.0f} GB less {a.vllm_reserve_gb:g} "
                            f"reserved); set vllm_tensor_parallel_size to {need or 'more'} or "
                            "more, or raise vllm_gpu_memory_utilization"))  # fmt: skip


def training_fit(recipe: Any, step: Any, shape: Shape, tokens: int | None = None) -> TrainingFit:
    """Model states and the simulated activation peak of one training step of `step`."""
    gpn, nodes = recipe.launch.gpus_per_node, recipe.launch.nodes
    if tokens is None:
        tokens, length_from = _length(recipe, step, shape)
    else:
        length_from = "the length asked"
    micro = int(step.args.get("per_device_train_batch_size", TRL_MICRO_BATCH))
    batch = 2 * micro if step.method == "dpo" else micro
    full = step.lora is None
    trainable = shape.total_params if full else _lora_params(shape, step.lora)
    reference = step.method == "dpo" and full and step.reference == "model"
    states = model_states(
        shape, trainable, max(gpn, 1) if gpn else step.processes, nodes if gpn else 1,
        step.deepspeed, reference,
    )  # fmt: skip
    checkpointing = bool(step.args.get("gradient_checkpointing", False))
    dtype = recipe.models[recipe.training.base].dtype
    if dtype == "auto":  # as the train stage chooses: bf16 on GPUs, float32 on CPU
        dtype = "bfloat16" if gpn else "float32"
    acts = simulate(shape, batch, tokens, checkpointing, step.method, dtype)
    return TrainingFit(states, acts, tokens, batch, length_from, step.method, dtype, trainable)


def _length(recipe: Any, step: Any, shape: Shape) -> tuple[int, str]:
    if step.method == "grpo":
        prompt = (
            recipe.data.clean.max_question_tokens if recipe.data else None
        ) or GRPO_PROMPT_TOKENS
        completion = int(step.args.get("max_completion_length", TRL_MAX_COMPLETION))
        return prompt + completion, f"prompt {prompt:,} + max_completion_length {completion:,}"
    if "max_length" in step.args:
        return int(step.args["max_length"]), "training.args.max_length"
    bound = _data_bound(recipe)
    return bound, (
        f"max_length unset: the longest row sets it, up to {bound:,} tokens "
        "(the sampler's max_model_len)"
    )


def _data_bound(recipe: Any) -> int:
    """The longest a curated row can be: the sampler's whole context."""
    if recipe.curation and recipe.curation.sample:
        return recipe.models[recipe.curation.sample.model].max_model_len
    return recipe.models[recipe.training.base].max_model_len


def _lora_params(shape: Shape, lora: Any) -> int:
    """The parameters LoRA trains on this architecture: PEFT adapts a 1- and a 2-layer copy
    on the meta device, the growth per layer extrapolated."""
    counts = [
        _peft_count(shape, layers, lora.r, lora.target_modules, lora.target_parameters)
        for layers in (1, 2)
    ]
    return counts[0] + (counts[1] - counts[0]) * (shape.layers - 1)


def _peft_count(
    shape: Shape, layers: int, r: int, targets: str | list[str], parameters: list[str] | None
) -> int:
    import warnings

    import torch
    from peft import LoraConfig, get_peft_model  # slow to import: only to plan LoRA

    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")  # PEFT's notes on the fused experts' patterns
        config = LoraConfig(r=r, target_modules=targets, target_parameters=parameters)
        model = get_peft_model(meta_model(shape.config, layers), config)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _check_training(
    recipe: Any, step: Any, where: str, shape: Shape, fit: TrainingFit, row: StagePlan,
    checks: list[Check],
) -> None:  # fmt: skip
    a = recipe.plan
    limit = a.gpu_memory_gb * GB
    peak, states = row.gpu_peak, fit.states.gpu_bytes
    what = f"{'LoRA' if step.lora else 'full-parameter'} {step.method.upper()} of {shape.path}"
    gpus = recipe.launch.gpus_per_node * recipe.launch.nodes
    if peak <= limit:
        if peak > a.warn_above * limit:
            checks.append(Check("warning", f"{where}.args", f"{what} peaks at {peak / GB:.0f} GB "
                                f"per GPU, over {a.warn_above:.0%} of {a.gpu_memory_gb:.0f} GB"))  # fmt: skip
        return
    if states >= limit:
        checks.append(Check("error", f"{where}.deepspeed",
                            f"{step.deepspeed or 'no DeepSpeed'} needs {states / GB:.0f} GB per GPU "
                            f"for the model states of {what} on {gpus} x "
                            f"{a.gpu_memory_gb:.0f} GB before activations; "
                            + _states_fix(recipe, step, shape)))  # fmt: skip
        return
    fix, checkpointing = "", bool(step.args.get("gradient_checkpointing"))
    if not checkpointing:  # plan the fix with checkpointing on
        fix, checkpointing = "turn on training.args.gradient_checkpointing and ", True
    need = f"{what} needs {peak / GB:,.0f} GB per GPU of {a.gpu_memory_gb:.0f} GB"
    if step.method == "grpo":
        checks.append(Check("error", f"{where}.args.max_completion_length",
                            f"at {fit.tokens:,} tokens a sequence ({fit.length_from}), {need}; "
                            f"{fix}lower max_completion_length or per_device_train_batch_size"))  # fmt: skip
        return
    fits = _fitting_length(shape, fit, checkpointing, limit * a.warn_above - states)
    if "max_length" in step.args:
        why = f"at max_length {fit.tokens:,}, {need}"
    else:
        why = (f"max_length is unset, so the longest row sets it, up to {fit.tokens:,} tokens "
               f"(the sampler's max_model_len): {need}")  # fmt: skip
    smaller = (
        " or per_device_train_batch_size 1"
        if fit.batch > (2 if step.method == "dpo" else 1)
        else ""
    )
    checks.append(Check("error", f"{where}.args.max_length",
                        f"{why}; {fix}set max_length to {fits:,} or less{smaller} (longer rows "
                        "become rejects)"))  # fmt: skip


def _fitting_length(shape: Shape, fit: TrainingFit, checkpointing: bool, room: float) -> int:
    """The longest sequence (a multiple of 1,024 below `tokens`) whose simulated activations
    fit `room`: a bisection over fake-tensor steps (activations grow with length, the
    attention of an eager implementation with its square)."""
    lo, hi = 0, fit.tokens // 1024
    while lo < hi:
        mid = (lo + hi + 1) // 2
        acts = simulate(shape, fit.batch, mid * 1024, checkpointing, fit.method, fit.dtype)
        if acts.peak_bytes <= room:
            lo = mid
        else:
            hi = mid - 1
    return lo * 1024


def _states_fix(recipe: Any, step: Any, shape: Shape) -> str:
    gpn, limit = recipe.launch.gpus_per_node, recipe.plan.gpu_memory_gb * GB
    nodes = next(
        (n for n in range(recipe.launch.nodes + 1, 257)
         if zero_estimate(shape.total_params, shape.largest_layer_params, gpn, n, "zero3")[0] < 0.6 * limit),
        None,
    )  # fmt: skip
    more = f", or launch.nodes >= {nodes} with zero3" if nodes else ""
    return f"use zero3_offload, lora{more}"


def _gate_memory(recipe: Any, out: Plan) -> None:
    limit = _host_limit(recipe)
    for s in out.stages:
        if s.host_per_node > limit:
            where = "launch.mem" if recipe.launch.mem else "plan.host_memory_gb"
            out.checks.append(Check("error", where,
                                    f"stage {s.stage} needs {s.host_per_node / GB:,.0f} GB of host "
                                    f"memory per node, over the {limit / GB:,.0f} GB granted; raise "
                                    "launch.nodes (ZeRO shards over nodes), use lora, or a node "
                                    "with more memory"))  # fmt: skip


# --------------------------------------------------------------------------- output


def gate(recipe: Any, stages: list[Any]) -> list[Check]:
    """Plan a GPU recipe and refuse it when a stage cannot fit: RecipeError (exit 2), one line
    naming the key and the fix. Returns the warnings. A CPU recipe (launch.gpus_per_node 0)
    has nothing to fit against."""
    if not recipe.launch.gpus_per_node:
        return []
    result = plan(recipe, stages)
    errors = result.errors()
    if errors:
        first = errors[0]
        more = f" (+{len(errors) - 1} more: ramen plan)" if len(errors) > 1 else ""
        raise RecipeError(first.message + more, where=first.where)
    return [c for c in result.checks if c.level == "warning"]


def render(p: Plan) -> Any:
    """The plan as rich renderables: one table of stages, the notes, the assumptions."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"plan: {p.recipe}", title_justify="left")
    for column, justify in (("stage", "left"), ("devices", "left"), ("peak per GPU", "right"),
                            ("host per node", "right"), ("disk", "right"), (f"time per {PER:,}", "right")):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    gpu_gb = p.assumptions.get("gpu_memory_gb")
    for s in p.stages:
        peak = f"{s.gpu_peak / GB:,.0f} GB" if s.gpu else "-"
        if s.gpu and gpu_gb:
            peak += f" ({s.gpu_peak / GB / gpu_gb:.0%})"
        table.add_row(
            s.stage,
            s.devices,
            peak,
            f"{s.host_per_node / GB:,.0f} GB" if s.host_per_node else "-",
            f"{s.disk / GB:,.0f} GB" if s.disk else "-",
            f"{s.time_hours:,.1f} h" if s.time_hours is not None else "-",
        )
    lines = []
    for s in p.stages:
        if s.gpu:
            parts = ", ".join(f"{k} {v / GB:,.1f} GB" for k, v in s.gpu.items())
            lines.append(f"{s.stage}: {parts}")
        lines += [f"{s.stage}: {n}" for n in s.notes]
        if s.tokens:
            lines.append(f"{s.stage}: {s.tokens}")
    assumed = ", ".join(f"{k} {v}" for k, v in p.assumptions.items() if v is not None)
    lines.append(f"assumed (the recipe's plan: section): {assumed}")
    checks = [
        f"[{'red' if c.level == 'error' else 'yellow'}]{c.level}[/] {c.where}: {c.message}"
        for c in p.checks
    ]
    return Group(table, Text("\n".join(lines)), *[Text.from_markup(c) for c in checks])
