"""What a stage knows about the allocation it runs in, and how it fans work out over it.

A job that `ramen launch --backend slurm` rendered exports the variables below; a stage run
anywhere else (a laptop, `ramen run`, the local backend) sees none of them and runs as one
process, as before. So the stage code is the same everywhere; only the fan-out differs:
- training: `srun` starts one task per machine, each runs `accelerate launch` with its
  machine rank (training/stage.py, training/node.py);
- generation: `srun` starts one vLLM replica per node or per group of GPUs, each generating
  its shard of the requests into the stage's sample store (ramen/inference/sampling.py).

Variables (all set by the job script):
    RAMEN_NODES          machines in the allocation (emulated ones included)
    RAMEN_EMULATED       1: the machines are tasks on one node (head on loopback)
    RAMEN_GPUS_PER_NODE  GPUs per machine (0 = CPU)
    RAMEN_CPU_REPLICAS   vLLM replicas per CPU machine
    RAMEN_CPUS_PER_TASK  CPUs of each srun task (empty: the node's CPUs shared by its tasks)
    RAMEN_NET_IFACE      launch.network_interface (empty: a node's address is its SLURM name's)
    RAMEN_HEAD           the first machine of the allocation (training rendezvous)
    RAMEN_HEAD_PORT      a port that was free on it
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from dataclasses import dataclass

# Defaults every multi-node job exports unless the cluster environment already sets them:
# NCCL errors abort the process group instead of hanging it (the main multi-node hang), and
# NCCL prints warnings. Timeouts: TrainingArguments' ddp_timeout (the recipe's args).
NCCL_DEFAULTS = {
    "TORCH_NCCL_ASYNC_ERROR_HANDLING": "1",
    "NCCL_DEBUG": "WARN",
    "TORCH_NCCL_DUMP_ON_TIMEOUT": "1",
}

# Every GPU job runs with the Hugging Face hub offline (the `models` job, on a CPU node, checked
# every model snapshot and loaded every benchmark into the cache first), so a GPU job never
# waits on the network or downloads 470 GB in 24 ranks at once. A site may set its own values.
GPU_JOB_DEFAULTS = {"HF_HUB_OFFLINE": "1"}


@dataclass(frozen=True)
class Allocation:
    nodes: int = 1
    emulated: bool = False
    gpus_per_node: int = 0
    cpu_replicas: int = 1
    head: str = "127.0.0.1"
    head_port: int = 29500
    cpus_per_task: int = 0  # launch.cpus_per_task (0: a share of the node's CPUs)
    cpus_on_node: int = 0  # SLURM_CPUS_ON_NODE (0: unknown, srun's own default)

    @classmethod
    def from_environ(cls, env: dict[str, str] | None = None) -> Allocation | None:
        """The allocation of a ramen-launched job, or None outside one."""
        env = os.environ if env is None else env
        if "RAMEN_NODES" not in env or not env.get("SLURM_JOB_ID"):
            return None
        return cls(
            nodes=int(env["RAMEN_NODES"]),
            emulated=env.get("RAMEN_EMULATED") == "1",
            gpus_per_node=int(env.get("RAMEN_GPUS_PER_NODE", "0")),
            cpu_replicas=int(env.get("RAMEN_CPU_REPLICAS", "1")),
            head=env.get("RAMEN_HEAD", "127.0.0.1"),
            head_port=int(env.get("RAMEN_HEAD_PORT", "29500")),
            cpus_per_task=int(env.get("RAMEN_CPUS_PER_TASK") or 0),
            cpus_on_node=int(env.get("SLURM_CPUS_ON_NODE") or 0),
        )

    def task_cpus(self, tasks_per_node: int) -> int:
        """CPUs for each srun task: the recipe's, else the node's shared by the tasks on it
        (emulated machines share one node); 0 when unknown."""
        if self.cpus_per_task:
            return self.cpus_per_task
        on_node = tasks_per_node * (self.nodes if self.emulated else 1)
        return self.cpus_on_node // on_node if self.cpus_on_node else 0

    def replicas_per_node(self, gpus_per_replica: int) -> int:
        """vLLM replicas that fit on one machine (0: the model needs more than a machine)."""
        if self.gpus_per_node == 0:
            return self.cpu_replicas
        return self.gpus_per_node // gpus_per_replica

    def srun(self, tasks_per_node: int, *, label: bool = True, check: bool = True) -> list[str]:
        """`srun` with one task per machine (x tasks_per_node); a failed task stops them all."""
        if check and shutil.which("srun") is None:
            raise RuntimeError("srun is not on PATH inside a SLURM job")
        cmd = [
            "srun",
            f"--ntasks={self.nodes * tasks_per_node}",
            "--kill-on-bad-exit=1",
            "--overlap",  # the batch step keeps running beside the tasks
        ]
        if self.emulated:
            cmd.append("--nodes=1")
        else:
            cmd += [f"--nodes={self.nodes}", f"--ntasks-per-node={tasks_per_node}"]
        cpus = self.task_cpus(tasks_per_node)
        if cpus:  # steps no longer inherit the job's --cpus-per-task (SLURM 22.05+)
            cmd.append(f"--cpus-per-task={max(1, cpus)}")
        if label:
            cmd.append("--label")  # every output line starts with its task's rank
        return cmd


@dataclass(frozen=True)
class GenerationLayout:
    """How a launched generation stage places its models on `launch.nodes` x `gpus_per_node`
    (the SLURM job's shape in launch/slurm.py and the plan's replica count read it; inside the
    job, inference/sampling.py fans out by `Allocation.replicas_per_node`, the same division).
    A model that fits one node runs as independent vLLM replicas, one per node or per group of
    tensor x pipeline parallel GPUs on it, each serving its shard of the requests: no Ray,
    nothing crosses nodes. Only a stage whose widest model is wider than a node runs over a
    Ray cluster of `nodes` nodes (pipeline parallel across them), that model as one replica."""

    nodes: int  # machines the stage's job holds
    gpus_per_node: int
    ray: bool

    def per_node(self, gpus_per_replica: int) -> int:
        """Replicas of a model of this size on each machine (0: it spans machines)."""
        return self.gpus_per_node // gpus_per_replica

    def replicas(self, gpus_per_replica: int) -> int:
        return self.nodes * self.per_node(gpus_per_replica) or 1


def generation_layout(widest: int, gpus_per_node: int, nodes: int) -> GenerationLayout:
    """`widest`: tensor x pipeline parallel of the stage's widest model (GPUs only)."""
    if widest > gpus_per_node:
        return GenerationLayout(-(-widest // gpus_per_node), gpus_per_node, True)
    return GenerationLayout(nodes, gpus_per_node, False)


def task_rank() -> tuple[int, int, int]:
    """(rank, number of tasks, rank on this node) of an srun task; (0, 1, 0) outside one."""
    env = os.environ
    return (
        int(env.get("SLURM_PROCID", "0")),
        int(env.get("SLURM_NTASKS", "1")),
        int(env.get("SLURM_LOCALID", "0")),
    )


def node_address(env: dict[str, str] | None = None) -> str:
    """This node's address for its peers: the IPv4 address of `launch.network_interface` when
    the recipe names one, else the address SLURM's name for the node resolves to. Never
    `hostname --ip-address`, which on many hosts is 127.0.1.1 or a management interface that
    the other nodes cannot reach (Ray then waits for its placement group until it times out)."""
    env = os.environ if env is None else env
    iface = env.get("RAMEN_NET_IFACE")
    if iface:
        import psutil  # a vLLM dependency; only when the recipe names an interface

        for addr in psutil.net_if_addrs().get(iface, []):
            if addr.family == socket.AF_INET:
                return addr.address
        raise RuntimeError(f"launch.network_interface '{iface}' has no IPv4 address on this node")
    name = env.get("SLURMD_NODENAME") or socket.gethostname()
    return socket.gethostbyname(name)


def set_node_address(env: dict[str, str] | None = None) -> None:
    """VLLM_HOST_IP for this node's vLLM workers, unless the environment already sets it."""
    env = os.environ if env is None else env
    if not env.get("VLLM_HOST_IP"):
        env["VLLM_HOST_IP"] = node_address(env)


if __name__ == "__main__":  # `python -m ramen.cluster address`: the job scripts ask it
    if sys.argv[1:] != ["address"]:
        sys.exit("usage: python -m ramen.cluster address")
    print(node_address())
