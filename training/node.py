"""One machine of a multi-node training run: `srun` starts this once per machine.

    srun --ntasks=N ... python -m ramen.training.node ACCELERATE.yaml SPEC.json STAGE_DIR

Each task runs `accelerate launch` with its machine rank (`SLURM_PROCID`), the head machine
and port of the allocation (RAMEN_HEAD, RAMEN_HEAD_PORT, exported by the job script), and the
accelerate/DeepSpeed config the train stage generated. Its output goes to
`STAGE_DIR/train.rank<R>.log` and to stdout (srun labels and collects it into train.log).
NCCL defaults that turn hangs into errors are set unless the environment already has them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ramen.cluster import NCCL_DEFAULTS, Allocation, task_rank
from ramen.training.launcher import launch_command, launch_env, run_logged


def node_command(config: Path, spec: Path, rank: object, head: str, port: object) -> list[str]:
    """`accelerate launch` for one machine: its rank and the head's address override the
    generated config's."""
    cmd = launch_command(config, spec)
    at = cmd.index("--config_file")
    return [
        *cmd[:at],
        "--machine_rank",
        str(rank),
        "--main_process_ip",
        head,
        "--main_process_port",
        str(port),
        *cmd[at:],
    ]


def main(config: str, spec: str, stage_dir: str) -> int:
    alloc = Allocation.from_environ()
    if alloc is None:
        print("ramen.training.node runs inside a ramen-launched SLURM job", file=sys.stderr)
        return 2
    rank, _, _ = task_rank()
    env = launch_env(alloc.gpus_per_node > 0)
    for key, value in NCCL_DEFAULTS.items():
        env.setdefault(key, value)
    head = "127.0.0.1" if alloc.emulated else alloc.head
    cmd = node_command(Path(config), Path(spec), rank, head, alloc.head_port)
    code, _ = run_logged(cmd, env, Path(stage_dir) / f"train.rank{rank}.log")
    return code


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
