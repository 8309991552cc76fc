"""The GPU stack, checked on one GPU (issue 36): what CPU runs cannot show.

    python3 benchmarks/gpu/stack_checks.py                 # on one H100 or H200 (benchmarks/gpu/run.sh)
    .venv/bin/python benchmarks/gpu/stack_checks.py --device cpu   # the same code on CPU, float32

1. DeepSpeed's CPU Adam builds: the exact line a `zero3_offload` training job runs once before
   its ranks start (launch/slurm.py BUILD_CPU_ADAM), timed; then timed again (built: a load).
2. The tiny MoE (tiny:moe: Qwen3-MoE, 8 experts, 2 active) trained full-parameter with ZeRO-3
   through ramen's own train stage (`ramen run RECIPE`: the recipe, the stage, the generated
   accelerate and DeepSpeed config, TRL), SFT then DPO, in bf16 on the GPU: the rank line
   ("deepspeed zero stage 3"), steps, first and last loss, the trained tokens per second, every
   checkpoint's save time (ramen's log), and the saved model reloaded by transformers with
   finite logits.

Prints one JSON line per check and writes $OUT/stack_checks.json when $OUT is set. Needs
ramen, TRL, DeepSpeed and datasets installed (on the GPU image: carried as wheels,
scripts/gpu_wheels.sh). No network: tiny:moe ships with ramen.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUILD_CODE = re.compile(r"-c '([^']+)'")


def cpu_adam() -> dict:
    from ramen.launch.slurm import BUILD_CPU_ADAM

    code = BUILD_CODE.search(BUILD_CPU_ADAM).group(1)
    times = []
    for _ in range(2):  # built, then loaded
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        times.append(round(time.perf_counter() - start, 1))
        if proc.returncode != 0:
            return {"check": "cpu_adam", "ok": False, "error": proc.stderr[-2000:]}
    return {"check": "cpu_adam", "ok": True, "build_s": times[0], "load_s": times[1]}


def rows(n: int) -> tuple[list[dict], list[dict]]:
    """SFT conversations and DPO pairs of arithmetic, written for this check."""
    sft, pairs = [], []
    for i in range(n):
        a, b = 3 + i % 11, 5 + i % 13
        question = [{"role": "user", "content": f"What is {a} times {b}?"}]
        right = f"<think>\n{a} x {b} = {a * b}\n</think>\n\nAnswer: {a * b}"
        wrong = f"<think>\n{a} x {b} = {a * b + a}\n</think>\n\nAnswer: {a * b + a}"
        sft.append({"messages": [*question, {"role": "assistant", "content": right}]})
        pairs.append({
            "prompt": question,
            "chosen": [{"role": "assistant", "content": right}],
            "rejected": [{"role": "assistant", "content": wrong}],
        })  # fmt: skip
    return sft, pairs


def moe_zero3(work: Path, gpu: bool, steps: int) -> list[dict]:
    sft, pairs = rows(64)
    (work / "sft.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sft))
    (work / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pairs))
    dtype = "bfloat16" if gpu else "float32"
    recipe = work / "moe.yaml"
    recipe.write_text(
        f"""name: moe
seed: 0
workdir: {work / "runs"}
models:
  moe: {{path: "tiny:moe", dtype: {dtype}, max_model_len: 1024}}
training:
  method: sft
  base: moe
  data: {work / "sft.jsonl"}
  deepspeed: zero3
  args: {{max_steps: {steps}, per_device_train_batch_size: 8, learning_rate: 1.0e-4, save_steps: {steps // 2}}}
  then:
    - method: dpo
      data: {work / "pairs.jsonl"}
      deepspeed: zero3
      args: {{max_steps: {steps}, per_device_train_batch_size: 4, learning_rate: 1.0e-5, beta: 0.1, save_steps: {steps // 2}}}
"""
    )
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "ramen.launch.cli", "run", str(recipe)],
        capture_output=True, text=True, env={**os.environ, "RAMEN_NO_PROGRESS": "1"},
    )  # fmt: skip
    wall = round(time.perf_counter() - start, 1)
    if proc.returncode != 0:
        return [{"check": "moe_zero3", "ok": False, "wall_s": wall,
                 "error": (proc.stdout + proc.stderr)[-3000:]}]  # fmt: skip
    out = []
    for stage, method in (("train", "sft"), ("train-2", "dpo")):
        folder = work / "runs" / "moe" / stage
        log = (folder / "train.log").read_text()
        metrics = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]
        losses = [m["loss"] for m in metrics if "loss" in m]
        summary = next((m for m in metrics if "train_runtime" in m), {})
        tokens = max((m.get("num_tokens", 0) for m in metrics), default=0)
        saves = [float(x) for x in re.findall(r"saved checkpoint-\d+ in ([\d.]+) s", log)]
        out.append({
            "check": f"moe_zero3_{method}", "ok": "deepspeed zero stage 3" in log,
            "dtype": dtype, "steps": len(losses), "first_loss": losses[0] if losses else None,
            "last_loss": losses[-1] if losses else None,
            "train_runtime_s": summary.get("train_runtime"),
            "tokens_per_s": round(tokens / summary["train_runtime"]) if tokens and summary.get("train_runtime") else None,
            "checkpoint_s": saves, "reloaded": reload_ok(folder / "model", gpu),
        })  # fmt: skip
    out[-1]["wall_s_both"] = wall
    return out


def reload_ok(folder: Path, gpu: bool) -> bool:
    """The saved model loads with transformers and gives finite logits."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        folder, dtype=torch.bfloat16 if gpu else torch.float32
    )
    model.to("cuda" if gpu else "cpu")
    with torch.no_grad():
        logits = model(torch.tensor([[1, 2, 3, 4]], device=model.device)).logits
    return bool(torch.isfinite(logits).all()) and math.isfinite(float(logits.float().sum()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    gpu = args.device == "cuda"
    if gpu:
        import torch

        assert torch.cuda.is_available(), "no GPU: use --device cpu"
    results = [cpu_adam()]
    print(json.dumps(results[-1]), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for row in moe_zero3(Path(tmp), gpu, args.steps):
            results.append(row)
            print(json.dumps(row), flush=True)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "stack_checks.json").write_text(json.dumps(results, indent=2))
    print(
        f"reproduce: python3 benchmarks/gpu/stack_checks.py --device {args.device} --steps {args.steps}"
    )
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
