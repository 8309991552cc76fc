"""The architectures users train, one trainer at a time on CPU: ZeRO-3 on an MoE over 2 processes against 1
(and its resume after SIGKILL), GRPO on an MoE with the grader as reward. The recipes through
every stage: tests/test_architectures_e2e.py."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import RAMEN, ROOT, ramen

from ramen.testing import tiny


def _sft_recipe(tmp_path: Path, name: str, processes: int, batch: int, steps: int) -> Path:
    from ramen.bundled import resolve_bundled

    rows = []
    for r in map(json.loads, open(resolve_bundled("bundled:problems.jsonl"))):
        if r.get("question") and r.get("answer"):
            rows.append({"messages": [
                {"role": "user", "content": r["question"]},
                {"role": "assistant", "content": f"<think>\nwork it out\n</think>\n\nAnswer: {r['answer']}"},
            ]})  # fmt: skip
    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows[:64]))
    recipe = tmp_path / f"{name}.yaml"
    recipe.write_text(
        f"""
name: {name}
seed: 0
workdir: {tmp_path / "runs"}
models:
  moe: {{path: "tiny:moe", dtype: float32, max_model_len: 1024}}
training:
  method: sft
  base: moe
  data: {data}
  deepspeed: zero3
  processes: {processes}
  args: {{max_steps: {steps}, per_device_train_batch_size: {batch}, learning_rate: 1.0e-4,
         save_steps: 4, data_seed: 0}}
"""
    )
    return recipe


def _losses(stage: Path) -> list[float]:
    rows = [json.loads(x) for x in (stage / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in sorted(rows, key=lambda r: r["step"]) if "loss" in r]


@pytest.mark.slow
@pytest.mark.timeout(20 * 60)
def test_zero3_on_two_processes_matches_one_and_resumes_after_sigkill(tmp_path):
    """The same global batch (2 x 4 rows, or 1 x 8) from the same order: the 2-process loss
    curve equals the 1-process one within 0.1% per step (TRL normalises the loss over the
    global batch's tokens; measured here: 7e-7, float sums in another order). The 2-process
    run is SIGKILLed after its first checkpoint and resumes from it."""
    steps = 10
    one = _sft_recipe(tmp_path, "one", processes=1, batch=8, steps=steps)
    ramen("run", str(one), check=True)
    two = _sft_recipe(tmp_path, "two", processes=2, batch=4, steps=steps)
    stage = tmp_path / "runs" / "two" / "train"
    proc = subprocess.Popen(
        [*RAMEN, "run", str(two)], cwd=ROOT, start_new_session=True,
        env={**os.environ, "RAMEN_NO_PROGRESS": "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 600
    while not (stage / "checkpoints" / "checkpoint-4" / "trainer_state.json").is_file():
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint at step 4"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (stage / "manifest.json").exists()
    ramen("run", str(two), check=True)
    log = (stage / "train.log").read_text()
    assert "ramen: resuming from" in log
    assert "rank 1/2 trained DeepSpeedEngine (deepspeed zero stage 3)" in log
    a, b = _losses(tmp_path / "runs" / "one" / "train"), _losses(stage)
    assert len(a) == len(b) == steps
    for step, (x, y) in enumerate(zip(a, b, strict=True), start=1):
        assert abs(x - y) <= 1e-3 * abs(x), (step, a, b)


@pytest.mark.slow
@pytest.mark.timeout(15 * 60)
def test_grpo_runs_on_the_moe_with_the_grader_as_reward(tmp_path):
    from ramen.bundled import resolve_bundled

    rows = [
        r
        for r in map(json.loads, open(resolve_bundled("bundled:problems.jsonl")))
        if r.get("category") == "number_theory"
    ][:4]
    data = tmp_path / "problems.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = tmp_path / "grpo.yaml"
    recipe.write_text(
        f"""
name: grpo
seed: 0
workdir: {tmp_path}/runs
models:
  moe: {{path: "tiny:moe", dtype: float32, max_model_len: 1024}}
training:
  method: grpo
  base: moe
  data: {data}
  lora: {{r: 8, alpha: 16, dropout: 0.0}}
  args: {{learning_rate: 1.0e-3, max_steps: 4, per_device_train_batch_size: 4,
         num_generations: 4, max_completion_length: 48, beta: 0.0}}
"""
    )
    ramen("run", str(recipe), check=True)
    stage = tmp_path / "runs" / "grpo" / "train"
    logged = [json.loads(x) for x in (stage / "rewards.jsonl").read_text().splitlines()]
    assert sorted({r["step"] for r in logged}) == [0, 1, 2, 3]
    assert {r["reward"] for r in logged} <= {0.0, 1.0, None} and any(r["reward"] for r in logged)
    stats = json.loads((stage / "stats.json").read_text())
    assert sorted(stats["lora_adapted"]["adapted"]) == ["attention", "experts", "router"]


@pytest.mark.slow
@pytest.mark.timeout(10 * 60)
def test_an_mxfp4_gpt_oss_trains_only_dequantized(tmp_path):
    """gpt-oss ships its experts in MXFP4 (tests/mxfp4.py writes the tiny one that way). Without
    training.dequantize the train stage stops in one line before a process loads it; with it,
    the trainer loads the experts dequantized (the exact e2m1 x 2^e values) and trains, and the
    saved model is a plain one the next stage and vLLM load. (transformers 5.19 saves a model
    loaded that way without its experts unless ramen resets the save layout: ramen/export.py
    plain_layout.)"""
    import torch
    from mxfp4 import write_mxfp4_copy
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    quantized = tmp_path / "oss-mxfp4"
    expected = write_mxfp4_copy(tiny.model_path("oss"), quantized)
    rows = [
        {"messages": [
            {"role": "user", "content": f"What is {a} + 2?"},
            {"role": "assistant", "thinking": f"{a}+2={a + 2}", "content": f"Answer: {a + 2}"},
        ]}
        for a in range(8)
    ]  # fmt: skip
    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = tmp_path / "q.yaml"
    recipe.write_text(
        f"""
name: q
workdir: {tmp_path / "runs"}
models:
  oss: {{path: "{quantized}", dtype: bfloat16, max_model_len: 1024}}
training:
  method: sft
  base: oss
  data: {data}
  args: {{max_steps: 2, per_device_train_batch_size: 4, learning_rate: 1.0e-5}}
"""
    )
    refused = ramen("run", str(recipe))
    assert refused.returncode == 2
    line = [x for x in refused.stderr.splitlines() if x.strip()]
    assert len(line) == 1 and line[0].startswith("error: training.dequantize: models.oss"), line
    assert "mxfp4-quantized" in line[0] and "set training.dequantize: true" in line[0]
    ramen("run", str(recipe), "training.dequantize=true", check=True)
    stage = tmp_path / "runs" / "q" / "train"
    spec = json.loads((stage / "spec.json").read_text())
    assert spec["dequantize"]["quant_method"] == "mxfp4" and spec["dequantize"]["dequantize"]
    # the trainer started from exactly the dequantized experts: 2 steps at lr 1e-5 move them
    # by far less than a quantization step, and the saved model is plain (no blocks or scales)
    saved = load_file(stage / "model" / "model.safetensors")
    assert not [k for k in saved if k.endswith(("_blocks", "_scales"))]
    for name, want in expected.items():
        got = saved[name].to(torch.float32)
        assert (got - want.float()).abs().max() < 1e-3, name
    config = json.loads((stage / "model" / "config.json").read_text())
    assert "quantization_config" not in config
    AutoModelForCausalLM.from_pretrained(stage / "model")  # loads as a plain gpt-oss
    # LoRA on the quantized base: the merge loads it dequantized too and keeps every expert
    ramen("run", str(recipe), "training.dequantize=true",
          "training.lora={r: 4, alpha: 8, dropout: 0.0}", check=True)  # fmt: skip
    merged = load_file(stage / "merged" / "model.safetensors")
    for name, want in expected.items():
        assert merged[name].shape == want.shape, name
        assert (merged[name].float() - want.float()).abs().max() < 1e-3, name  # experts frozen
