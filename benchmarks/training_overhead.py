"""Training overhead: ramen's `train` stage against a plain TRL script with the same config,
in one run. Goal (issue 5): tokens/s ratio ramen/plain >= 0.97.

Both sides run full-parameter SFT of tiny:strong on the same 512 conversations (a `<think>`
part and an answer), the same steps, batch size, learning rate, seed and assistant-only loss,
each launched by `accelerate launch` with the same generated config, and on the same
checkpoint schedule (`--save-steps`, default 50 with the last 2 kept: ramen's default; 0 saves
on neither side); the number of checkpoints each side saved is checked equal. The ratio is
steps/s (the same rows in the same batches: equal work; ramen trains one token fewer per row,
the `\n` after `<|im_end|>` the model never generates, so tokens/s is printed beside it) over
the wall time of the launch (model loading, tokenizing and saving included: what a user waits
for) and over the Trainer's loop alone. The cost of one checkpoint is reported apart, from
ramen's own log (`ramen: saved checkpoint-N in S s`). Runs alternate, plain first then ramen
first.

    .venv/bin/python benchmarks/training_overhead.py
    .venv/bin/python benchmarks/training_overhead.py --steps 400 --reps 4

On a GPU machine, `--shape qwen3-0.6b --dtype bfloat16` trains a randomly initialised model
of Qwen3-0.6B's shape (28 layers, hidden 1024, GQA 16/8 heads; the tiny tokenizer's
vocabulary) in bf16 on both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
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
    model: str, data: Path, work: Path, steps: int, accel: Path, dtype: str, save_steps: int
) -> dict:
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(accel),
        str(ROOT / "benchmarks" / "plain_trl_sft.py"),
        model, str(data), str(work / "plain"), str(steps), dtype, str(save_steps),
    ]  # fmt: skip
    env = {**os.environ, "TQDM_DISABLE": "1", "TOKENIZERS_PARALLELISM": "false"}
    shutil.rmtree(work / "plain", ignore_errors=True)
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    seconds = time.perf_counter() - start
    m = re.search(r"PLAIN tokens=([\d.]+) train_runtime=([\d.]+) saves=(\d+)", out)
    return {"wall": seconds, "tokens": int(float(m.group(1))), "loop": float(m.group(2)),
            "saves": int(m.group(3)), "save_s": []}  # fmt: skip


def run_ramen(
    model: str, data: Path, work: Path, steps: int, rep: int, dtype: str, save_steps: int
) -> dict:
    recipe = work / f"r{rep}.yaml"
    schedule = f"save_steps: {save_steps}" if save_steps else 'save_strategy: "no"'
    recipe.write_text(
        f"""name: bench{rep}
workdir: {work / "runs"}
models:
  strong: {{path: "{model}", dtype: {dtype}, max_model_len: 1024}}
training:
  method: sft
  base: strong
  data: {data}
  args: {{max_steps: {steps}, per_device_train_batch_size: 8, learning_rate: 1.0e-4, {schedule}}}
"""
    )
    env = {**os.environ, "RAMEN_NO_PROGRESS": "1"}
    for stages in ("models", "train"):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "ramen.launch.cli", "run", str(recipe), "--stages", stages],
            cwd=ROOT, env=env, check=True, capture_output=True,
        )  # fmt: skip
        seconds = time.perf_counter() - start  # the train stage's, at the end of the loop
    stage = work / "runs" / f"bench{rep}" / "train"
    metrics = [json.loads(x) for x in (stage / "metrics.jsonl").read_text().splitlines()]
    saves = [float(x) for x in re.findall(r"ramen: saved checkpoint-\d+ in ([\d.]+) s", (stage / "train.log").read_text())]  # fmt: skip
    return {"wall": seconds, "tokens": int(max(m.get("num_tokens", 0) for m in metrics)),
            "loop": max(float(m.get("train_runtime", 0)) for m in metrics),
            "saves": len(saves), "save_s": saves}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--shape", choices=("tiny", "qwen3-0.6b"), default="tiny")
    ap.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    ap.add_argument(
        "--save-steps",
        type=int,
        default=50,
        help="both sides: a checkpoint every N steps (0: none)",
    )
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
        ratios, loop_ratios, token_ratios, save_s = [], [], [], []
        for rep in range(args.reps):
            order = ["plain", "ramen"] if rep % 2 == 0 else ["ramen", "plain"]
            r = {}
            for side in order:
                if side == "plain":
                    r[side] = run_plain(
                        model, data, work, args.steps, accel, args.dtype, args.save_steps
                    )
                else:
                    r[side] = run_ramen(
                        model, data, work, args.steps, rep, args.dtype, args.save_steps
                    )
            p, m = r["plain"], r["ramen"]
            if p["saves"] != m["saves"]:  # not equal work: the ratio would mean nothing
                sys.exit(f"rep {rep}: plain saved {p['saves']} checkpoints, ramen {m['saves']}")
            ratio, loop = p["wall"] / m["wall"], p["loop"] / m["loop"]  # steps/s, same steps
            tokens = (m["tokens"] / m["wall"]) / (p["tokens"] / p["wall"])
            ratios.append(ratio)
            loop_ratios.append(loop)
            token_ratios.append(tokens)
            save_s += m["save_s"]
            print(
                f"rep {rep}: {args.steps} steps, {p['saves']} checkpoints each; plain "
                f"{p['wall']:.1f} s (loop {p['loop']:.1f} s), ramen {m['wall']:.1f} s (loop "
                f"{m['loop']:.1f} s): steps/s ratio {ratio:.3f}, loop {loop:.3f}; tokens "
                f"{p['tokens']} vs {m['tokens']}, tokens/s ratio {tokens:.3f}"
            )
    print(
        f"ramen/plain steps/s over the whole launch: median {statistics.median(ratios):.3f}; "
        f"training loop only: median {statistics.median(loop_ratios):.3f}; tokens/s over the "
        f"launch: median {statistics.median(token_ratios):.3f} ({args.reps} reps, {args.steps} "
        f"steps, batch 8, {args.shape} full SFT in {args.dtype}, 1 process on {device()})"
    )
    if save_s:
        print(
            f"one checkpoint (model, optimizer, scheduler, RNG states; ramen's log): median "
            f"{statistics.median(save_s):.2f} s over {len(save_s)} saves, included on both sides"
        )
    print(
        f"reproduce: .venv/bin/python benchmarks/training_overhead.py --steps {args.steps} "
        f"--reps {args.reps} --save-steps {args.save_steps} --shape {args.shape} "
        f"--dtype {args.dtype}"
    )


def device() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"


if __name__ == "__main__":
    main()
