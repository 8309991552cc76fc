"""One training run, in every process that `accelerate launch -m ramen.training.run SPEC.json`
starts. The spec (written by the `train` stage) names the base model, the data, the method
(TRL SFT or DPO), LoRA or full parameters, DeepSpeed, and TRL's arguments as the recipe gives
them.

The stage starts these processes before it has rendered the rows (`ramen.training.run SPEC METHOD`):
they import the method's trainer first and then wait for the spec (`wait_for_spec`).

What it takes care of beyond calling the trainer:
- the rows come rendered by the model's own template and tokenized by the train stage
  (ramen/turns.py): the text is what the model generates, and the loss falls on the
  generated turn only; the first rows, as the trainer holds them, go to examples.jsonl;
- EOS is the template's end-of-turn token, written into the tokenizer and the generation
  config of the saved model, so the trained model stops (the open-r1 trap: a model trained to
  end turns with `<|im_end|>` but whose generation config stops only on `<|endoftext|>`
  generates forever);
- checkpoints every `save_steps` and a resume from the last one after a kill;
- metrics to metrics.jsonl (every process-0 log), a loss-curve PNG at the end;
- the final model (or LoRA adapter) and tokenizer saved to `model/`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from ramen.export import plain_layout, stop_on_eos
from ramen.io import write_text_atomic
from ramen.training.grpo import reward_function
from ramen.training.handoff import ADAPTED, CHECKPOINT_REQUEST, TrainerSpec
from ramen.turns import end_of_turn_token

# The train stage hands over rows it rendered and tokenized itself (ramen/turns.py).
KEEP_COLUMNS = {
    "sft": ("input_ids", "completion_mask"),
    "dpo": ("prompt_ids", "chosen_ids", "rejected_ids"),
    # rendered prompts; the rest reaches the reward function (training/grpo.py)
    "grpo": ("prompt", "problem_id", "question", "answer", "answer_type"),
}
EXAMPLES = 8  # rows written to examples.jsonl


def load_data(path: str, method: str):
    """The train stage's tokenized rows (a `datasets` folder), with only the trainer's columns."""
    import datasets

    ds = datasets.load_from_disk(path)
    missing = [c for c in KEEP_COLUMNS[method] if c not in ds.column_names]
    if missing:
        raise ValueError(f"{path} lacks {missing}: not rows the train stage tokenized")
    extra = [c for c in ds.column_names if c not in KEEP_COLUMNS[method]]
    return ds.remove_columns(extra) if extra else ds


def _dpo_trainer():
    """TRL's DPOTrainer, taking rows that are already tokenized as they are.

    TRL renders and tokenizes DPO rows itself and appends EOS to text completions; ramen hands
    it `prompt_ids`/`chosen_ids`/`rejected_ids` it rendered with the model's own template, in
    which a rejected turn cut off by the token budget rightly has no end token.
    """
    from trl import DPOTrainer

    class TokenizedDPOTrainer(DPOTrainer):
        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            if "prompt_ids" in dataset.column_names:
                return dataset
            return super()._prepare_dataset(dataset, processing_class, args, dataset_name)

    return TokenizedDPOTrainer


def write_examples(
    dataset: Any, method: str, tokenizer: Any, path: Path, header: dict | None = None
) -> None:
    """The first rows exactly as the trainer holds them, decoded: SFT `text` (the whole
    sequence) and `loss_text` (only the tokens that carry loss); DPO `prompt`, `chosen`,
    `rejected`. Masks and templates are debugged from this file. The first line, `{"header":
    ...}`, says what trained: the method, the model, and with LoRA what it adapted."""

    def decode(ids: list[int]) -> str:
        return tokenizer.decode(ids, skip_special_tokens=False)

    rows = []
    for row in dataset.select(range(min(EXAMPLES, len(dataset)))):
        if method == "grpo":  # the prompt as the policy sees it, and what grades its answers
            rows.append({k: row[k] for k in ("prompt", "answer", "answer_type")})
        elif method == "sft":
            ids = row["input_ids"]
            if "labels" in row:
                loss = [i for i, label in zip(ids, row["labels"], strict=False) if label != -100]
            else:
                loss = [i for i, m in zip(ids, row["completion_mask"], strict=False) if m]
            rows.append({"text": decode(ids), "loss_text": decode(loss), "tokens": len(ids)})
        else:
            rows.append({k: decode(row[f"{k}_ids"]) for k in ("prompt", "chosen", "rejected")})
    if header is not None:
        rows.insert(0, {"header": header})
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _group(path: str) -> str:
    """The parameter group a module path belongs to: attention, router, experts, mlp (dense
    or shared experts), head (embeddings and LM head), or other."""
    parts = path.split(".")
    if "experts" in parts:
        return "experts"
    if any(p in ("self_attn", "attn", "attention") for p in parts):
        return "attention"
    if parts[-1] in ("gate", "router") and "mlp" in parts:
        return "router"
    if "mlp" in parts:
        return "mlp"
    if parts[-1] in ("lm_head", "embed_tokens"):
        return "head"
    return "other"


def _dequantized(spec: TrainerSpec) -> dict:
    """`quantization_config` that loads a quantized base (gpt-oss's MXFP4) dequantized to the
    training dtype (training.dequantize), as transformers' quantizers do with `dequantize`."""
    if spec.dequantize is None:
        return {}
    from transformers.quantizers.auto import AutoQuantizationConfig

    return {"quantization_config": AutoQuantizationConfig.from_dict(spec.dequantize)}


def adapted_groups(model: Any) -> dict:
    """What LoRA adapted, read from PEFT's own model: per group, the adapted targets (a module,
    or a module's parameter for PEFT's ParamWrapper: `experts.gate_up_proj`) and how many
    layers; `frozen`: the groups the model has that LoRA left untouched (gpt-oss's experts
    and router under `all-linear`, which adapts linear layers only)."""
    from peft.tuners.lora import LoraLayer

    adapted: dict[str, dict[str, int]] = {}
    for path, module in model.named_modules():
        if not isinstance(module, LoraLayer):
            continue
        path = path.replace(".base_layer", "")
        name = path.split(".")[-1]
        parameter = getattr(module, "parameter_name", None)
        target = f"{name}.{parameter}" if parameter and parameter != "weight" else name
        group = adapted.setdefault(_group(path), {})
        group[target] = group.get(target, 0) + 1
    present = set()
    for path, module in model.named_modules():
        if (
            path
            and not any(k in path for k in ("lora_", "base_layer"))
            and (next(module.parameters(recurse=False), None) is not None)
        ):
            present.add(_group(path.removeprefix("base_model.model.")))
    return {
        "adapted": {g: dict(sorted(t.items())) for g, t in sorted(adapted.items())},
        "frozen": sorted(present - set(adapted) - {"other", "head"}),
    }


def last_complete_checkpoint(folder: Path) -> tuple[str | None, list[Path]]:
    """The newest `checkpoint-N` whose save finished (or None), and the unfinished newer ones.

    The Trainer writes a checkpoint's weights, then optimizer, scheduler and RNG states, and
    `trainer_state.json` last; a kill in between leaves a folder that `get_last_checkpoint`
    would still pick and `train(resume_from_checkpoint=...)` would fail on.
    """
    if not folder.is_dir():
        return None, []
    found = sorted(
        (p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name[11:].isdigit()),
        key=lambda p: int(p.name[11:]),
        reverse=True,
    )
    unfinished = []
    for ckpt in found:
        try:
            json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            unfinished.append(ckpt)
            continue
        return str(ckpt), unfinished
    return None, unfinished


PROGRESS_EVERY_S = 10.0  # ramen's progress line at most this often (and at the last step)


def progress_line(
    step: int,
    max_steps: int,
    logs: dict,
    tokens_per_s: float | None,
    elapsed_s: float,
    steps_done: int,
) -> str:
    """One progress line: `ramen: train step 12/40 · loss 0.693 · reward 0.50 · 1,234
    tokens/s · 0:45 left` (what the train stage shows while the Trainer's own output goes to
    train.log). `steps_done` counts the steps this process ran (a resumed run started later)."""
    parts = [f"ramen: train step {step}/{max_steps}"]
    for key, label in (("loss", "loss"), ("reward", "reward"), ("rewards/chosen", "chosen reward")):
        value = logs.get(key)
        if isinstance(value, int | float):
            parts.append(f"{label} {value:.4g}")
    if tokens_per_s is not None:
        parts.append(f"{tokens_per_s:,.0f} tokens/s")
    if steps_done > 0 and max_steps > step:
        left = round(elapsed_s / steps_done * (max_steps - step))
        parts.append(f"{left // 3600}:{left // 60 % 60:02d}:{left % 60:02d} left")
    return " · ".join(parts)


def due_everywhere(due: bool) -> bool:
    """Process 0's `due`, the same on every process: saving is collective (ZeRO-3 gathers), so
    the processes must decide together or they wait on each other forever."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return due
    cuda = dist.get_backend() == "nccl"
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    flag = torch.tensor([int(due)], device=device)
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def timed_checkpoints(every_s: float | None, request: Path, clock=time.monotonic):
    """A TrainerCallback that saves a checkpoint when `every_s` of training passed since the
    last save (training.checkpoint_every), or when `request` exists (a job near its time
    limit asks; the file is removed once the checkpoint is saved). `save_steps` still saves.
    Every save prints how long it took (`ramen: saved checkpoint-N in S s`): the Trainer saves
    between the step's end and `on_save`, so a checkpoint's cost is read, not guessed."""
    from transformers import TrainerCallback

    class TimedCheckpoints(TrainerCallback):
        def __init__(self) -> None:
            self.last = clock()
            self.step_end = clock()
            self.requested = False

        def on_train_begin(self, args, state, control, **kwargs):
            self.last = clock()

        def on_step_end(self, args, state, control, **kwargs):
            self.step_end = clock()
            requested = request.exists()
            due = requested or (every_s is not None and clock() - self.last >= every_s)
            if due_everywhere(due):
                control.should_save = True
                self.requested = self.requested or requested
            return control

        def on_save(self, args, state, control, **kwargs):
            self.last = clock()
            if state.is_world_process_zero:
                took = f"in {self.last - self.step_end:.2f} s"
                if self.requested:
                    request.unlink(missing_ok=True)  # the job waiting on it may requeue now
                print(f"ramen: saved checkpoint-{state.global_step} {took}"
                      + (" as asked" if self.requested else ""), flush=True)  # fmt: skip
            self.requested = False

    return TimedCheckpoints()


def _metrics_callback(path: Path):
    from transformers import TrainerCallback

    class MetricsToJsonl(TrainerCallback):
        """Append every log of process 0 to metrics.jsonl (step, epoch and the logged values),
        and print ramen's progress line from them (at most every PROGRESS_EVERY_S)."""

        def __init__(self) -> None:
            self.started: float | None = None
            self.first_step = 0
            self.shown_at = float("-inf")
            self.tokens: tuple[float, float] | None = None  # (num_tokens, time) at the last line

        def on_train_begin(self, args, state, control, **kwargs):
            self.started, self.first_step = time.monotonic(), state.global_step

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            row = {"step": state.global_step, "epoch": state.epoch, **logs}
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row, sort_keys=True) + "\n")
            now = time.monotonic()
            if "train_runtime" in logs:  # the Trainer's summary
                print(
                    f"ramen: trained {state.global_step} steps in {logs['train_runtime']:.0f} s"
                    + (f" (mean loss {logs['train_loss']:.4g})" if "train_loss" in logs else ""),
                    flush=True,
                )
                return
            last = state.global_step >= state.max_steps
            if now - self.shown_at < PROGRESS_EVERY_S and not last:
                return
            rate = None
            tokens = logs.get("num_tokens")
            if isinstance(tokens, int | float):
                if self.tokens is not None and now > self.tokens[1]:
                    rate = (tokens - self.tokens[0]) / (now - self.tokens[1])
                self.tokens = (tokens, now)
            self.shown_at = now
            started = self.started if self.started is not None else now
            line = progress_line(
                state.global_step, state.max_steps, logs, rate, now - started,
                state.global_step - self.first_step,
            )  # fmt: skip
            print(line, flush=True)

    return MetricsToJsonl()


def clean_metrics(path: Path) -> list[dict]:
    """metrics.jsonl after a resume holds the steps between the checkpoint and the kill twice:
    keep the last line per (step, kind), in step order (a step's training row first, then
    e.g. the Trainer's closing summary), and rewrite the file.

    TRL's `num_tokens` (tokens trained so far) is not in the checkpoint and starts again from
    zero in a resumed run; it is continued from the checkpoint's count, so the file reads as
    one run (and equals an uninterrupted run's). A resumed run shows as a step that comes
    again or, once trim_metrics has dropped the killed run's last steps, as a count that falls.
    """
    if not path.exists():
        return []
    rows: dict[tuple[int, str], dict] = {}
    tokens: dict[int, float] = {}  # step -> corrected num_tokens of the training rows
    last_step, last_raw, offset = 0, 0.0, 0.0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by the kill
        kind = "train" if "loss" in row else ",".join(sorted(k for k in row if k != "step"))
        if kind == "train" and "num_tokens" in row:
            step, raw = row["step"], row["num_tokens"]
            if step <= last_step or raw < last_raw:  # a resumed run's first row
                before = max((s for s in tokens if s < step), default=None)
                base = tokens[before] if before is not None else 0.0
                offset = base if raw < base else 0.0
            last_raw = raw
            row["num_tokens"] += offset
            tokens[step], last_step = row["num_tokens"], step
        rows[(row["step"], kind)] = row
    ordered = [rows[k] for k in sorted(rows, key=lambda k: (k[0], k[1] != "train", k[1]))]
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in ordered))
    return ordered


def plot_loss(rows: list[dict], png: Path, title: str) -> None:
    """The training loss per step; for GRPO beside it the mean reward (ramen's grader: the
    share of graded rollouts that were correct) with its spread."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    if not points:
        return
    rewards = [(r["step"], r["reward"], r.get("reward_std", 0.0)) for r in rows if "reward" in r]
    fig, axes = plt.subplots(1, 2 if rewards else 1, figsize=(11 if rewards else 6, 3.5))
    ax = axes[0] if rewards else axes
    ax.plot([p[0] for p in points], [p[1] for p in points], marker=".")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if rewards:
        ax = axes[1]
        steps, means, stds = zip(*rewards, strict=True)
        ax.errorbar(steps, means, yerr=stds, marker=".", capsize=2)
        ax.set_xlabel("step")
        ax.set_ylabel("mean reward (± std)")
        ax.set_title("ramen grader reward")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def tracker_dirs(report_to: list[str], out: Path, env) -> dict[str, str]:
    """Where the local trackers write, unless the environment says otherwise: TensorBoard event
    files in `<stage>/tensorboard/`, trackio's database in `<stage>/trackio/` (set before
    trackio is imported, which reads TRACKIO_DIR once). Returns what it set."""
    wanted = {
        "tensorboard": ("TENSORBOARD_LOGGING_DIR", out / "tensorboard"),
        "trackio": ("TRACKIO_DIR", out / "trackio"),
    }
    made = {}
    for tracker, (var, folder) in wanted.items():
        if tracker in report_to and not env.get(var):
            env[var] = made[var] = str(folder)
    return made


def _tracker_args(spec: TrainerSpec, args: dict) -> dict:
    """trackio logs locally: no Space and no static Space on the Hub unless `training.args`
    names one; the project is the recipe's name."""
    if "trackio" not in spec.report_to:
        return {}
    return {
        "project": args.pop("project", spec.name.split("/")[0]),
        "trackio_static_space_id": args.pop("trackio_static_space_id", False),
    }


def build_config(spec: TrainerSpec, eos: str | None):
    """TRL's SFTConfig / DPOConfig / GRPOConfig from the recipe's args plus what ramen owns."""
    from trl import DPOConfig, GRPOConfig, SFTConfig

    args = dict(spec.args)
    gpu = spec.gpu
    common: dict[str, Any] = {
        "output_dir": spec.checkpoints,
        "seed": spec.seed,
        "report_to": spec.report_to,
        **_tracker_args(spec, args),
        "logging_steps": args.pop("logging_steps", 1),
        # ramen's progress line (step, loss, reward, tokens/s, time left) replaces tqdm's bar,
        # whose carriage returns would fold it into the bar's line in train.log
        "disable_tqdm": args.pop("disable_tqdm", True),
        "save_strategy": args.pop("save_strategy", "steps"),
        "save_steps": args.pop("save_steps", 50),
        "save_total_limit": args.pop("save_total_limit", 2),
        "use_cpu": not gpu,
        "bf16": args.pop("bf16", gpu),
        "model_init_kwargs": {
            "dtype": spec.dtype,
            "trust_remote_code": spec.trust_remote_code,
            **_dequantized(spec),
            **args.pop("model_init_kwargs", {}),
        },
    }
    # DeepSpeed comes from the accelerate config (its deepspeed_config_file): accelerate sets
    # up the plugin and the Trainer fills the preset's "auto" values from these arguments.
    if spec.method == "sft":
        return SFTConfig(
            **common,
            assistant_only_loss=False,  # the rows carry their own loss mask
            completion_only_loss=True,
            eos_token=args.pop("eos_token", eos),
            **args,
        )
    if spec.method == "grpo":
        return GRPOConfig(
            **common,
            max_completion_length=args.pop(
                "max_completion_length", spec.grpo.max_completion_length
            ),
            **args,
        )
    return DPOConfig(
        **common,
        precompute_ref_log_probs=args.pop(
            "precompute_ref_log_probs", spec.reference == "precompute"
        ),
        **args,
    )


TRAINERS = {"sft": "SFTTrainer", "dpo": "DPOTrainer", "grpo": "GRPOTrainer"}


def wait_for_spec(path: Path, method: str | None, env=os.environ) -> None:
    """A process started before its spec (the train stage renders the rows meanwhile):
    import what the method's training needs, then wait for the spec. If the stage that
    started it (RAMEN_STAGE_PID) is gone without writing it, exit."""
    if path.exists():
        return
    if method in TRAINERS:
        import importlib

        import datasets  # noqa: F401 - imported now, while the stage renders
        import transformers  # noqa: F401

        getattr(importlib.import_module("trl"), TRAINERS[method])
    stage = int(env.get("RAMEN_STAGE_PID", "0"))
    while not path.exists():
        if stage:
            try:
                os.kill(stage, 0)
            except ProcessLookupError:
                print(f"ramen: the train stage (pid {stage}) ended before writing {path}")
                sys.exit(3)
            except PermissionError:
                pass  # alive, another user's
        time.sleep(0.05)


def main(spec_path: str, method: str | None = None) -> None:
    wait_for_spec(Path(spec_path), method)
    from transformers import AutoTokenizer, set_seed

    spec = TrainerSpec.read(Path(spec_path))
    out = Path(spec.out_dir)
    tracker_dirs(spec.report_to, out, os.environ)
    set_seed(spec.seed)
    tokenizer = AutoTokenizer.from_pretrained(spec.model, trust_remote_code=spec.trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    eos = end_of_turn_token(tokenizer)
    if spec.method == "grpo" and eos:
        tokenizer.eos_token = eos  # rollouts stop where the model's turn ends
    config = build_config(spec, eos)
    dataset = load_data(spec.data, spec.method)
    peft_config = None
    if spec.lora is not None:
        from peft import LoraConfig

        lora = spec.lora
        peft_config = LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=lora.target_modules,
            target_parameters=lora.target_parameters,
            task_type="CAUSAL_LM",
        )
    extra: dict[str, Any] = {}
    reward = None
    if spec.method == "sft":
        from trl import SFTTrainer as Trainer
    elif spec.method == "grpo":
        from trl import GRPOTrainer as Trainer

        rank = int(os.environ.get("RANK", "0"))
        reward = reward_function(spec, tokenizer, out / f"rewards-rank{rank}.jsonl")
        extra["reward_funcs"] = [reward]
    else:
        Trainer = _dpo_trainer()  # noqa: N806 - a class
    trainer = Trainer(
        model=spec.model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[
            _metrics_callback(out / "metrics.jsonl"),
            timed_checkpoints(spec.checkpoint_every_s, out / CHECKPOINT_REQUEST),
        ],
        **extra,
    )
    if spec.dequantize is not None:
        plain_layout(trainer.model)  # or the saved model would lack its dequantized experts
    if trainer.is_world_process_zero():
        header: dict[str, Any] = {"method": spec.method, "model": spec.model}
        if peft_config is not None:
            header["lora"] = adapted_groups(trainer.model)
            write_text_atomic(out / ADAPTED, json.dumps(header["lora"], indent=2) + "\n")
        write_examples(
            trainer.train_dataset, spec.method, tokenizer, out / "examples.jsonl", header
        )
    last, unfinished = last_complete_checkpoint(Path(spec.checkpoints))
    trainer.accelerator.wait_for_everyone()  # every process has looked before any removal
    if trainer.is_world_process_zero():
        for ckpt in unfinished:  # the resumed run saves these steps again
            print(
                f"ramen: {ckpt} was not saved completely (killed mid-save); removing it", flush=True
            )
            shutil.rmtree(ckpt)
    if last and trainer.is_world_process_zero():
        print(f"ramen: resuming from {last}", flush=True)
    resumed_at = int(Path(last).name[11:]) if last else 0
    if trainer.is_world_process_zero():  # the killed run's steps after the checkpoint are redone
        trim_metrics(out / "metrics.jsonl", resumed_at)
    if reward is not None:
        trim_rewards(reward.log_path, resumed_at)
    trainer.train(resume_from_checkpoint=last)
    if reward is not None and reward.judge is not None:
        reward.judge.engine.close()
    _report_setup(trainer, spec)
    final = out / "model"
    trainer.save_model(str(final))
    if trainer.is_world_process_zero():
        tokenizer.eos_token = eos or tokenizer.eos_token
        tokenizer.save_pretrained(str(final))
        _fix_generation_config(final, tokenizer)
        _sort_adapter_config(final)
        rows = clean_metrics(out / "metrics.jsonl")
        plot_loss(rows, out / "loss.png", f"{spec.method} {spec.name}")
        if reward is not None:
            merge_rewards(out)
    trainer.accelerator.wait_for_everyone()


def _keep_rows(path: Path, keep: Any) -> None:
    """Rewrite a JSONL log with the rows `keep(row)` accepts (lines torn by a kill dropped)."""
    if not path.exists():
        return
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by the kill
        if keep(row):
            lines.append(line + "\n")

    write_text_atomic(path, "".join(lines))


def trim_rewards(path: Path, step: int) -> None:
    """Keep the reward rows of rollouts made before `step` (the checkpoint a run resumes
    from; 0: a fresh start keeps none): the rollouts after it are made again."""
    _keep_rows(path, lambda row: row.get("step") is not None and row["step"] < step)


def trim_metrics(path: Path, step: int) -> None:
    """Keep the metrics logged up to `step` (the checkpoint a run resumes from; 0: a fresh
    start keeps none, so a retrained stage's file is not the old run's beyond its last step)."""
    _keep_rows(path, lambda row: isinstance(row.get("step"), int) and 0 < row["step"] <= step)


def merge_rewards(out: Path) -> None:
    """rewards.jsonl: every process's reward rows, by step then rank (each rank's own order)."""
    rows = []
    for rank_file in sorted(out.glob("rewards-rank*.jsonl")):
        rank = int(rank_file.stem.removeprefix("rewards-rank"))
        for i, line in enumerate(rank_file.read_text(encoding="utf-8").splitlines()):
            row = json.loads(line)
            rows.append(((row["step"], rank, i), line))
        rank_file.unlink()
    rows.sort(key=lambda r: r[0])
    (out / "rewards.jsonl").write_text("".join(line + "\n" for _, line in rows), encoding="utf-8")


def _sort_adapter_config(folder: Path) -> None:
    """PEFT keeps `target_modules` as a set and writes it in hash order, which changes from
    process to process: sorted, two runs of the same recipe write the same file."""
    path = folder / "adapter_config.json"
    if not path.is_file():
        return
    config = json.loads(path.read_text())
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _report_setup(trainer: Any, spec: TrainerSpec) -> None:
    """One line per process: what really trained (tests and users read it in train.log)."""
    state = trainer.accelerator.state
    plugin = getattr(state, "deepspeed_plugin", None)
    zero = plugin.zero_stage if plugin is not None else None
    line = (
        f"ramen: rank {state.process_index}/{state.num_processes} trained "
        f"{type(trainer.model_wrapped).__name__} (deepspeed zero stage {zero})"
    )
    if spec.method == "dpo":
        ref = getattr(trainer, "ref_model", None)
        if spec.lora is not None:
            what = "the adapter-disabled base model"
        elif ref is None:
            what = "precomputed reference log-probs"
        else:
            what = type(ref).__name__
        line += f"; DPO reference: {what}"
    print(line, flush=True)


def _fix_generation_config(folder: Path, tokenizer: Any) -> None:
    """The saved model stops on the end-of-turn token as well as on its old EOS."""

    if (folder / "config.json").exists():  # a LoRA adapter: the merge writes it
        stop_on_eos(folder, tokenizer)


if __name__ == "__main__":
    main(*sys.argv[1:3])
