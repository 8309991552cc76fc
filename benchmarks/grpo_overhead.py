"""GRPO overhead: ramen's `train` stage (method grpo) against a plain TRL script with the same
config and the same reward function, in one run. Goal (issue 19): steps/s ratio ramen/plain
>= 0.97.

Both sides run full-parameter GRPO of tiny:strong on the same 64 bundled problems: 1 prompt x
8 rollouts per step, 64-token completions, lr 1e-5, beta 0, the same seed,
each launched by `accelerate launch` with the same generated config. Steps/s is the steps over
the wall time of the launch (loading, data preparation and saving included: what a user
waits for); the training loop alone is printed beside it. Runs alternate, plain first then
ramen first. Every rollout must be the same on both sides (checked): then step i is the same
work in every run, and the sum of each step's fastest time over the reps (TRL's `step_time`)
gives a loop ratio with the machine's stalls left out.

    .venv/bin/python benchmarks/grpo_overhead.py
    .venv/bin/python benchmarks/grpo_overhead.py --steps 40 --reps 3
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


def gradable_rows(count: int) -> list[dict]:
    """The first `count` bundled problems with a question and a reference. The bundled file also
    holds rows ramen rejects (an empty answer, for the rejects tests): the stage would drop them
    and TRL would not, the two datasets would differ in length, and so would the order the
    seeded sampler draws prompts in: the two sides would not do the same rollouts."""
    from ramen.bundled import resolve_bundled

    rows = []
    for line in Path(resolve_bundled("bundled:problems.jsonl")).read_text().splitlines():
        row = json.loads(line)
        if str(row.get("question") or "").strip() and row.get("answer") not in (None, ""):
            rows.append(row)
    ids = [r["id"] for r in rows[:count]]
    assert len(set(ids)) == count, "duplicate ids among the first rows"
    return rows[:count]


def completions(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]


def run_plain(model: str, data: Path, work: Path, steps: int, accel: Path) -> tuple:
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(accel),
        str(ROOT / "benchmarks" / "plain_trl_grpo.py"), model, str(data), str(work / "plain"),
        str(steps),
    ]  # fmt: skip
    env = {**os.environ, "TQDM_DISABLE": "1", "TOKENIZERS_PARALLELISM": "false"}
    (work / "plain" / "rewards.jsonl").unlink(missing_ok=True)
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    seconds = time.perf_counter() - start
    m = re.search(r"PLAIN steps=(\d+) train_runtime=([\d.]+)", out)
    assert int(m.group(1)) == steps
    step_times = json.loads((work / "plain" / "step_times.json").read_text())
    return seconds, float(m.group(2)), step_times


def run_ramen(model: str, data: Path, work: Path, steps: int, rep: int) -> tuple:
    recipe = work / f"r{rep}.yaml"
    recipe.write_text(
        f"""name: bench{rep}
workdir: {work / "runs"}
models:
  strong: {{path: "{model}", dtype: float32, max_model_len: 1024}}
training:
  method: grpo
  base: strong
  data: {data}
  args: {{max_steps: {steps}, per_device_train_batch_size: 8, num_generations: 8,
         max_completion_length: 64, learning_rate: 1.0e-5, beta: 0.0, save_strategy: "no"}}
"""
    )
    env = {**os.environ, "RAMEN_NO_PROGRESS": "1"}
    ramen = [sys.executable, "-m", "ramen.launch.cli", "run", str(recipe), "--stages"]
    subprocess.run([*ramen, "models"], cwd=ROOT, env=env, check=True, capture_output=True)
    start = time.perf_counter()
    subprocess.run([*ramen, "train"], cwd=ROOT, env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    metrics_file = work / "runs" / f"bench{rep}" / "train" / "metrics.jsonl"
    metrics = [json.loads(x) for x in metrics_file.read_text().splitlines()]
    assert max(m["step"] for m in metrics) == steps
    step_times = [float(m["step_time"]) for m in metrics if "step_time" in m]
    return seconds, max(float(m.get("train_runtime", 0)) for m in metrics), step_times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    from ramen.testing import tiny
    from ramen.training.config import TrainingStep
    from ramen.training.launcher import Topology, write_accelerate_config

    model = str(tiny.model_path("strong"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "problems.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in gradable_rows(64)))
        accel = write_accelerate_config(
            work / "accelerate.yaml", TrainingStep(method="grpo"), Topology()
        )
        ratios, loop_ratios = [], []
        step_times: dict[str, list[list[float]]] = {"plain": [], "ramen": []}
        for rep in range(args.reps):
            order = ["plain", "ramen"] if rep % 2 == 0 else ["ramen", "plain"]
            result = {}
            for side in order:
                if side == "plain":
                    result[side] = run_plain(model, data, work, args.steps, accel)
                else:
                    result[side] = run_ramen(model, data, work, args.steps, rep)
            (ps, pl, pt), (rs, rl, rt) = result["plain"], result["ramen"]
            assert len(pt) == len(rt) == args.steps
            step_times["plain"].append(pt)
            step_times["ramen"].append(rt)
            plain = completions(work / "plain" / "rewards.jsonl")
            mine = completions(work / "runs" / f"bench{rep}" / "train" / "rewards.jsonl")
            same = sum(a == b for a, b in zip(plain, mine, strict=True))
            print(f"rep {rep}: the same completions in {same} of {len(plain)} rollouts "
                  "(all: the two loops did the same work)")  # fmt: skip
            ratios.append(ps / rs)  # same steps: steps/s ratio = inverse time ratio
            loop_ratios.append(pl / rl)
            print(
                f"rep {rep}: plain {args.steps} steps in {ps:.1f} s ({args.steps / ps:.2f} "
                f"steps/s); ramen in {rs:.1f} s ({args.steps / rs:.2f} steps/s); ratio "
                f"{ps / rs:.3f} (training loop only: {pl:.1f} s vs {rl:.1f} s, ratio {pl / rl:.3f})"
            )
    print(
        f"ramen/plain steps/s over the whole launch: median {statistics.median(ratios):.3f}; "
        f"training loop only: median {statistics.median(loop_ratios):.3f} ({args.reps} reps, "
        f"{args.steps} steps, 1 prompt x 8 rollouts, tiny:strong full GRPO, 1 process on CPU)"
    )
    # every rep of both sides did the same rollouts (checked above), so step i is the same work
    # each time: its fastest time over the reps is its cost with this machine's stalls left out
    best = {side: [min(s) for s in zip(*times, strict=True)] for side, times in step_times.items()}
    print(
        f"ramen/plain steps/s from each step's fastest time over the {args.reps} reps: "
        f"{sum(best['plain']) / sum(best['ramen']):.3f} (plain {sum(best['plain']):.1f} s, "
        f"ramen {sum(best['ramen']):.1f} s for the {args.steps} steps)"
    )
    print(
        f"reproduce: .venv/bin/python benchmarks/grpo_overhead.py --steps {args.steps} "
        f"--reps {args.reps}"
    )


if __name__ == "__main__":
    main()
