"""Training overhead: ramen's `train` stage against a plain TRL script with the same config,
in one run. Goal (issue 5): tokens/s ratio ramen/plain >= 0.97.

Both sides run full-parameter SFT of tiny:strong on the same 512 conversations (a `<think>`
part and an answer), the same steps, batch size, learning rate, seed and assistant-only loss,
each launched by `accelerate launch` with the same generated config. Tokens/s is the trained
tokens over the wall time of the launch (model loading, tokenizing and saving included: that
is what a user waits for). Runs alternate, plain first then ramen first.

    .venv/bin/python benchmarks/training_overhead.py
    .venv/bin/python benchmarks/training_overhead.py --steps 100 --reps 3

On a GPU machine, `--shape qwen3-0.6b --dtype bfloat16` trains a randomly initialised model
of Qwen3-0.6B's shape (28 layers, hidden 1024, GQA 16/8 heads; the tiny tokenizer's
vocabulary) in bf16 on both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rows(n: int) -> list[dict]:
    from ramen.testing.problems import split_problems

    _, pool = split_problems()
    out = []
    for p in pool[:n]:
        turn = f"<think>\n{p.reasoning}\n</think>\n\nAnswer: {p.answer}"
        out.append(
            {
                "messages": [
                    {"role": "user", "content": p.question},
                    {"role": "assistant", "content": turn},
                ]
            }
        )
    return out


# Qwen3-0.6B's shape (its config.json), with the tiny tokenizer's vocabulary.
QWEN3_06B = dict(
    hidden_size=1024,
    intermediate_size=3072,
    num_hidden_layers=28,
    num_attention_heads=16,
    num_key_value_heads=8,
    head_dim=128,
    max_position_embeddings=4096,
    rope_theta=1_000_000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
)


def shaped_model(tiny_model: str, dest: Path, dtype: str) -> str:
    """A random model of Qwen3-0.6B's shape with the tiny tokenizer, saved to `dest`."""
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    tok = AutoTokenizer.from_pretrained(tiny_model)
    torch.manual_seed(0)
    config = Qwen3Config(
        vocab_size=len(tok),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        **QWEN3_06B,
    )
    model = Qwen3ForCausalLM(config).to(getattr(torch, dtype))
    model.save_pretrained(dest)
    tok.save_pretrained(dest)
    print(
        f"model: Qwen3-0.6B shape, {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters"
    )
    return str(dest)


def run_plain(
    model: str, data: Path, work: Path, steps: int, accel: Path, dtype: str
) -> tuple[float, int, float]:
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(accel),
        str(ROOT / "benchmarks" / "plain_trl_sft.py"),
        model,
        str(data),
        str(work / "plain"),
        str(steps),
        dtype,
    ]
    env = {**os.environ, "TQDM_DISABLE": "1", "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    seconds = time.perf_counter() - start
    m = re.search(r"PLAIN tokens=([\d.]+) train_runtime=([\d.]+)", out)
    return seconds, int(float(m.group(1))), float(m.group(2))


def run_ramen(
    model: str, data: Path, work: Path, steps: int, rep: int, dtype: str
) -> tuple[float, int, float]:
    recipe = work / f"r{rep}.yaml"
    recipe.write_text(
        f"""name: bench{rep}
workdir: {work / "runs"}
models:
  strong: {{path: "{model}", dtype: {dtype}, max_model_len: 1024}}
training:
  method: sft
  base: strong
  data: {data}
  args: {{max_steps: {steps}, per_device_train_batch_size: 8, learning_rate: 1.0e-4, save_strategy: "no"}}
"""
    )
    env = {**os.environ, "RAMEN_NO_PROGRESS": "1"}
    subprocess.run(
        [sys.executable, "-m", "ramen.launch.cli", "run", str(recipe), "--stages", "models"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ramen.launch.cli", "run", str(recipe), "--stages", "train"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    seconds = time.perf_counter() - start
    metrics = [
        json.loads(x)
        for x in (work / "runs" / f"bench{rep}" / "train" / "metrics.jsonl")
        .read_text()
        .splitlines()
    ]
    tokens = int(max(m.get("num_tokens", 0) for m in metrics))
    return seconds, tokens, max(float(m.get("train_runtime", 0)) for m in metrics)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--shape", choices=("tiny", "qwen3-0.6b"), default="tiny")
    ap.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    args = ap.parse_args()
    from ramen.testing import tiny
    from ramen.training.config import TrainingStep
    from ramen.training.launcher import Topology, write_accelerate_config

    model = str(tiny.model_path("strong"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.shape == "qwen3-0.6b":
            model = shaped_model(model, work / "qwen3-0.6b-shape", args.dtype)
        data = work / "sft.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows(512)))
        accel = write_accelerate_config(
            work / "accelerate.yaml", TrainingStep(method="sft"), Topology()
        )
        ratios, loop_ratios = [], []
        for rep in range(args.reps):
            order = ["plain", "ramen"] if rep % 2 == 0 else ["ramen", "plain"]
            result = {}
            for side in order:
                if side == "plain":
                    result[side] = run_plain(model, data, work, args.steps, accel, args.dtype)
                else:
                    result[side] = run_ramen(model, data, work, args.steps, rep, args.dtype)
            (ps, pt, pl), (rs, rt, rl) = result["plain"], result["ramen"]
            ratio, loop = (rt / rs) / (pt / ps), (rt / rl) / (pt / pl)
            ratios.append(ratio)
            loop_ratios.append(loop)
            print(
                f"rep {rep}: plain {pt} tokens in {ps:.1f} s = {pt / ps:,.0f} tok/s; "
                f"ramen {rt} tokens in {rs:.1f} s = {rt / rs:,.0f} tok/s; ratio {ratio:.3f} "
                f"(training loop only: {pl:.1f} s vs {rl:.1f} s, ratio {loop:.3f})"
            )
    print(
        f"ramen/plain tokens/s over the whole launch: median {statistics.median(ratios):.3f}; "
        f"training loop only: median {statistics.median(loop_ratios):.3f} ({args.reps} reps, "
        f"{args.steps} steps, batch 8, {args.shape} full SFT in {args.dtype}, 1 process on "
        f"{device()})"
    )
    print(
        f"reproduce: .venv/bin/python benchmarks/training_overhead.py --steps {args.steps} "
        f"--reps {args.reps} --shape {args.shape} --dtype {args.dtype}"
    )


def device() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"


if __name__ == "__main__":
    main()
