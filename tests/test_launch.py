"""`ramen launch` rendering, resources and `ramen status`, without a scheduler (the real-SLURM
run is tests/test_slurm.py)."""

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, ramen

from ramen.cluster import Allocation
from ramen.launch.recipe import load_recipe
from ramen.launch.slurm import ahead_job, plan_job

BIG = ROOT / "recipes" / "qwen3-235b-dpo.yaml"


def dry_run(tmp_path: Path, recipe: Path, *overrides: str) -> tuple[str, Path]:
    proc = ramen("launch", str(recipe), *overrides, "--backend", "slurm", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    name = load_recipe(recipe, list(overrides)).name
    return proc.stdout, tmp_path / "runs" / name / "launch"


@pytest.mark.slow
def test_235b_dry_run_renders_valid_scripts_with_multinode_training_and_replicas(tmp_path):
    out, launch_dir = dry_run(tmp_path, BIG)
    scripts = sorted(launch_dir.glob("*.sbatch"))
    assert {p.stem for p in scripts} >= {"filter", "sample", "grade", "train", "evaluate"}
    for script in scripts:
        check = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert check.returncode == 0, f"{script.name}: {check.stderr}"
    train = (launch_dir / "train.sbatch").read_text()
    assert "#SBATCH --nodes=5" in train and "#SBATCH --gpus-per-node=8" in train
    # GPU stages take whole nodes: every CPU and all memory (not the cluster's default share)
    for name in ("train", "sample", "filter", "evaluate"):
        lines = (launch_dir / f"{name}.sbatch").read_text().splitlines()
        assert "#SBATCH --exclusive" in lines and "#SBATCH --mem=0" in lines, name
    select = (launch_dir / "select.sbatch").read_text()
    assert "--exclusive" not in select and "--mem" not in select  # a CPU stage shares a node
    assert "export RAMEN_CPUS_PER_TASK=" in train.splitlines()
    # near the time limit a training job asks for a checkpoint and waits for it, then requeues
    request = tmp_path / "runs" / "qwen3-235b-dpo" / "train" / "checkpoint-request"
    assert f"  touch {request}" in train.splitlines() and "trap requeue USR1" in train
    assert "touch" not in (launch_dir / "sample.sbatch").read_text()
    assert "#SBATCH --partition=gpu" in train and "#SBATCH --time=48:00:00" in train
    assert "--machine_rank $SLURM_PROCID --main_process_ip $RAMEN_HEAD" in train
    assert "srun --ntasks=5 --kill-on-bad-exit=1" in train
    assert "40 in all, deepspeed zero3" in train
    assert 'TORCH_NCCL_ASYNC_ERROR_HANDLING="${TORCH_NCCL_ASYNC_ERROR_HANDLING:-1}"' in train
    # zero3_offload's CPU Adam is built once by the job before the ranks start
    build = next(line for line in train.splitlines() if "CPUAdamBuilder" in line)
    assert train.index(build) < train.index("ramen.launch.cli run")
    assert "CPUAdamBuilder" not in sample_script(launch_dir)
    # GPU jobs run with the hub offline (the models job checked the cache), CPU jobs do not
    assert 'export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"' in train.splitlines()
    assert "HF_HUB_OFFLINE" not in select
    # the 235B sampler fits one node at tensor parallel 8: one replica per node, no Ray
    sample = (launch_dir / "sample.sbatch").read_text()
    assert "#SBATCH --nodes=5" in sample and "#SBATCH --ntasks-per-node=1" in sample
    assert "RAY" not in sample and "--distributed-executor-backend" not in sample
    assert "# sampler fits one node: 5 independent vLLM replicas (5 node(s) x 1" in sample
    assert "--tensor-parallel-size 8 --pipeline-parallel-size 1" in sample
    # the training data is rendered by a CPU job before the GPU job, which waits for it
    ahead = (launch_dir / "train.ahead.sbatch").read_text()
    assert ahead.rstrip().splitlines()[-8].endswith("--stages train --ahead &")
    assert "--gpus-per-node" not in ahead and "#SBATCH --cpus-per-task=16" in ahead
    assert "--exclusive" not in ahead and "HF_HUB_OFFLINE" not in ahead
    assert "--dependency=afterok:<pairs>:<models> " + str(launch_dir / "train.ahead.sbatch") in out
    assert "--dependency=afterok:<pairs>:<models>:<train.ahead> " in out
    # dependencies: each stage after what it reads (and after `models`)
    assert "--dependency=afterok:<pairs>:<models>" in out
    assert "--dependency=afterok:<filter>:<balance>:<decontaminate>:<models>" in out


@pytest.mark.slow
def test_a_model_wider_than_a_node_runs_over_ray_with_slurm_addresses(tmp_path):
    _, launch_dir = dry_run(tmp_path, BIG, "models.sampler.pipeline_parallel=2")
    sample = (launch_dir / "sample.sbatch").read_text()
    check = subprocess.run(["bash", "-n", "-c", sample], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert '"$RAY" start --head' in sample and "RAY_ADDRESS" in sample
    assert (
        "--pipeline-parallel-size 2 " in sample and "--distributed-executor-backend ray" in sample
    )
    assert "#SBATCH --nodes=2" in sample  # tp 8 x pp 2 = two nodes of 8 GPUs
    # Ray's head and workers take their addresses from SLURM's node names, never `hostname`
    assert "$(hostname" not in sample and "hostname --ip-address" not in sample
    assert 'HEAD_IP="$("$PY" -m ramen.cluster address)"' in sample
    assert '--exclude="$RAMEN_HEAD"' in sample and "--node-ip-address=" in sample
    # the judge beside it in the evaluate job: replicas on the Ray job's 2 nodes
    evaluate = (launch_dir / "evaluate.sbatch").read_text()
    assert "# judge fits one node: 4 independent vLLM replicas (2 node(s) x 2" in evaluate


def sample_script(launch_dir: Path) -> str:
    return (launch_dir / "sample.sbatch").read_text()


@pytest.mark.unit
def test_the_cpu_adam_build_line_calls_deepspeeds_own_builder():
    """The line the train job runs before its ranks (launch/slurm.py BUILD_CPU_ADAM) names
    DeepSpeed's real builder and its `load` (run here on CPU: 55 s the first time, then
    nothing: the ranks load the built op)."""
    import inspect
    import re

    from deepspeed.ops.op_builder import CPUAdamBuilder

    from ramen.launch.slurm import BUILD_CPU_ADAM

    code = re.search(r"-c '([^']+)'", BUILD_CPU_ADAM).group(1)
    assert code.startswith("from deepspeed.ops.op_builder import CPUAdamBuilder;")
    assert "verbose" in inspect.signature(CPUAdamBuilder().load).parameters
    compile(code, "<BUILD_CPU_ADAM>", "exec")


@pytest.mark.unit
def test_stage_resources_follow_the_recipe():
    r = load_recipe(BIG)
    assert plan_job(r, "select").kind == "cpu" and plan_job(r, "select").gpus_per_node == 0
    f = plan_job(r, "filter")  # 30B and the 32B judge at tp 4: two replicas per 8-GPU node
    assert (f.nodes, f.tasks_per_node, f.ray) == (5, 2, False)  # every node of launch.nodes
    s = plan_job(r, "sample")  # the 235B at tp 8: one replica on each node
    assert (s.nodes, s.tasks_per_node, s.ray) == (5, 1, False)
    t = plan_job(r, "train")
    assert (t.kind, t.nodes, t.tasks_per_node) == ("train", 5, 1)
    r2 = load_recipe(BIG, ["launch.cpu_partition=cpu", "models.sampler.pipeline_parallel=2"])
    assert plan_job(r2, "pairs").partition == "cpu"
    s2 = plan_job(r2, "sample")  # wider than a node: one replica over 2 nodes of Ray
    assert (s2.nodes, s2.tasks_per_node, s2.ray) == (2, 1, True)
    # a GPU train stage's data is rendered by a CPU job ahead of it, on the CPU partition
    ahead = ahead_job(r2, plan_job(r2, "train"))
    assert (ahead.kind, ahead.gpus_per_node, ahead.partition, ahead.cpus) == ("cpu", 0, "cpu", 16)
    assert (ahead.name, ahead.stage) == ("train.ahead", "train")
    assert ahead_job(r2, plan_job(r2, "pairs")) is None
    off = load_recipe(BIG, ["launch.render_ahead=false"])
    assert ahead_job(off, plan_job(off, "train")) is None
    cpu_only = load_recipe(BIG, ["launch.gpus_per_node=0", "launch.render_cpus=4"])
    assert ahead_job(cpu_only, plan_job(cpu_only, "train")) is None  # it renders in its job
    forced = load_recipe(BIG, ["launch.gpus_per_node=0", "launch.render_ahead=true"])
    assert ahead_job(forced, plan_job(forced, "train")) is not None
    r3 = load_recipe(BIG, ["models.sampler.tensor_parallel=16", "launch.nodes=3"])
    assert (plan_job(r3, "sample").nodes, plan_job(r3, "sample").ray) == (2, True)


@pytest.mark.slow
def test_recipe_values_render_inertly(tmp_path):
    marker = tmp_path / "pwned"
    evil = f"$(touch {marker}); `touch {marker}`"
    out, launch_dir = dry_run(
        tmp_path,
        BIG,
        "launch.partition=gpu; rm -rf ~",
        f"launch.account={evil}",
        f"launch.env.EVIL={evil}",
    )
    train = (launch_dir / "train.sbatch").read_text()
    assert "#SBATCH --partition='gpu; rm -rf ~'" in train
    export = next(line for line in train.splitlines() if line.startswith("export EVIL="))
    shown = subprocess.run(
        ["bash", "-c", f'{export}; printf %s "$EVIL"'], capture_output=True, text=True
    )
    assert shown.stdout == evil  # the value arrives as text
    # sbatch reads #SBATCH lines, bash skips them: run the whole header part through bash
    header = "\n".join(line for line in train.splitlines() if line.startswith(("#", "export E")))
    subprocess.run(["bash", "-c", header], check=True)
    assert not marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "override, key",
    [
        ("launch.partition=gpu\nrm -rf ~", "launch.partition"),
        ("launch.extra_sbatch=[exclusive]", "launch.extra_sbatch"),
        ("launch.env={'A B': x}", "launch.env"),
        ("launch.mem=lots", "launch.mem"),
    ],
)
def test_bad_launch_values_exit_2_naming_the_key(tmp_path, override, key):
    proc = ramen("launch", str(BIG), override, "--dry-run", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert key in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.unit
def test_allocation_from_the_job_environment():
    assert Allocation.from_environ({}) is None
    env = {"SLURM_JOB_ID": "7", "RAMEN_NODES": "3", "RAMEN_GPUS_PER_NODE": "8"}
    alloc = Allocation.from_environ(env)
    assert alloc.replicas_per_node(4) == 2 and alloc.replicas_per_node(16) == 0
    cmd = alloc.srun(2, check=False)
    assert "--ntasks=6" in cmd and "--ntasks-per-node=2" in cmd and "--kill-on-bad-exit=1" in cmd
    emulated = Allocation.from_environ({**env, "RAMEN_EMULATED": "1", "RAMEN_NODES": "2"})
    assert "--nodes=1" in emulated.srun(1, check=False)
    # every step passes its CPUs (SLURM 22.05+ steps do not inherit the job's per-task CPUs):
    # the node's shared by its tasks, or the recipe's launch.cpus_per_task
    assert not [c for c in cmd if c.startswith("--cpus-per-task")]  # unknown: srun's default
    node = Allocation.from_environ({**env, "SLURM_CPUS_ON_NODE": "96"})
    assert "--cpus-per-task=48" in node.srun(2, check=False)
    assert "--cpus-per-task=96" in node.srun(1, check=False)
    set_by_recipe = Allocation.from_environ({**env, "SLURM_CPUS_ON_NODE": "96",
                                             "RAMEN_CPUS_PER_TASK": "16"})  # fmt: skip
    assert "--cpus-per-task=16" in set_by_recipe.srun(2, check=False)
    two_on_one = Allocation.from_environ(
        {**env, "RAMEN_EMULATED": "1", "RAMEN_NODES": "2", "SLURM_CPUS_ON_NODE": "2"}
    )
    assert "--cpus-per-task=1" in two_on_one.srun(1, check=False)


@pytest.mark.unit
def test_a_nodes_address_comes_from_slurm_or_the_named_interface():
    from ramen.cluster import node_address, set_node_address

    assert node_address({"SLURMD_NODENAME": "localhost"}) == "127.0.0.1"
    assert node_address({"RAMEN_NET_IFACE": "lo", "SLURMD_NODENAME": "nowhere.invalid"}) == (
        "127.0.0.1"
    )
    with pytest.raises(RuntimeError, match="launch.network_interface 'nope0'"):
        node_address({"RAMEN_NET_IFACE": "nope0"})
    env = {"SLURMD_NODENAME": "localhost"}
    set_node_address(env)
    assert env["VLLM_HOST_IP"] == "127.0.0.1"
    env = {"SLURMD_NODENAME": "localhost", "VLLM_HOST_IP": "10.0.0.7"}
    set_node_address(env)  # the site's own setting wins
    assert env["VLLM_HOST_IP"] == "10.0.0.7"


@pytest.mark.unit
def test_replicas_bind_their_own_gpus(monkeypatch):
    from ramen.inference.shard_worker import bind_gpus

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert bind_gpus(1, 4, 8) == "4,5,6,7"
    assert bind_gpus(0, 1, 0) is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert bind_gpus(1, 1, 2) == "5"
    with pytest.raises(SystemExit):
        bind_gpus(1, 2, 2)


ROWS_ONLY = """
name: rows
seed: 0
data:
  sources: [{path: "bundled:problems.jsonl", licence: cc0-1.0}]
  allow_licences: [cc0-1.0]
  clean: {max_question_tokens: null}
"""


@pytest.mark.e2e
def test_local_backend_runs_each_stage_as_a_process_like_ramen_run(tmp_path):
    recipe = tmp_path / "rows.yaml"
    recipe.write_text(ROWS_ONLY)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    launched = ramen("launch", str(recipe), "--backend", "local", cwd=a)
    assert launched.returncode == 0, launched.stdout + launched.stderr
    assert ramen("run", str(recipe), cwd=b, check=True).returncode == 0
    for stage in ("prepare", "clean", "dedup", "decontaminate"):
        ma = json.loads((a / "runs/rows" / stage / "manifest.json").read_text())
        mb = json.loads((b / "runs/rows" / stage / "manifest.json").read_text())
        assert ma["output_hash"] == mb["output_hash"], stage
        assert (a / "runs/rows/launch/logs" / f"{stage}.log").exists()
    status = ramen("status", str(a / "runs/rows"), "--json", check=True)
    rows = json.loads(status.stdout)
    assert [r["state"] for r in rows] == ["done"] * 4
    again = ramen("launch", str(recipe), "--backend", "local", cwd=a, check=True)
    assert "nothing to launch" in again.stdout  # finished stages are not submitted again


@pytest.mark.slow
def test_status_shows_incomplete_failed_and_not_started(tmp_path):
    run = tmp_path / "runs" / "x"
    (run / "launch").mkdir(parents=True)
    (run / "a").mkdir()
    (run / "a" / "manifest.json").write_text(json.dumps({"done": True, "finished_at": "t"}))
    (run / "b" / "parts").mkdir(parents=True)  # killed mid-stage
    dead = subprocess.Popen(["true"])
    dead.wait()
    jobs = {
        "a": {"backend": "local", "pid": os.getpid()},
        "b": {"backend": "local", "pid": dead.pid},
        "c": {"backend": "local", "pid": dead.pid},
    }
    (run / "launch" / "jobs.json").write_text(json.dumps(jobs))
    rows = {r["stage"]: r["state"] for r in json.loads(ramen("status", str(run), "--json").stdout)}
    assert rows == {"a": "done", "b": "incomplete", "c": "not started"}
    assert ramen("status", str(tmp_path / "nope")).returncode == 2


@pytest.mark.unit
def test_status_of_slurm_jobs_from_a_machine_without_squeue(tmp_path, monkeypatch):
    from ramen.launch import launcher

    run = tmp_path / "runs" / "x"
    (run / "launch").mkdir(parents=True)
    (run / "launch" / "jobs.json").write_text(
        json.dumps({"a": {"backend": "slurm", "job_id": "7"}})
    )
    monkeypatch.setattr(launcher.shutil, "which", lambda name: None)
    rows = launcher.stage_states(run)
    assert rows[0]["state"] == "submitted" and "squeue" in rows[0]["detail"]


@pytest.mark.unit
def test_status_of_a_job_ahead_of_a_stage_comes_from_its_folder(tmp_path, monkeypatch):
    from ramen.launch import launcher

    run = tmp_path / "runs" / "x"
    (run / "launch").mkdir(parents=True)
    jobs = {
        "train": {"backend": "slurm", "job_id": "8"},
        "train.ahead": {"backend": "slurm", "job_id": "7", "ahead_of": "train"},
    }
    (run / "launch" / "jobs.json").write_text(json.dumps(jobs))
    monkeypatch.setattr(launcher.shutil, "which", lambda name: None)
    rows = {r["stage"]: r for r in launcher.stage_states(run)}
    assert [*rows] == ["train.ahead", "train"]  # listed before the stage it serves
    assert rows["train.ahead"]["state"] == "submitted"  # no queue to ask, nothing written
    (run / "train" / "ahead").mkdir(parents=True)
    (run / "train" / "ahead" / "ahead.json").write_text("{}")
    row = launcher.stage_states(run)[0]
    assert row["state"] == "done" and "ready for the stage" in row["detail"]


@pytest.mark.slow
def test_relaunching_the_recorded_recipe_copy(tmp_path):
    recipe = tmp_path / "rows.yaml"
    recipe.write_text(ROWS_ONLY)
    ramen("launch", str(recipe), "--backend", "local", cwd=tmp_path, check=True)
    copy = tmp_path / "runs" / "rows" / "launch" / "recipe.yaml"
    again = ramen("launch", str(copy), "--backend", "local", cwd=tmp_path, check=True)
    assert "nothing to launch" in again.stdout


@pytest.mark.slow
def test_every_cluster_value_reaches_the_script(tmp_path):
    _, launch_dir = dry_run(
        tmp_path,
        BIG,
        "launch.account=proj",
        "launch.qos=high",
        "launch.constraint=h100",
        "launch.mem=1900G",
        "launch.cpus_per_task=96",
        "launch.cpu_partition=cpu",
        "launch.extra_sbatch=[--exclusive, --reservation=llm week]",
        "launch.setup=[module load cuda/12.4]",
        "launch.python=/shared/venv/bin/python",
        "launch.cpu_replicas_per_node=3",
        "launch.requeue=false",
        "launch.network_interface=ib0",
    )
    train = (launch_dir / "train.sbatch").read_text()
    for line in (
        "#SBATCH --account=proj",
        "#SBATCH --qos=high",
        "#SBATCH --constraint=h100",
        "#SBATCH --mem=1900G",
        "#SBATCH --cpus-per-task=96",
        "#SBATCH --exclusive",
        "#SBATCH --reservation='llm week'",
        "module load cuda/12.4",
        "PY=/shared/venv/bin/python",
        "export RAMEN_CPU_REPLICAS=3",
        "export RAMEN_NET_IFACE=ib0",
        "export NCCL_SOCKET_IFNAME=ib0",
        "export GLOO_SOCKET_IFNAME=ib0",
    ):
        assert line in train.splitlines(), line
    assert "--requeue" not in train and "trap requeue" not in train
    assert train.splitlines().count("#SBATCH --exclusive") == 1  # once: the recipe asked too
    assert "#SBATCH --mem=0" not in train.splitlines()  # the recipe's launch.mem wins
    assert "#SBATCH --partition=cpu" in (launch_dir / "select.sbatch").read_text()


@pytest.mark.unit
def test_a_launched_runs_hub_models_must_be_in_the_cache_before_any_gpu_job(tmp_path, monkeypatch):
    """In a SLURM run the `models` job (a CPU node) checks every hub model against the local
    Hugging Face cache: a missing snapshot is one line naming the model and the command that
    fetches it, found before a GPU job starts to load it."""
    from huggingface_hub import constants

    from ramen.errors import UserError
    from ramen.launch.models import check_hub_snapshot, is_hub_id

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(UserError) as err:
        check_hub_snapshot("sampler", "Qwen/Qwen3-235B-A22B-Thinking-2507", None)
    message = str(err.value)
    assert message.startswith("models.sampler.path: 'Qwen/Qwen3-235B-A22B-Thinking-2507'")
    assert "`hf download Qwen/Qwen3-235B-A22B-Thinking-2507`" in message and "\n" not in message
    # a snapshot in the cache, laid out as huggingface_hub lays it out, is found
    repo = tmp_path / "hub" / "models--Qwen--Qwen3-235B-A22B-Thinking-2507"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "config.json").write_text("{}")
    got = check_hub_snapshot("sampler", "Qwen/Qwen3-235B-A22B-Thinking-2507", None)
    assert got == str(repo / "snapshots" / "abc123")
    assert is_hub_id("Qwen/Qwen3-32B") and not is_hub_id("tiny:strong")
    assert not is_hub_id(str(tmp_path)) and not is_hub_id("./models/mine")


@pytest.mark.unit
def test_the_models_job_reads_every_benchmark_before_the_gpu_jobs(tmp_path, monkeypatch):
    """GPU jobs run with the hub offline, so the `models` job reads every benchmark the
    evaluation names: a local file is read, a hub set that is not in the cache (here: the hub
    offline, an empty cache) stops the chain in one line naming the benchmark and the fix."""
    import datasets.config

    from ramen.errors import UserError
    from ramen.launch.models import check_benchmarks

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf" / "datasets")
    local = load_recipe(ROOT / "recipes" / "tiny.yaml", [f"workdir={tmp_path}"])
    assert check_benchmarks(local) == [b.name for b in local.evaluation.benchmarks]
    hub = load_recipe(BIG, [f"workdir={tmp_path}"])
    with pytest.raises(UserError) as err:
        check_benchmarks(hub)
    message = str(err.value)
    assert message.startswith("cannot load benchmark 'hle' from the hub (cais/hle)"), message
    assert "load_dataset('cais/hle', split='test')" in message and "\n" not in message


@pytest.mark.slow
def test_the_models_job_reads_the_benchmarks_with_the_line_it_renders(tmp_path):
    """The models job's benchmark line (launch/slurm.py), run as the job runs it: the tiny
    recipe's bundled sets are read; the 235B recipe's hub sets, with the hub offline and an
    empty cache, stop the job with exit 2 and one line naming the benchmark."""
    import sys

    for recipe, code, says in (
        (ROOT / "recipes" / "tiny.yaml", 0, "benchmarks readable: hle, do_not_answer, qa"),
        (BIG, 2, "error: cannot load benchmark 'hle' from the hub (cais/hle)"),
    ):
        (tmp_path / recipe.stem).mkdir()
        _, launch_dir = dry_run(tmp_path / recipe.stem, recipe)
        script = (launch_dir / "models.sbatch").read_text()
        (line,) = [x for x in script.splitlines() if "ramen.launch.models benchmarks" in x]
        env = {**os.environ, "PY": sys.executable, "HF_HUB_OFFLINE": "1",
               "HF_HOME": str(tmp_path / "hf")}  # fmt: skip
        proc = subprocess.run(
            ["bash", "-c", line], capture_output=True, text=True, env=env, cwd=ROOT
        )
        assert proc.returncode == code, proc.stdout + proc.stderr
        out = (proc.stdout + proc.stderr).strip().splitlines()
        assert out[-1].startswith(says), out
