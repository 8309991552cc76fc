"""The `train` stages: one per training step of the recipe (`train`, then `train-2`, ...).

Each writes, in its folder: spec.json (what ramen.training.run gets), accelerate.yaml (generated
from the recipe), data/ (the training rows rendered by the base model's template and
tokenized: what the trainer reads; rows that cannot be rendered go to rejects.jsonl),
examples.jsonl (the first rows as the trainer holds them, decoded), train.log, metrics.jsonl,
loss.png, checkpoints/ and model/ (the final model, or the LoRA adapter with its tokenizer). A killed
stage resumes from its last checkpoint when it runs again, if that checkpoint belongs to the
same training (config and inputs).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from ramen.cluster import Allocation
from ramen.console import console, track
from ramen.errors import StageFailed, UserError
from ramen.export import merge_lora
from ramen.inference.server import free_port
from ramen.io import (
    atomic_dir,
    hash_file,
    hash_obj,
    read_json,
    write_json_atomic,
    write_jsonl_atomic,
)
from ramen.mix import draw_mix
from ramen.stage import (
    MAX_TRAIN_STEPS,
    StageContext,
    StageDef,
    model_entries,
    model_folder,
    train_stage_name,
)
from ramen.training.config import TrainingStep, data_entries, uses_curation_data
from ramen.training.grpo import grpo_spec, prepare_prompts
from ramen.training.handoff import ADAPTED, TrainerSpec
from ramen.training.launcher import (
    LoggedProcess,
    Topology,
    launch_command,
    launch_env,
    on_gpu,
    preset_path,
    write_accelerate_config,
)
from ramen.training.render import ArrowRows, rendered
from ramen.training.tokenizer import base_tokenizer
from ramen.turns import TrainingRenderer, read_rows

MADE_BY = {"dpo": "pairs", "sft": "sft", "grpo": "select"}  # the stage that writes a step's data


def default_data(inputs: dict[str, Path], run_dir: Path, step: TrainingStep) -> Path:
    """The curation output a step trains on when it names no data: the pairs or SFT set, or
    for GRPO the problems `select` kept (some but not all samples correct). `inputs` are the
    stage's input folders (a later round's own `pairs@2` as `pairs`); a set the recipe does not
    make is looked for where round 1 would write it, for the error message."""
    stage = MADE_BY[step.method]
    folder = inputs.get(stage, run_dir / stage)
    return folder / ("data.jsonl" if step.method == "grpo" else "dataset")


def base_for(ctx: StageContext, index: int) -> tuple[str, Any]:
    """(path, ModelSpec) of the model a step starts from."""
    training = ctx.recipe.training
    spec = ctx.recipe.models[training.base]
    if index == 0:
        return ctx.resolve_model(training.base), spec
    prev = ctx.inputs[train_stage_name(index - 1)]
    return str(model_folder(prev)), spec


def quantized_base(path: str, spec: Any, step: TrainingStep, name: str, index: int) -> dict | None:
    """The base's quantization config with `dequantize` on when the step asks for it
    (training.dequantize); None for a base that is not quantized. A quantized base without it
    is refused here, in one line, before any process loads it: the trainer would get quantized
    weights it cannot train."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(
            path, revision=spec.revision, trust_remote_code=spec.trust_remote_code
        )
    except (OSError, ValueError):
        return None  # the trainer's own load says what is wrong with the folder
    quantization = getattr(config, "quantization_config", None)
    if not quantization:
        return None
    if hasattr(quantization, "to_dict"):
        quantization = quantization.to_dict()
    method = quantization.get("quant_method", "unknown")
    key = "training.dequantize" if index == 0 else f"{step_path(index)}.dequantize"
    if not step.dequantize:
        raise UserError(
            f"models.{name} ({path}) is a {method}-quantized checkpoint, which the trainer cannot "
            f"train as it is: set {key}: true to load it dequantized to {spec.dtype} (generation "
            "keeps serving the quantized weights)",
            where=key,
        )
    return {**quantization, "dequantize": True}


class TrainingLaunch:
    """`accelerate launch` of one training step, started before the stage renders the rows.

    On one machine the training processes start at once (`ramen.training.run SPEC METHOD`): they
    import torch, transformers and TRL while the stage renders, then wait for spec.json, which
    `run(spec)` writes once the rows are ready (an old spec.json is removed first). If the
    stage fails before that, `cancel()` stops them; a stage that dies without cancelling is
    noticed by its PID (RAMEN_STAGE_PID). In a multi-node allocation (ramen/cluster.py) `srun`
    runs ramen.training.node once per machine, each an `accelerate launch` with its machine rank,
    started by `run(spec)` after the spec is written; their labelled output lands here too.
    """

    def __init__(
        self, stage_dir: Path, step: TrainingStep, topo: Topology, log_name: str = "train.log"
    ):
        self.log = stage_dir / log_name
        self.spec_file = stage_dir / "spec.json"
        self.spec_file.unlink(missing_ok=True)  # the processes must not read the last run's
        config = write_accelerate_config(stage_dir / "accelerate.yaml", step, topo)
        self.env = launch_env(topo.gpu)
        if os.environ.get("RAMEN_NO_PROGRESS"):
            self.env.setdefault("TQDM_DISABLE", "1")
        alloc = Allocation.from_environ()
        self.proc: LoggedProcess | None = None
        if topo.machines > 1 and alloc is not None:
            self.cmd = [*alloc.srun(tasks_per_node=1), sys.executable, "-m", "ramen.training.node",
                        str(config), str(self.spec_file), str(stage_dir)]  # fmt: skip
        else:
            self.cmd = launch_command(config, self.spec_file, step.method)
            self.env["RAMEN_STAGE_PID"] = str(os.getpid())
            self.proc = LoggedProcess(self.cmd, self.env, self.log)

    def run(self, spec: TrainerSpec) -> None:
        """Hand the processes their spec, stream their output until they end."""
        spec.write(self.spec_file)
        if self.proc is None:
            self.proc = LoggedProcess(self.cmd, self.env, self.log)
        code, tail = self.proc.wait()
        if code != 0:
            wrappers = ("CalledProcessError", "ChildFailedError", "raise ")
            errors = [t for t in tail if "Error" in t and not any(w in t for w in wrappers)]
            last = errors[-1] if errors else (tail[-1] if tail else "")
            raise StageFailed(
                f"training exited with code {code}: {last.strip()} (full log: {self.log})"
            )

    def cancel(self) -> None:
        if self.proc is not None:
            self.proc.cancel()


def topology(step: TrainingStep, gpu: bool) -> Topology:
    """One machine, or every machine of a ramen-launched multi-node allocation."""
    alloc = Allocation.from_environ()
    if alloc is None or alloc.nodes == 1:
        return Topology(gpu=gpu, main_port=free_port())
    if not gpu and not step.deepspeed:
        # accelerate starts multi-machine CPU runs without DeepSpeed through mpirun
        raise UserError(
            f"training on {alloc.nodes} CPU machines needs training.deepspeed (zero2 or zero3): "
            "accelerate's plain multi-CPU launcher is mpirun",
            where="training.deepspeed",
        )
    return Topology(
        machines=alloc.nodes,
        main_ip="127.0.0.1" if alloc.emulated else alloc.head,
        main_port=alloc.head_port,
        gpu=gpu,
    )


def check_data(
    recipe: Any, step: TrainingStep, index: int, inputs: dict[str, Path] | None = None
) -> list[Path]:
    """The step's training datasets (one per entry of a mix), or a one-line error naming the
    key."""
    key = "training.data" if index == 0 else f"training.then[{index - 1}].data"
    out = []
    for i, entry in enumerate(data_entries(step)):
        where = f"{key}[{i}].path" if isinstance(step.data, list) else key
        data = Path(entry.path) if entry.path else default_data(inputs or {}, recipe.run_dir, step)
        if data.exists():
            out.append(data)
            continue
        if entry.path:
            raise UserError(f"training data not found: {data}", where=where)
        made_by = "sample" if step.method == "grpo" else MADE_BY[step.method]
        raise UserError(
            f"no {step.method} data at {data}: add curation.{made_by} or give the step its own "
            "data",
            where=where,
        )
    return out


MIXED = "mixed.jsonl"  # a mixed step's training set (`training.data` as a list)


def mix_data(ctx: StageContext, step: TrainingStep, sources: list[Path]) -> tuple[Path, dict]:
    """A mixed training set (`training.data` as a list) in this stage's `mixed.jsonl`: each
    entry's first `limit` rows; the entries with a weight drawn (seeded) to the largest set
    with their normalised shares, the others whole. Returns the file and the realised counts."""

    entries = data_entries(step)
    labels = [f"{i}:{e.path or MADE_BY[step.method]}" for i, e in enumerate(entries)]
    rows: dict[str, list[dict]] = {}
    for label, entry, source in zip(labels, entries, sources, strict=True):
        data = read_rows(str(source), cache_dir=str(ctx.out_dir / "hf-cache"))
        n = min(len(data), entry.limit) if entry.limit else len(data)
        rows[label] = data.select(range(n)).to_list()
    weights = {label: e.weight for label, e in zip(labels, entries, strict=True) if e.weight}
    drawn = draw_mix({k: len(rows[k]) for k in weights}, weights, ctx.recipe.seed)
    mixed, report = [], {}
    for label, entry in zip(labels, entries, strict=True):
        chosen = drawn.get(label, range(len(rows[label])))
        mixed += [rows[label][i] for i in chosen]
        report[label] = {"weight": entry.weight, "limit": entry.limit,
                         "available": len(rows[label]), "taken": len(chosen)}  # fmt: skip
    path = ctx.out_dir / MIXED
    write_jsonl_atomic(path, mixed)
    shutil.rmtree(ctx.out_dir / "hf-cache", ignore_errors=True)
    return path, report


# TRL arguments that change when and what is saved or logged, not what is trained: changing
# them keeps the checkpoints.
RESUME_NEUTRAL_ARGS = {
    "save_steps", "save_total_limit", "logging_steps", "logging_first_step", "ddp_timeout",
}  # fmt: skip


LATER_STEPS_KEY = "later steps"  # the first train stage's config: their method and data


TORCH_COLLECTIVE_TIMEOUT_S = 1800  # TrainingArguments.ddp_timeout's default


def collective_timeout_s(save_bytes: float, write_gb_per_s: float) -> int:
    """How long the process group's collectives wait (TrainingArguments.ddp_timeout) while
    rank 0 gathers and writes the consolidated 16-bit save and the other ranks wait for it:
    3 x that write at `plan.disk_write_gb_per_s`, never under torch's default of 30 minutes.
    `ramen plan` prints it; the train stage sets it (below)."""
    return max(TORCH_COLLECTIVE_TIMEOUT_S, math.ceil(3 * save_bytes / (write_gb_per_s * 1e9)))


def collective_timeout(recipe: Any, step: Any, base_path: str) -> dict:
    """Full-parameter ZeRO-3: rank 0 gathers and writes the whole 16-bit model at every save
    while the other ranks wait in a collective; `ddp_timeout` (torch's 30 minutes unless the
    recipe's args say) is sized to that write, from the parameters the base's safetensors
    headers list."""
    if "ddp_timeout" in step.args:
        return {}
    from safetensors import safe_open  # reads headers only

    params = 0
    for f in sorted(Path(base_path).glob("*.safetensors")):
        with safe_open(str(f), "pt") as weights:
            for key in weights.keys():
                params += math.prod(weights.get_slice(key).get_shape())
    if not params:
        return {}
    return {"ddp_timeout": collective_timeout_s(2 * params, recipe.plan.disk_write_gb_per_s)}


def step_path(index: int) -> str:
    """The recipe key path of training step `index`: `training`, then `training.then[i]`."""
    return "training" if index == 0 else f"training.then[{index - 1}]"


def checkpoint_key(ctx: StageContext) -> str:
    """What the checkpoints of this stage were trained from: its config (step, base model,
    data file, seed, DeepSpeed preset) and the output hashes of the stages it reads."""

    def neutral(args: dict | None) -> dict:
        return {k: v for k, v in (args or {}).items() if k not in RESUME_NEUTRAL_ARGS}

    config = {k: v for k, v in ctx.config.items() if k != "training.checkpoint_every"}
    for key, value in config.items():
        if key == "training.args":  # the first step
            config[key] = neutral(value)
        elif key.startswith("training.then[") and isinstance(value, dict):  # a later one
            value = {k: v for k, v in value.items() if k != "checkpoint_every"}
            config[key] = {**value, "args": neutral(value.get("args"))}
    return hash_obj({"config": config, "inputs": ctx.input_hashes})


def guard_checkpoints(ctx: StageContext, folder: Path) -> None:
    """Checkpoints resume only the training that wrote them.

    A stage that runs again because its config or its data changed must not resume from the
    old run's checkpoints (it would pick up the old training where it stopped and call the
    result new). Checkpoints written under another key, or with no key (an older ramen), are
    removed with a line saying why, and so are all of them under `--force` (a forced run trains
    again; resuming would train 0 steps); a resume after a kill keeps them.
    """
    key = checkpoint_key(ctx)
    marker = folder / "ramen-checkpoints.json"
    if folder.is_dir() and any(folder.glob("checkpoint-*")):
        old = read_json(marker).get("key") if marker.is_file() else None
        if old != key or ctx.forced:
            why = (
                "the stage is forced (--force)"
                if old == key
                else "its config or data changed"
                if old
                else "they carry no ramen key"
            )
            console.print(
                f"[yellow]note:[/] removing the checkpoints in {folder}: they belong to another "
                f"training ({why}); training starts from the base model"
            )
            shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(marker, {"key": key})


# The last training step of a recipe with `evaluation.checkpoints` other than `last` keeps every
# checkpoint it saves (TRL's save_total_limit: null) for evaluation/evaluate_checkpoints.py.
KEEP_ALL_KEY = "keep every checkpoint (evaluation.checkpoints)"


def train_stage(ctx: StageContext, index: int) -> dict:
    recipe = ctx.recipe
    step = recipe.training if index == 0 else recipe.training.then[index - 1]
    base_path, model_spec = base_for(ctx, index)
    if index == 0:  # a later step's missing file should not surface after hours of this one
        for i, later in enumerate(ctx.config[LATER_STEPS_KEY], start=1):
            check_data(recipe, TrainingStep.model_validate(later), i, ctx.inputs)
    sources = check_data(recipe, step, index, ctx.inputs)
    gpu = on_gpu()
    guard_checkpoints(ctx, ctx.out_dir / "checkpoints")
    # the last run's result goes before this one trains: a full-parameter run over a LoRA one
    # would otherwise leave its adapter beside the new weights and `merged/` as the model
    for name in ("model", "merged"):
        shutil.rmtree(ctx.out_dir / name, ignore_errors=True)
    launch = TrainingLaunch(ctx.out_dir, step, topology(step, gpu))  # imports while we render
    try:
        # rendered by a CPU job before this one (`ramen run --ahead`, a SLURM launch), or here
        data = ctx.take_ahead() or render_step(ctx, step, sources, base_path)
        rendered, mix = data["rendered"], data["mix"]
        source = ctx.out_dir / MIXED if mix else Path(data["source"])
        args = step.args
        if step.method != "grpo" and "max_length" not in args:
            args = {**args, "max_length": rendered["max_length"]}  # the data's: nothing is cut
        if ctx.config.get(KEEP_ALL_KEY) and "save_total_limit" not in step.args:
            args = {**step.args, "save_total_limit": None}  # the sweep evaluates them all
        if step.lora is None and step.deepspeed in ("zero3", "zero3_offload"):
            args = {**args, **collective_timeout(recipe, step, base_path)}
        dequantize = quantized_base(base_path, model_spec, step, recipe.training.base, index)
        grpo = None
        if step.method == "grpo":
            grpo = grpo_spec(ctx, step, base_path, rendered, gpu)
        spec = TrainerSpec(
            name=f"{recipe.name}/{ctx.name}",
            method=step.method,
            model=base_path,
            data=str(ctx.out_dir / "data"),
            data_source=str(source),  # what `data` is a copy of
            out_dir=str(ctx.out_dir.resolve()),
            checkpoints=str((ctx.out_dir / "checkpoints").resolve()),
            seed=recipe.seed,
            report_to=step.report_to,
            gpu=gpu,
            dtype=model_spec.dtype
            if model_spec.dtype != "auto"
            else ("bfloat16" if gpu else "float32"),
            trust_remote_code=model_spec.trust_remote_code,
            reference=step.reference,
            lora=step.lora,
            deepspeed=str(preset_path(step.deepspeed)) if step.deepspeed else None,
            args=args,
            grpo=grpo,
            dequantize=dequantize,
            checkpoint_every_s=step.checkpoint_every * 60 if step.checkpoint_every else None,
        )
    except BaseException:
        launch.cancel()  # the training processes were waiting for a spec that will not come
        raise
    launch.run(spec)
    ctx.drop_ahead()
    adapted = None
    if step.lora:
        adapted = json.loads((ctx.out_dir / ADAPTED).read_text(encoding="utf-8"))
        frozen = adapted["frozen"]
        console.print(
            f"{ctx.name}: LoRA adapted {', '.join(adapted['adapted']) or 'nothing'}"
            + (f"; left frozen: {', '.join(frozen)} (training.lora)" if frozen else "")
        )
        merge_lora(ctx.out_dir / "model", ctx.out_dir / "merged", base_path, dequantize=dequantize)
        ctx.add_output("merged")
    for name in (
        "model",
        "data",
        MIXED,
        "examples.jsonl",
        "rewards.jsonl",
        "metrics.jsonl",
        "loss.png",
        "accelerate.yaml",
        "spec.json",
        ADAPTED,
    ):
        if (ctx.out_dir / name).exists():
            ctx.add_output(name)
    return {
        "model": str(model_folder(ctx.out_dir)),
        "method": step.method,
        "lora": bool(step.lora),
        **({"lora_adapted": adapted} if adapted else {}),
        **rendered,
        "kept": rendered["rows"],  # the rows of the training set (written to data/, not jsonl)
        **({"mix": mix} if mix else {}),
    }


def render_step(ctx: StageContext, step: TrainingStep, sources: list[Path], base: str) -> dict:
    """The CPU half of a train stage: the step's data mixed (a list of sets, MIXED), rendered
    and tokenized into `data/` (or GRPO's prompts), rejects recorded. A train stage does it
    itself, or takes it from a CPU job that did it before its GPU job (`ahead`)."""
    mix = None
    if isinstance(step.data, list):
        source, mix = mix_data(ctx, step, sources)
        console.print(
            f"{ctx.name}: mixed "
            + ", ".join(f"{k} {v['taken']} of {v['available']}" for k, v in mix.items())
        )
    else:
        source = sources[0]
    model = ctx.recipe.training.base
    if step.method == "grpo":
        rendered = prepare_prompts(ctx, step, source, base, model)
    else:
        rendered = prepare_data(ctx, step, source, base, model)
    return {"rendered": rendered, "mix": mix, "source": str(source)}


def render_ahead(ctx: StageContext, index: int) -> dict:
    """`ramen run --ahead` of a train stage (a CPU job before the GPU job on SLURM): its data
    rendered as the stage would render it, checked the same way first."""
    training = ctx.recipe.training
    step = training if index == 0 else training.then[index - 1]
    base_path, _ = base_for(ctx, index)
    return render_step(ctx, step, check_data(ctx.recipe, step, index, ctx.inputs), base_path)


def prepare_data(
    ctx: StageContext, step: TrainingStep, source: Path, base: str, model: str
) -> dict:
    """The step's rows rendered by the base model's own template and tokenized
    (ramen/turns.py), in this stage's `data/` folder: what the trainer trains on. A row
    that cannot be rendered as its model generated it goes to rejects.jsonl with its reason."""

    spec = ctx.recipe.models[model]
    tokenizer = base_tokenizer(ctx, base, model)
    renderer = TrainingRenderer(
        tokenizer, model, spec.template_kwargs(), spec.training_chat_template
    )
    rows = read_rows(str(source), cache_dir=str(ctx.out_dir / "hf-cache"))
    # Whole sequences or none. TRL would cut a row longer than its max_length (default 1024),
    # keeping the start: a DPO pair differs at its end (the answer), so a cut pair teaches
    # noise. Without `training.args.max_length` the data decides it (its longest row); with
    # one, a longer row is a reject that says by how much, and SFT rows are cut only when the
    # recipe names a `truncation_mode`.
    limit = step.args.get("max_length")
    truncate = step.method == "sft" and "truncation_mode" in step.args
    kept, cut, first, longest, too_long = 0, 0, "", 0, 0
    # rendered in worker processes from PARALLEL_FROM rows on, streamed to Arrow on disk
    # (training/render.py): memory flat in the number of rows
    out = ArrowRows(ctx.out_dir / "rendered.arrow")
    results = rendered(rows, len(rows), step.method, renderer)
    for row, result in track(results, f"{ctx.name}: rendering", total=len(rows)):
        ctx.count_input()
        if result[0] == "reject":
            _, reason, message = result
            ctx.reject(row, reason, detail=message)
            first = first or f"{reason}: {message}"
            continue
        tokens = result[1]
        if "input_ids" in tokens:
            prompt_len, total = tokens["completion_mask"].count(0), len(tokens["input_ids"])
            sizes = {"completion_tokens": total - prompt_len}
        else:
            prompt_len = len(tokens["prompt_ids"])
            sides = (len(tokens["chosen_ids"]), len(tokens["rejected_ids"]))
            total = prompt_len + max(sides)
            sizes = {"chosen_tokens": sides[0], "rejected_tokens": sides[1]}
        if limit and (prompt_len >= limit or (total > limit and not truncate)):
            reason = "prompt_fills_max_length" if prompt_len >= limit else "longer_than_max_length"
            ctx.reject(row, reason, prompt_tokens=prompt_len, **sizes, max_length=limit)
            too_long = max(too_long, total)
            continue
        cut += bool(limit and total > limit)
        longest = max(longest, total)
        out.write(tokens)
    out.close()
    kept = out.rows
    ctx.count_kept_input(kept)
    if not kept and too_long and not first:
        raise UserError(
            f"every row of {source} is longer than max_length {limit} (the longest: {too_long} "
            "tokens); raise it, or remove it and the longest row sets it",
            where="training.args.max_length",
        )
    if not kept:
        raise UserError(
            f"none of the {ctx.seen} rows of {source} could be rendered for '{model}' "
            f"(the first: {first or 'the file has no rows'})",
            where=f"models.{model}",
        )
    with atomic_dir(ctx.out_dir / "data") as tmp:
        out.save(tmp)
    out.path.unlink()
    shutil.rmtree(ctx.out_dir / "hf-cache", ignore_errors=True)
    return {
        "rows": kept,
        "max_length": limit or longest,
        "max_length_from": "training.args.max_length" if limit else "the longest row",
        "longest_row_tokens": longest,
        "cut_by_max_length": cut,  # 0 unless an SFT recipe names a truncation_mode
        "template": renderer.describe(),
    }


# --------------------------------------------------------------------------- the declarations


def _config(index: int):
    def config(r: Any) -> dict:
        step = r.training.steps()[index]
        data = [  # the content of the files a step names: a changed file trains again
            {"path": e.path, "sha256": hash_file(Path(e.path)) if Path(e.path).is_file() else None}
            for e in data_entries(step)
            if e.path
        ]
        if not isinstance(step.data, list):
            data = data[0] if data else None
        dump = step.model_dump(mode="json", exclude={"then"}, context={"hashed": True})
        # the first step is `training` but for `then`, which belongs to the later steps' stages
        declared = (
            {f"training.{k}": v for k, v in dump.items()}
            if index == 0
            else {step_path(index): dump, "training.base": r.training.base}
        )
        sweep = {}
        if (
            index == len(r.training.steps()) - 1
            and r.evaluation is not None
            and r.evaluation.sweeps_checkpoints
        ):
            sweep[KEEP_ALL_KEY] = True  # only when on: other runs' hashes stay as they were
        return {
            **declared,
            **sweep,
            "name": r.name,  # the trainer's run name
            **model_entries(r, r.training.base, step.judge),
            # the first step checks the later steps' data exist before it trains for hours
            LATER_STEPS_KEY: [
                s.model_dump(mode="json", include={"method", "data"})
                for s in r.training.steps()[1:]
            ]  # fmt: skip
            if index == 0
            else None,
            "training data file": data,
            "seed": r.seed,
            "deepspeed preset file": (
                hash_file(preset_path(step.deepspeed)) if step.deepspeed else None
            ),
        }

    return config


def _fn(index: int):
    def run(ctx: StageContext) -> dict:
        return train_stage(ctx, index)

    run.__name__ = f"train_{index}"
    return run


def _ahead(index: int):
    def ahead(ctx: StageContext) -> dict:
        return render_ahead(ctx, index)

    return ahead


def _needs(index: int):
    """The curation sets a step reads (and the previous step): `select`'s problems only for a
    grpo step that names no data of its own."""

    def needs(r: Any) -> tuple[str, ...]:
        reads_select = any(s.method == "grpo" and uses_curation_data(s) for s in r.training.steps())
        sets = ("pairs", "sft", "select") if reads_select else ("pairs", "sft")
        return sets if index == 0 else (*sets, train_stage_name(index - 1))

    return needs


def _has_step(index: int):
    return lambda r: r.training is not None and len(r.training.steps()) > index


STAGES = [
    StageDef(
        name=train_stage_name(i),
        fn=_fn(i),
        needs=_needs(i),
        config=_config(i),
        enabled=_has_step(i),
        ahead=_ahead(i),
        help=(
            "TRL SFT, DPO or GRPO (LoRA or full parameters, DeepSpeed ZeRO) via accelerate launch"
            if i == 0
            else f"training step {i + 1} (training.then[{i - 1}]), from the previous model"
        ),
    )
    for i in range(MAX_TRAIN_STEPS)
]
