"""The `launch:` section of a recipe: where stages run (this machine, or SLURM jobs) and every
cluster value the sbatch scripts need. Nothing about a cluster is hard-coded in ramen."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from ramen.errors import RecipeError
from ramen.spec import StrictModel
from ramen.stage import MAX_ROUNDS

# A recipe value that lands in a script must be one line of printable text: a newline would
# start a new shell line (values are shell-quoted as well, see launch/slurm.py).
_ONE_LINE = re.compile(r"^[^\x00-\x1f\x7f]*$")


def _one_line(value: str | None, what: str) -> str | None:
    if value is not None and not _ONE_LINE.match(value):
        raise ValueError(f"{what} must be one line without control characters")
    return value


class LaunchConfig(StrictModel):
    backend: Literal["local", "slurm"] = Field(
        default="local",
        description="`local`: stages as processes on this machine; `slurm`: one sbatch job per "
        "stage, chained with `--dependency=afterok` (`ramen launch`).",
    )
    nodes: int = Field(
        default=1,
        ge=1,
        description="Nodes (machines) for the multi-node stages: training runs one `accelerate "
        "launch` per node, generation one vLLM replica per node or per group of GPUs.",
    )
    gpus_per_node: int = Field(default=0, ge=0, description="GPUs per node (0 = CPU nodes).")
    cpus_per_task: int | None = Field(
        default=None,
        ge=1,
        description="`--cpus-per-task` of every job and of the `srun` steps ramen starts in it "
        "(null: jobs get the cluster's default, or the whole node with `exclusive`, and each "
        "`srun` task an equal share of the node's CPUs, passed explicitly: recent SLURM no "
        "longer hands a job's CPUs per task down to its steps).",
    )
    mem: str | None = Field(
        default=None,
        pattern=r"^[0-9]+[KMGTkmgt]?$",
        description="`--mem` per node in SLURM's form, e.g. `500G` (megabytes without a unit; "
        "0 = the whole node; null = 0 for jobs that get whole nodes, else the cluster's "
        "default). The plan checks host memory against it (`ramen plan`: host per node).",
    )
    exclusive: bool | None = Field(
        default=None,
        description="Request whole nodes (`--exclusive`, and `--mem=0` unless `mem` says): "
        "null = yes for GPU stages (8 ranks, DeepSpeed's CPU Adam and hundreds of GB of "
        "weights loading need the node's CPUs and memory, not a default share), no for CPU "
        "stages.",
    )
    partition: str | None = Field(default=None, description="SLURM partition of the GPU stages.")
    cpu_partition: str | None = Field(
        default=None,
        description="Partition of the stages that need no GPU (prepare, clean, select, pairs, "
        "report...); null = `partition`.",
    )
    render_ahead: bool | None = Field(
        default=None,
        description="Render and tokenize each train stage's data in a CPU job before its GPU "
        "job (`ramen run --ahead`, on `cpu_partition`, `render_cpus` worker processes), so "
        "the GPUs start on ready data: null = yes for train stages with GPUs.",
    )
    render_cpus: int = Field(
        default=16,
        ge=1,
        description="`--cpus-per-task` of that CPU job; rendering runs one worker process per "
        "CPU it gets (training/render.py, at most 32).",
    )
    account: str | None = Field(default=None, description="SLURM account.")
    qos: str | None = Field(default=None, description="SLURM quality of service.")
    time: str | None = Field(
        default=None, description="SLURM time limit per job, e.g. `24:00:00` (null = default)."
    )
    constraint: str | None = Field(default=None, description="SLURM node constraint.")
    extra_sbatch: list[str] = Field(
        default_factory=list,
        description="Extra sbatch options, one per item, e.g. `--exclusive` or `--reservation=x`.",
    )
    setup: list[str] = Field(
        default_factory=list,
        description="Shell lines every job runs first, as written (module loads, `source "
        "venv/bin/activate`, container set-up). They are the recipe author's own shell code.",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variables every job exports (shell-quoted), e.g. `HF_HOME: "
        "/shared/hf`. Secrets belong in the cluster environment, not here.",
    )
    python: str | None = Field(
        default=None,
        description="Python that runs ramen in the jobs (null = the one running `ramen launch`; "
        "it must exist on the compute nodes, e.g. on a shared filesystem).",
    )
    requeue: bool = Field(
        default=True,
        description="Ask SLURM to requeue a job that is pre-empted or about to hit its time "
        "limit; the stage resumes where it stopped (`--requeue`, `--signal=B:USR1@300`).",
    )
    emulate_nodes: bool = Field(
        default=False,
        description="Run the `nodes` machines as tasks on one real node, the head on loopback "
        "(for testing multi-node training on a one-node cluster).",
    )
    network_interface: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="The network interface the nodes reach each other on (e.g. `ib0`, "
        "`eth0`): exported as NCCL_SOCKET_IFNAME and GLOO_SOCKET_IFNAME, and each node's "
        "address (VLLM_HOST_IP, Ray's node address) is read from it. null = the address SLURM's "
        "name for the node resolves to.",
    )
    cpu_replicas_per_node: int = Field(
        default=1,
        ge=1,
        description="vLLM replicas per node of a generation stage on CPU nodes (on GPU nodes: "
        "gpus_per_node / (tensor_parallel x pipeline_parallel)).",
    )

    @field_validator("partition", "cpu_partition", "account", "qos", "time", "constraint", "mem")
    @classmethod
    def _line(cls, v: str | None, info) -> str | None:
        return _one_line(v, info.field_name)

    @field_validator("extra_sbatch")
    @classmethod
    def _options(cls, items: list[str]) -> list[str]:
        for item in items:
            _one_line(item, "each extra_sbatch item")
            if not item.startswith("-"):
                raise ValueError(f"'{item}' is not an sbatch option (e.g. --exclusive)")
        return items

    @field_validator("setup")
    @classmethod
    def _setup(cls, lines: list[str]) -> list[str]:
        for line in lines:
            _one_line(line, "each setup line")
        return lines

    @field_validator("env")
    @classmethod
    def _env(cls, env: dict[str, str]) -> dict[str, str]:
        for key, value in env.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValueError(f"'{key}' is not an environment variable name")
            _one_line(value, f"env.{key}")
        return env


class RoundsConfig(StrictModel):
    """`rounds:`: on-policy rounds. Round 1 is the recipe's pipeline; each later round samples
    with the previous round's trained model, grades, selects, builds its sets, trains and
    evaluates again (stages `sample@2`, `train@2`, ...; launch/rounds.py)."""

    count: int = Field(
        ge=2,
        le=MAX_ROUNDS,
        description=f"Rounds in all, round 1 included (2-{MAX_ROUNDS}). Round r's stages are named "
        "`<stage>@r`.",
    )
    train_from: Literal["previous", "base"] = Field(
        default="previous",
        description="What round r trains from: `previous` (round r-1's trained model, which is "
        "also the DPO reference) or `base` (`training.base` again, e.g. with keep_earlier).",
    )
    keep_earlier: bool = Field(
        default=False,
        description="Round r's pairs and SFT set hold the earlier rounds' rows too (each row's "
        "`meta.round` says which), so it trains on the accumulated data.",
    )
    refilter: bool = Field(
        default=False,
        description="Round r runs the difficulty filter again with round r-1's model (drops what "
        "it already solves); false: the round-1 filter's problems are sampled again.",
    )
    set: dict[int, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-round changes of `curation.*` and `training.*` keys, e.g. `{2: "
        "{curation.sample.n: 8, training.args.learning_rate: 5.0e-4}}`. A change reruns "
        "that round's stages only.",
    )

    @field_validator("set", mode="before")
    @classmethod
    def _flatten(cls, changes: Any) -> Any:
        """`{2: {curation: {sample: {n: 8}}}}` (nested, as a command-line override writes it)
        is `{2: {curation.sample.n: 8}}`; `training.args` stays one value when given whole."""
        if not isinstance(changes, dict):
            return changes

        def flat(node: Any, prefix: str) -> dict[str, Any]:
            if not isinstance(node, dict) or not node or prefix in ("training.args",):
                return {prefix: node}
            out: dict[str, Any] = {}
            for key, value in node.items():
                out.update(flat(value, f"{prefix}.{key}" if prefix else str(key)))
            return out

        return {
            r: flat(keys, "") if isinstance(keys, dict) else keys for r, keys in changes.items()
        }

    @field_validator("set")
    @classmethod
    def _set(cls, changes: dict[int, dict[str, Any]], info) -> dict[int, dict[str, Any]]:
        count = info.data.get("count")
        for r, keys in changes.items():
            if r < 2 or (count is not None and r > count):
                raise ValueError(
                    f"round {r} is not a later round (2..{count}); round 1 is the recipe itself"
                )
            for key in keys:
                if not key.startswith(("curation.", "training.")):
                    raise ValueError(
                        f"set.{r}: '{key}' is not a curation.* or training.* key (evaluation and "
                        "data stay the same in every round, so rounds compare)"
                    )
        return changes

    def check(self, recipe: Any) -> None:
        """Rounds repeat sampling and training, so the recipe needs both; and each later
        round's recipe (the recipe with `set`'s changes) is valid, or one line names the key."""
        if recipe.curation is None or recipe.curation.sample is None or recipe.training is None:
            raise RecipeError(
                "rounds repeat sampling and training: the recipe needs curation.sample and "
                "training",
                where="rounds",
            )
        for r in range(2, self.count + 1):
            recipe.round_recipe(r)


class PlanConfig(StrictModel):
    """What `ramen plan` assumes about the cluster; the plan prints every value it used."""

    gpu_memory_gb: float = Field(
        default=80.0, gt=0, description="Memory of one GPU, in GB (80: an H100 or A100 80GB)."
    )
    host_memory_gb: float = Field(
        default=2000.0,
        gt=0,
        description="Host memory of one node, in GB, when `launch.mem` does not say (2000: a "
        "typical 8-GPU node).",
    )
    gpu_tflops: float = Field(
        default=989.0, gt=0, description="Dense bf16 TFLOP/s of one GPU (989: an H100 SXM)."
    )
    mfu: float = Field(
        default=0.3,
        gt=0,
        le=1,
        description="Training's model FLOPs utilisation, for the time estimate.",
    )
    generation_tokens_per_s_per_gpu: float = Field(
        default=2000.0,
        gt=0,
        description="Generated tokens per second per GPU at full batch, for the time estimate.",
    )
    disk_write_gb_per_s: float = Field(
        default=0.5,
        gt=0,
        description="Rank 0's write speed to the run folder, in GB/s, for the process-group "
        "timeout of a full-parameter ZeRO-3 save (a shared filesystem: 0.5).",
    )
    vllm_reserve_gb: float = Field(
        default=4.0,
        ge=0,
        description="GPU memory vLLM keeps beside weights and KV cache (activations, CUDA graphs).",
    )
    warn_above: float = Field(
        default=0.9, gt=0, le=1, description="A GPU planned above this share of its memory warns."
    )
