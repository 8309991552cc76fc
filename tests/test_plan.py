"""`ramen plan` (issue 34): the model states are DeepSpeed's own estimates, the shapes the
published parameter counts, and the gate refuses what cannot fit in one line with the fix."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ramen.launch.recipe import load_recipe
from ramen.planning.shapes import meta_model, param_counts, shape_of
from ramen.planning.training import _deepspeed, zero_estimate

ROOT = Path(__file__).resolve().parent.parent
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))


@pytest.mark.unit
@pytest.mark.parametrize("preset", ["zero3", "zero3_offload", "zero2"])
@pytest.mark.parametrize("size", [(235_093_634_560, 2_415_919_104, 8, 3), (7.6e9, 0.54e9, 8, 1),
                                  (30_532_122_624, 603_979_776, 4, 2)])  # fmt: skip
def test_model_states_are_deepspeeds_estimate(preset, size):
    total, largest, gpn, nodes = size
    gpu, host = zero_estimate(total, largest, gpn, nodes, preset)
    if preset == "zero2":
        cpu, want = _deepspeed("stage_1_and_2").estimate_zero2_model_states_mem_needs(
            total, num_gpus_per_node=gpn, num_nodes=nodes, cpu_offload=False
        )
    else:
        offload = preset == "zero3_offload"
        cpu, want, _ = _deepspeed("stage3").estimate_zero3_model_states_mem_needs(
            total, largest, num_gpus_per_node=gpn, num_nodes=nodes, cpu_offload=offload,
            cpu_offload_params=offload, zero_init=True,
        )  # fmt: skip
    assert (gpu, host) == (want, cpu)


@pytest.mark.unit
def test_the_issue_numbers_for_full_235b_on_three_nodes():
    """zero3 on 3 x 8 GPUs: 18 bytes per parameter sharded + the largest layer gathered; with
    offload, DeepSpeed's 1.5 buffer on 18 bytes per parameter per node."""
    shape = shape_of("Qwen/Qwen3-235B-A22B-Thinking-2507")
    gpu, _ = zero_estimate(shape.total_params, shape.largest_layer_params, 8, 3, "zero3")
    assert gpu == 4 * shape.largest_layer_params + int(18 * shape.total_params / 24)
    _, host = zero_estimate(shape.total_params, shape.largest_layer_params, 8, 3, "zero3_offload")
    assert round(host / 1e9) == round(18 * shape.total_params / 3 * 1.5 / 1e9)  # 2,116 GB


SMALL = {  # a small Qwen3-MoE with tied embeddings: shared parameters must count once
    "model_type": "qwen3_moe", "hidden_size": 64, "intermediate_size": 128,
    "moe_intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "head_dim": 16, "num_experts": 8, "num_experts_per_tok": 2,
    "vocab_size": 500, "tie_word_embeddings": True,
}  # fmt: skip


@pytest.mark.unit
def test_parameters_are_counted_as_deepspeed_counts_them():
    """On an allocated model DeepSpeed's own model_to_params and the meta-device count
    agree, a tied embedding counted once."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("cpu"):
        real = AutoModelForCausalLM.from_config(meta_model(SMALL).config)
    total, largest = _deepspeed("stage3").model_to_params(real)
    counted = param_counts(meta_model(SMALL))
    assert counted[:2] == (total, largest)
    experts = sum(p.numel() for n, p in real.named_parameters() if ".experts." in n)
    assert counted[2] == experts > 0


@pytest.mark.unit
@pytest.mark.parametrize(
    "path, total, active",
    [  # the model cards' figures: total parameters and parameters active per token
        ("Qwen/Qwen3-235B-A22B-Thinking-2507", 235e9, 22e9),
        ("Qwen/Qwen3-30B-A3B-Thinking-2507", 30.5e9, 3.3e9),
        ("Qwen/Qwen3-32B", 32.8e9, 32.8e9),
        ("Qwen/Qwen3-4B-Thinking-2507", 4.0e9, 4.0e9),
        ("openai/gpt-oss-120b", 116.83e9, 5.13e9 + 201_088 * 2880),  # card: active w/o embedding
    ],
)
def test_shapes_give_the_published_parameter_counts(path, total, active):
    shape = shape_of(path)
    assert abs(shape.total_params - total) / total < 0.02
    assert abs(shape.active_params - active) / active < 0.03


def _plan(recipe_path, *overrides):
    from ramen.launch.stages import STAGES
    from ramen.planning.plan import plan

    return plan(load_recipe(recipe_path, list(overrides)), STAGES)


@pytest.mark.slow
def test_every_shipped_recipe_fits_its_own_cluster():
    for recipe in RECIPES:
        result = _plan(recipe)
        assert not result.errors(), (recipe.name, [c.message for c in result.errors()])
        gpu = load_recipe(recipe).launch.gpus_per_node
        train = [s for s in result.stages if s.stage.startswith("train")]
        assert train and all(s.gpu for s in train), recipe.name
        if gpu:  # a GPU recipe's training peak is under its GPU and reported by part
            limit = load_recipe(recipe).plan.gpu_memory_gb * 1e9
            assert all(0 < s.gpu_peak <= limit for s in train), recipe.name
            assert json.dumps(result.to_json())  # --json serialises


@pytest.mark.slow
@pytest.mark.parametrize(
    "recipe, overrides, where, says",
    [
        ("light-r1-sft", ["training.deepspeed=zero3", "launch.nodes=3", "training.args.max_length=32768"],
         "training.deepspeed", "use zero3_offload, lora, or launch.nodes >="),
        ("qwen3-235b-dpo", ["training.args={learning_rate: 5.0e-7, per_device_train_batch_size: 1}"],
         "training.args.max_length", "max_length is unset, so the longest row sets it, up to 65,536"),
        ("qwen3-30b-grpo", ["training.args.vllm_tensor_parallel_size=1"],
         "training.args.vllm_tensor_parallel_size", "set vllm_tensor_parallel_size to 4 or more"),
        ("qwen3-235b-dpo", ["models.sampler.tensor_parallel=1", "models.sampler.pipeline_parallel=1"],
         "models.sampler.tensor_parallel", "use 7 GPUs or more per replica"),
        ("qwen3-235b-dpo", ["launch.nodes=3"], "plan.host_memory_gb", "2,743 GB of host memory"),
        ("qwen3-235b-dpo", ["launch.mem=1800G"], "launch.mem", "over the 1,800 GB granted"),
    ],
)  # fmt: skip
def test_a_stage_that_cannot_fit_is_refused_with_the_key_and_the_fix(
    recipe, overrides, where, says
):
    errors = _plan(ROOT / "recipes" / f"{recipe}.yaml", *overrides).errors()
    assert errors and errors[0].where == where and says in errors[0].message, errors


@pytest.mark.slow
def test_validate_refuses_the_old_light_r1_settings_in_one_line_and_accepts_the_fixed_recipe():
    recipe = str(ROOT / "recipes" / "light-r1-sft.yaml")
    old = ["training.deepspeed=zero3", "launch.nodes=3", "training.args.max_length=32768"]
    cli = [sys.executable, "-m", "ramen.launch.cli", "validate", recipe]
    bad = subprocess.run([*cli, *old], capture_output=True, text=True)
    assert bad.returncode == 2
    lines = (bad.stdout + bad.stderr).strip().splitlines()
    assert len(lines) == 1 and "training.deepspeed: zero3 needs 186 GB per GPU" in lines[0]
    good = subprocess.run(cli, capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr


@pytest.mark.slow
@pytest.mark.parametrize("method", ["sft", "dpo"])
@pytest.mark.parametrize("checkpointing", [False, True])
def test_the_simulated_step_is_within_10_percent_of_a_real_one(tmp_path, method, checkpointing):
    """Calibration on CPU: the plan's activation peak for the tiny model against the same
    tracker measuring a real step of the trainer the train stage builds (training/run.py's
    config and trainer class, TRL's fused LM head), at 1,024 tokens."""
    import datasets
    import torch
    from torch.distributed._tools.mem_tracker import MemTracker
    from transformers import AutoTokenizer

    from ramen.planning.training import simulate
    from ramen.testing import tiny
    from ramen.training.handoff import TrainerSpec
    from ramen.training.run import _dpo_trainer, build_config

    length, path = 1024, str(tiny.model_path("strong"))
    spec = TrainerSpec(
        name="calibration", method=method, model=path, data="", data_source="",
        out_dir=str(tmp_path), checkpoints=str(tmp_path / "ckpt"), seed=0, report_to=["none"],
        gpu=False, dtype="float32", trust_remote_code=False, reference="model", lora=None,
        deepspeed=None,
        args={"per_device_train_batch_size": 1, "max_length": length, "max_steps": 1,
              "gradient_checkpointing": checkpointing},
    )  # fmt: skip
    config = build_config(spec, None)
    if method == "sft":
        from trl import SFTTrainer as Trainer

        rows = [{"input_ids": [5] * length, "completion_mask": [0] * 8 + [1] * (length - 8)}]
    else:
        Trainer = _dpo_trainer()  # noqa: N806 - a class
        rows = [{"prompt_ids": [5] * 8, "chosen_ids": [6] * (length - 8),
                 "rejected_ids": [7] * (length - 8)}]  # fmt: skip
    trainer = Trainer(
        model=path, args=config, train_dataset=datasets.Dataset.from_list(rows),
        processing_class=AutoTokenizer.from_pretrained(path),
    )  # fmt: skip
    model = trainer.model
    if checkpointing:  # as Trainer.train() turns it on
        model.gradient_checkpointing_enable(config.gradient_checkpointing_kwargs)
    model.train()
    trainer.current_gradient_accumulation_steps = 1
    batch = next(iter(trainer.get_train_dataloader()))
    tracker = MemTracker()
    tracker.track_external(model)
    with tracker:
        trainer.training_step(model, batch)
    peak = {
        str(k).rsplit(".", 1)[-1]: v
        for k, v in next(iter(tracker.get_tracker_snapshot("peak").values())).items()
    }
    measured = peak["ACT"] + peak["TEMP"]
    planned = simulate(
        shape_of("tiny:strong"),
        2 if method == "dpo" else 1,
        length,
        checkpointing,
        method,
        "float32",
    ).peak_bytes
    assert torch.get_default_dtype() == torch.float32  # the simulation restores it
    assert abs(planned - measured) / measured < 0.10, (planned, measured)


@pytest.mark.slow
def test_each_gpu_recipes_plan_line_is_what_ramen_plan_says():
    """The `# Plan (ramen plan):` header line of every shipped GPU recipe is current
    (`scripts/plan_summaries.py --write` rewrites them)."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "plan_summaries.py")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_the_prepared_gpu_script_runs_its_cases_on_cpu(tmp_path):
    """benchmarks/gpu/plan_vs_measured.py, small shapes on CPU: every case planned and
    measured, and the simulation within 10% of the real step."""
    import os

    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu" / "plan_vs_measured.py"),
         "--device", "cpu", "--small"],
        capture_output=True, text=True, env={**os.environ, "OUT": str(tmp_path)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reproduce: python" in proc.stdout
    rows = json.loads((tmp_path / "plan_vs_measured.json").read_text())
    assert len(rows) == 3 and all(0.9 < r["ratio"] < 1.1 for r in rows), rows
    # the one device call that runs it with the other GPU checks parses
    run = ROOT / "benchmarks" / "gpu" / "run.sh"
    check = subprocess.run(["bash", "-n", str(run)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


@pytest.mark.unit
@pytest.mark.parametrize(
    "mem, gb", [(None, 2000.0), ("0", 2000.0), ("500G", 500.0), ("2T", 2000.0), ("1000000", 1000.0)]
)
def test_host_memory_per_node_reads_slurms_units(mem, gb):
    """`launch.mem` in SLURM's units (megabytes without one; 0 = the whole node, so the plan's
    assumption)."""
    from ramen.planning.plan import _host_limit

    recipe = load_recipe(
        ROOT / "recipes" / "qwen3-235b-dpo.yaml", [f"launch.mem={mem}"] if mem else []
    )
    assert _host_limit(recipe) == gb * 1e9


@pytest.mark.unit
def test_generation_is_planned_as_the_launch_places_it():
    """On SLURM a model that fits one node runs one replica per node (or per group of its GPUs
    on a node), as launch/slurm.py renders it; only a model wider than a node spans nodes over
    Ray. The KV-cache arithmetic: Qwen3-235B-A22B at TP 8 holds 58.8 GB of bf16 weights per
    GPU; at 0.95 of 80 GB, less the 4 GB reserve, 13.2 GB are left for the KV cache, at 94
    layers x 1 KV head per GPU (4 heads over 8 GPUs, replicated) x 128 x 2 (K, V) x 2 bytes =
    48,128 bytes a token: 274,821 tokens, 4 sequences of 65,536; an fp8 KV cache halves the
    bytes a token."""
    from ramen.launch.stages import STAGES
    from ramen.planning.plan import plan

    sample = [s for s in STAGES if s.name == "sample"]
    notes = _plan_notes(plan(load_recipe(ROOT / "recipes" / "qwen3-235b-dpo.yaml"), sample))
    assert "sampler: 5 x TP8 (40 GPUs)" in notes["devices"]
    assert (
        "sampler: KV cache holds 274,821 tokens per replica = 4 sequences at max_model_len "
        "65,536, 20 over 5 replicas" in notes["notes"]
    )
    assert "sampler: 5 independent vLLM replicas (5 node(s) x 1)" in notes["notes"]
    assert "at most 4 full-length sequences decode at once" in notes["notes"]
    fp8 = ["models.sampler.engine.args={kv_cache_dtype: fp8}"]
    notes = _plan_notes(plan(load_recipe(ROOT / "recipes" / "qwen3-235b-dpo.yaml", fp8), sample))
    assert "549,642 tokens per replica = 8 sequences" in notes["notes"]
    wide = ["models.sampler.pipeline_parallel=2", "models.sampler.gpu_memory_utilization=0.9"]
    notes = _plan_notes(plan(load_recipe(ROOT / "recipes" / "qwen3-235b-dpo.yaml", wide), sample))
    assert "sampler: 1 x TP8xPP2 (16 GPUs)" in notes["devices"]
    assert (
        "sampler would fit one node at tensor_parallel 8 without pipeline parallel: 5 replicas "
        "(one per node, no Ray) of 2 sequences at max_model_len each (10 at once over 40 GPUs), "
        "against 24 at once over 16 GPUs here" in notes["notes"]
    )
    local = plan(
        load_recipe(ROOT / "recipes" / "qwen3-235b-dpo.yaml", ["launch.backend=local"]), sample
    )
    assert (
        "sampler: 1 x TP8 (8 GPUs)" in _plan_notes(local)["devices"]
    )  # one server, data_parallel 1


def _plan_notes(p) -> dict[str, str]:
    (row,) = p.stages
    return {"devices": row.devices, "notes": "\n".join(row.notes)}


@pytest.mark.unit
def test_the_process_group_waits_as_long_as_the_consolidated_save_takes(tmp_path):
    """Full-parameter ZeRO-3: the other ranks wait in a collective while rank 0 writes the
    16-bit save; 3 x that write at plan.disk_write_gb_per_s, never under torch's 1,800 s.
    The 235B's 470 GB at 0.5 GB/s: 2,820 s, which `ramen plan` prints; the train stage counts
    the parameters in the base's safetensors headers."""
    from ramen.training.stage import collective_timeout, collective_timeout_s

    assert collective_timeout_s(470e9, 0.5) == 2820  # 3 x 940 s
    assert collective_timeout_s(1e9, 0.5) == 1800  # never under torch's default
    notes = "\n".join(_plan(ROOT / "recipes" / "qwen3-235b-dpo.yaml").stages[3].notes)
    assert (
        "collectives wait 2,822 s for the save (training.args.ddp_timeout, set by the stage"
        in notes
    )
    import torch
    from safetensors.torch import save_file

    folder = tmp_path / "base"
    folder.mkdir()
    save_file(
        {"a": torch.zeros(1000, 300), "b": torch.zeros(7)}, str(folder / "model-1.safetensors")
    )
    save_file({"c": torch.zeros(2, 3, 5)}, str(folder / "model-2.safetensors"))
    params = 1000 * 300 + 7 + 30
    slow = load_recipe(ROOT / "recipes" / "tiny-moe.yaml", ["plan.disk_write_gb_per_s=1.0e-6"])
    got = collective_timeout(slow, slow.training.steps()[0], str(folder))
    assert (
        got == {"ddp_timeout": collective_timeout_s(2 * params, 1e-6)} and got["ddp_timeout"] > 1800
    )
    given = load_recipe(ROOT / "recipes" / "tiny-moe.yaml", ["training.args.ddp_timeout=600"])
    assert collective_timeout(given, given.training.steps()[0], str(folder)) == {}
