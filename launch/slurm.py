"""Rendering a recipe's stages as sbatch scripts: resources per stage, the job script, the
`sbatch` command lines that chain them with `--dependency=afterok`.

Every value that comes from the recipe or the command line is shell-quoted (`shlex.quote`),
and the recipe refuses values with newlines or control characters (launch/config.py), so a
recipe value can never become a shell command. The one exception is `launch.setup`: those
lines are the recipe author's own shell code (module loads, container set-up) and run as
written.

A job runs `ramen run RECIPE --stages STAGE` on the first node of its allocation, with the
allocation described in RAMEN_* variables (ramen/cluster.py). The stage itself fans out:
training through `srun` + ramen.training.node, generation through `srun` + ramen.inference.shard_worker.
A model larger than a node gets a Ray cluster over the allocation first; vLLM then runs with
pipeline parallel on it (`--distributed-executor-backend ray`).
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ramen.cluster import GPU_JOB_DEFAULTS, NCCL_DEFAULTS, Allocation, generation_layout
from ramen.inference.server import VLLMServer
from ramen.launch.recipe import Recipe, round_recipe
from ramen.launch.stages import STAGES
from ramen.spec import ModelSpec
from ramen.stage import TRAIN_STAGE_NAMES, split_round
from ramen.training.handoff import CHECKPOINT_REQUEST
from ramen.training.node import node_command


def _stage(name: str):

    return next((s for s in STAGES if s.name == name), None)


def generates(stage: str) -> bool:
    """Whether a stage serves models with vLLM (its declaration names them)."""
    found = _stage(stage)
    return found is not None and found.models is not None


def stage_models(recipe: Recipe, stage: str) -> list[tuple[str, ModelSpec]]:
    """The models a stage serves with vLLM (name, spec), from its declaration."""
    found = _stage(stage)
    names = found.models(recipe) if found is not None and found.models is not None else []
    seen = found.recipe_of(recipe) if found is not None else recipe  # a round's own models
    return [(n, seen.models[n]) for n in dict.fromkeys(names) if n is not None]


@dataclass(frozen=True)
class Job:
    """The allocation of one stage's job."""

    stage: str
    kind: str  # "cpu" | "train" | "generate"
    nodes: int  # machines the stage uses (emulated ones included)
    tasks_per_node: int
    gpus_per_node: int
    partition: str | None
    ray: bool = False  # a model spans nodes: start a Ray cluster over the allocation
    ahead: bool = False  # `ramen run --ahead` of the stage: its CPU part, before its GPU job
    cpus: int | None = None  # --cpus-per-task, when the job's own (else launch.cpus_per_task)

    @property
    def name(self) -> str:
        """The job's name among a launch's jobs (its script, log and jobs.json entry)."""
        return f"{self.stage}{AHEAD_SUFFIX}" if self.ahead else self.stage

    def sbatch_shape(self, emulate: bool) -> list[str]:
        if emulate and self.nodes > 1:
            return ["--nodes=1", f"--ntasks={self.nodes * self.tasks_per_node}"]
        return [f"--nodes={self.nodes}", f"--ntasks-per-node={self.tasks_per_node}"]


def plan_job(recipe: Recipe, stage: str) -> Job:
    launch = recipe.launch
    gpus = launch.gpus_per_node
    if stage.startswith("train"):
        return Job(stage, "train", launch.nodes, 1, gpus, launch.partition)
    if generates(stage):
        sizes = [m.tensor_parallel * m.pipeline_parallel for _, m in stage_models(recipe, stage)]
        if not gpus:
            per_node = launch.cpu_replicas_per_node
            return Job(stage, "generate", launch.nodes, max(1, per_node), 0, launch.partition)
        # the widest model sets the shape: one Ray replica over nodes, else replicas per node
        layout = generation_layout(max(sizes, default=1), gpus, launch.nodes)
        tasks = 1 if layout.ray else max((layout.per_node(s) for s in sizes), default=1)
        return Job(stage, "generate", layout.nodes, tasks, gpus, launch.partition, layout.ray)
    return Job(stage, "cpu", 1, 1, 0, launch.cpu_partition or launch.partition)


AHEAD_SUFFIX = ".ahead"  # train.ahead.sbatch: the train stage's rendering, before train.sbatch


def ahead_job(recipe: Recipe, job: Job) -> Job | None:
    """The CPU job that renders a train stage's data before its GPU job (`launch.render_ahead`,
    by default for train stages with GPUs), on the CPU partition with `launch.render_cpus`."""
    launch = recipe.launch
    if job.kind != "train":
        return None
    wanted = launch.render_ahead if launch.render_ahead is not None else job.gpus_per_node > 0
    if not wanted:
        return None
    partition = launch.cpu_partition or launch.partition
    return Job(job.stage, "cpu", 1, 1, 0, partition, ahead=True, cpus=launch.render_cpus)


def _q(value: object) -> str:
    return shlex.quote(str(value))


def sbatch_header(recipe: Recipe, job: Job, log_dir: Path) -> list[str]:
    launch = recipe.launch
    opts = [
        f"--job-name={_q(f'ramen-{recipe.name}-{job.name}')}",
        f"--output={_q(log_dir / f'{job.name}-%j.out')}",
        "--open-mode=append",  # a requeued job appends to the same log
        *job.sbatch_shape(launch.emulate_nodes),
    ]
    if job.gpus_per_node:
        opts.append(f"--gpus-per-node={job.gpus_per_node}")
    whole = whole_nodes(recipe, job)
    if whole and "--exclusive" not in launch.extra_sbatch:
        opts.append("--exclusive")
    for flag, value in (
        ("cpus-per-task", job.cpus or launch.cpus_per_task),
        ("mem", launch.mem if launch.mem is not None else ("0" if whole else None)),
        ("partition", job.partition),
        ("account", launch.account),
        ("qos", launch.qos),
        ("time", launch.time),
        ("constraint", launch.constraint),
    ):
        if value is not None:
            opts.append(f"--{flag}={_q(value)}")
    if launch.requeue:
        opts += ["--requeue", "--signal=B:USR1@300"]
    opts += [_q_option(o) for o in launch.extra_sbatch]
    return [f"#SBATCH {o}" for o in opts]


def whole_nodes(recipe: Recipe, job: Job) -> bool:
    """Whether a stage's job asks for whole nodes: `launch.exclusive`, by default its GPU
    stages (their ranks, DeepSpeed's CPU optimizer and model loading need every CPU and all
    memory; a cluster's default is often one CPU and a few GB per CPU)."""
    launch = recipe.launch
    return launch.exclusive if launch.exclusive is not None else job.gpus_per_node > 0


def _q_option(option: str) -> str:
    """`--name=value` with the value quoted; a bare flag as it is."""
    name, sep, value = option.partition("=")
    return f"{_q(name)}{sep}{_q(value)}" if sep else _q(option)


RAY_BLOCK = """\
# A model larger than one node: a Ray cluster over the allocation; vLLM runs pipeline
# parallel on it (ramen starts it with --distributed-executor-backend ray, waits for
# /health, then the stage's clients use it).
RAY={ray}
# the head's address from its SLURM node name (or launch.network_interface), not `hostname`
HEAD_IP="$("$PY" -m ramen.cluster address)"
export VLLM_HOST_IP="${{VLLM_HOST_IP:-$HEAD_IP}}"
RAY_PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])')"
"$RAY" start --head --node-ip-address="$HEAD_IP" --port="$RAY_PORT" --num-gpus={gpus} --disable-usage-stats
trap '"$RAY" stop --force >/dev/null 2>&1 || true' EXIT
if [ "$RAMEN_NODES" -gt 1 ]; then
  # each worker joins with its own address (and vLLM's), SLURM's node list minus the head
  srun --nodes=$((RAMEN_NODES - 1)) --ntasks=$((RAMEN_NODES - 1)) --ntasks-per-node=1 \\
    --exclude="$RAMEN_HEAD" --overlap --kill-on-bad-exit=1 \\
    bash -c 'ip="$("$0" -m ramen.cluster address)"; export VLLM_HOST_IP="$ip"; \\
      exec "$1" start --address="$2" --node-ip-address="$ip" --num-gpus={gpus} --block' \\
    "$PY" "$RAY" "$HEAD_IP:$RAY_PORT" &
fi
export RAY_ADDRESS="$HEAD_IP:$RAY_PORT"
"$PY" - <<'WAIT_FOR_RAY'
import os, sys, time
import ray
want, deadline = int(os.environ["RAMEN_NODES"]), time.time() + 600
ray.init(address=os.environ["RAY_ADDRESS"], logging_level="ERROR")
while sum(n["Alive"] for n in ray.nodes()) < want:
    if time.time() > deadline:
        sys.exit(f"ray: only {{sum(n['Alive'] for n in ray.nodes())}} of {{want}} nodes joined in 600 s")
    time.sleep(5)
print(f"ray: {{want}} nodes up", flush=True)
WAIT_FOR_RAY
"""

REQUEUE_TRAP = """\
# Pre-emption or the time limit (USR1, 300 s before): requeue; the stage resumes from its
# stored samples or its last checkpoint.
requeue() { echo "ramen: requeueing job $SLURM_JOB_ID"; scontrol requeue "$SLURM_JOB_ID"; }
trap requeue USR1
"""

# A training job first asks the trainer for a checkpoint (it saves at its next step end and
# removes the file), waits for it at most CHECKPOINT_WAIT_S of the 300 s, then requeues.
CHECKPOINT_WAIT_S = 240
TRAIN_REQUEUE_TRAP = """\
# Pre-emption or the time limit (USR1, 300 s before): ask the trainer for a checkpoint
# (training.checkpoint_every also saves on time), wait for it, then requeue; the requeued job
# resumes from the newest checkpoint.
requeue() {{
  echo "ramen: time limit near: asking for a checkpoint before requeueing job $SLURM_JOB_ID"
  touch {request}
  for _ in $(seq {wait}); do [ -e {request} ] || break; sleep 1; done
  scontrol requeue "$SLURM_JOB_ID"
}}
trap requeue USR1
"""

RUN_BLOCK = """\
{command} &
RAMEN_PID=$!
while true; do
  STATUS=0
  wait "$RAMEN_PID" || STATUS=$?
  if kill -0 "$RAMEN_PID" 2>/dev/null; then continue; fi  # woken by a signal, still running
  exit "$STATUS"
done
"""


def _comment(cmd: list[str]) -> str:
    return "#   " + " ".join(cmd)


def _train_step(recipe: Recipe, job: Job) -> Any:
    name, round_ = split_round(job.stage)
    return round_recipe(recipe, round_).training.steps()[TRAIN_STAGE_NAMES.index(name)]


# DeepSpeed compiles its CPU Adam (the optimizer of `zero3_offload`) at first use, in every
# rank, into the shared extension cache: 40 ranks wait on one lock there, or build against
# another CUDA after a `module load`. The job builds it once on its first node, in the job's
# own environment, before any rank starts; the ranks then load the built op (a DeepSpeed
# installed with DS_BUILD_CPU_ADAM=1 has it prebuilt, and this returns at once).
BUILD_CPU_ADAM = """\
# DeepSpeed's CPU Adam (zero3_offload's optimizer), built once here before the ranks start
"$PY" -c 'from deepspeed.ops.op_builder import CPUAdamBuilder; CPUAdamBuilder().load(verbose=False)'
echo "ramen: DeepSpeed CPU Adam ready"
"""


def _training_comment(recipe: Recipe, job: Job, python: str) -> list[str]:
    """The multi-node training commands the stage runs (exactly: the same functions build
    them), shown here; the stage writes spec.json and accelerate.yaml first."""

    step = _train_step(recipe, job)
    stage_dir = recipe.run_dir.resolve() / job.stage
    config, spec = stage_dir / "accelerate.yaml", stage_dir / "spec.json"
    alloc = Allocation(nodes=job.nodes, emulated=recipe.launch.emulate_nodes)
    srun = ["srun", *alloc.srun(1, check=False)[1:]]
    node = [python, "-m", "ramen.training.node", str(config), str(spec), str(stage_dir)]
    accel = node_command(config, spec, "$SLURM_PROCID", "$RAMEN_HEAD", "$RAMEN_HEAD_PORT")
    accel[0] = python
    return [
        f"# Training on {job.nodes} machines x {step.processes} processes "
        f"({job.nodes * step.processes} in all, deepspeed {step.deepspeed or 'off'}). The stage",
        "# writes spec.json and accelerate.yaml (num_machines, num_processes, the DeepSpeed",
        "# config), then starts one task per machine:",
        _comment([*srun, *node]),
        "# and each task runs (training/node.py; its log: train.rank<R>.log):",
        _comment(accel),
    ]


def _vllm_comment(recipe: Recipe, job: Job) -> list[str]:

    out = []
    for name, spec in stage_models(recipe, job.stage):
        if spec.tensor_parallel * spec.pipeline_parallel <= job.gpus_per_node:
            continue
        cmd = VLLMServer(spec, spec.path, name).command(ray=True, gpu=True)
        cmd[0] = "$PY"
        cmd[cmd.index("--port") + 1] = "PORT"  # a free one, chosen when the stage starts
        out += [
            f"# {name} spans {spec.pipeline_parallel} nodes: the stage starts it on this Ray "
            "cluster, waits for",
            "# its /health (engine.startup_timeout_s) and points the stage's clients at it:",
            _comment(cmd),
        ]
    return out


def _replicas_comment(recipe: Recipe, job: Job) -> list[str]:
    """What a GPU generation job runs for each model that fits one node: independent replicas
    (ramen/inference/sampling.py fan_out), no Ray."""
    out = []
    for name, spec in stage_models(recipe, job.stage):
        size = spec.tensor_parallel * spec.pipeline_parallel
        per_node = job.gpus_per_node // size
        if not per_node:  # wider than a node: the Ray block above
            continue
        cmd = VLLMServer(spec, spec.path, name).command(ray=False, gpu=True)
        cmd[0] = "$PY"
        cmd[cmd.index("--port") + 1] = "PORT"
        out += [
            f"# {name} fits one node: {job.nodes * per_node} independent vLLM replicas "
            f"({job.nodes} node(s) x {per_node}, {size} GPU(s) each);",
            "# the stage starts them with one `srun` task each, each generating its share of the",
            "# requests into the stage's store (no Ray, nothing crosses nodes). Each runs:",
            _comment(cmd),
        ]
    return out


def ramen_command(
    python: str, recipe_file: Path, overrides: list[str], stage: str, ahead: bool = False
) -> str:
    return " ".join(
        _q(x)
        for x in [
            python,
            "-m",
            "ramen.launch.cli",
            "run",
            recipe_file,
            *overrides,
            "--stages",
            stage,
            *(["--ahead"] if ahead else []),
        ]
    )


def render_script(
    recipe: Recipe,
    job: Job,
    *,
    recipe_file: Path,
    overrides: list[str],
    workdir: Path,
    log_dir: Path,
    python: str | None = None,
) -> str:
    launch = recipe.launch
    python = python or launch.python or sys.executable
    what = (
        f"the CPU part of stage '{job.stage}' (its data rendered and tokenized for its GPU job)"
        if job.ahead
        else f"stage '{job.stage}'"
    )
    lines = [
        "#!/bin/bash",
        f"# ramen {what} of recipe '{recipe.name}' (recipe hash "
        f"{recipe.hash()[:12]}), rendered by `ramen launch`. Submitted with --dependency=afterok",
        "# on the stages it reads; rerunning it resumes (finished stages are skipped).",
        *sbatch_header(recipe, job, log_dir),
        "set -euo pipefail",
        f"cd {_q(workdir)}",
    ]
    if launch.setup:
        lines += ["# launch.setup (the recipe's own shell lines)", *launch.setup]
    lines.append(f"PY={_q(python)}")
    if launch.env:
        lines.append("# launch.env")
        lines += [f"export {k}={_q(v)}" for k, v in launch.env.items()]
    if job.kind != "cpu":
        lines.append("# NCCL: errors abort instead of hanging (the environment's own values win)")
        lines += [f'export {k}="${{{k}:-{v}}}"' for k, v in NCCL_DEFAULTS.items()]
        lines += [
            "# the hub offline: the models job found every model and benchmark in the local cache",
            *(f'export {k}="${{{k}:-{v}}}"' for k, v in GPU_JOB_DEFAULTS.items()),
        ]
        if launch.network_interface:
            lines.append("# launch.network_interface: NCCL and Gloo talk over it")
            lines += [
                f"export {k}={_q(launch.network_interface)}"
                for k in ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME")
            ]
    lines += [
        "# the allocation, for the stage's fan-out (ramen/cluster.py)",
        f"export RAMEN_NODES={job.nodes}",
        f"export RAMEN_EMULATED={int(launch.emulate_nodes and job.nodes > 1)}",
        f"export RAMEN_GPUS_PER_NODE={job.gpus_per_node}",
        f"export RAMEN_CPU_REPLICAS={launch.cpu_replicas_per_node}",
        # the CPUs each `srun` task of the stage gets (empty: a share of the node's)
        f"export RAMEN_CPUS_PER_TASK={launch.cpus_per_task or ''}",
        f"export RAMEN_NET_IFACE={_q(launch.network_interface or '')}",
        'export RAMEN_HEAD="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"',
        'export RAMEN_HEAD_PORT="$("$PY" -c \'import socket; s=socket.socket(); '
        's.bind(("", 0)); print(s.getsockname()[1])\')"',
    ]
    if job.ray:
        ray = Path(python).parent / "ray"
        lines += RAY_BLOCK.format(ray=_q(ray), gpus=job.gpus_per_node).splitlines()
        lines += _vllm_comment(recipe, job)
    if job.kind == "generate" and job.gpus_per_node:
        lines += _replicas_comment(recipe, job)
    if job.kind == "train" and job.nodes > 1:
        lines += _training_comment(recipe, job, python)
    if (
        job.kind == "train"
        and job.gpus_per_node
        and _train_step(recipe, job).deepspeed == "zero3_offload"
    ):
        lines += BUILD_CPU_ADAM.splitlines()
    command = ramen_command("$PY", recipe_file, overrides, job.stage, job.ahead).replace(
        "'$PY'", '"$PY"'
    )
    if launch.requeue and job.kind == "train":
        request = recipe.run_dir.resolve() / job.stage / CHECKPOINT_REQUEST
        lines += TRAIN_REQUEUE_TRAP.format(request=_q(request), wait=CHECKPOINT_WAIT_S).splitlines()
    elif launch.requeue:
        lines += REQUEUE_TRAP.splitlines()
    if job.stage == "models" and recipe.evaluation is not None:
        # every benchmark the evaluation reads, read once here: a hub set is cached for the GPU
        # jobs, which run with the hub offline, or the chain stops now in one line
        check = ["-m", "ramen.launch.models", "benchmarks", recipe_file, *overrides]
        lines.append('"$PY" ' + " ".join(_q(x) for x in check))
    lines += RUN_BLOCK.format(command=command).splitlines()
    return "\n".join(lines) + "\n"


def sbatch_command(script: Path, after: list[str]) -> list[str]:
    """The sbatch argv: `--parsable` prints the job id; a failed dependency cancels this job."""
    cmd = ["sbatch", "--parsable", "--kill-on-invalid-dep=yes"]
    if after:
        cmd.append("--dependency=afterok:" + ":".join(after))
    return [*cmd, str(script)]
