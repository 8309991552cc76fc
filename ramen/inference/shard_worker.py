"""One vLLM replica of a fanned-out generation step (ramen/inference/sampling.py starts them):

    srun --ntasks=K ... python -m ramen.inference.shard_worker PARTS/fanout.json

Task R of K takes every K-th request (from R), binds its own group of GPUs (on a node with
several replicas: GPUs [L*g, (L+1)*g) of the node's, L its rank on the node, g the GPUs a
replica needs) and appends each finished sample to `shard-R-of-K.jsonl` in the same store.
A killed task loses at most its torn last line; the stage's rerun asks only for missing keys.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ramen.cluster import Allocation, set_node_address, task_rank
from ramen.inference.sampling import load_fanout
from ramen.inference.store import Shard, run_to_store


def bind_gpus(local_rank: int, gpus_per_replica: int, gpus_per_node: int) -> str | None:
    """The CUDA_VISIBLE_DEVICES of replica `local_rank` on its node (None on CPU nodes)."""
    if gpus_per_node == 0:
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    devices = visible.split(",") if visible else [str(i) for i in range(gpus_per_node)]
    mine = devices[local_rank * gpus_per_replica : (local_rank + 1) * gpus_per_replica]
    if len(mine) != gpus_per_replica:
        raise SystemExit(
            f"replica {local_rank} needs GPUs {local_rank * gpus_per_replica}..."
            f"{(local_rank + 1) * gpus_per_replica - 1} but the node shows {devices}"
        )
    return ",".join(mine)


def main(job: str) -> int:
    rank, tasks, local = task_rank()
    alloc = Allocation.from_environ() or Allocation()
    if not alloc.emulated and alloc.nodes > 1:
        set_node_address()  # vLLM's own address on this node, from SLURM, not `hostname`

    target, requests, description, gpus = load_fanout(Path(job))
    devices = bind_gpus(local, gpus, alloc.gpus_per_node)
    if devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = devices  # before vLLM initialises CUDA

    shard = Shard(rank, tasks)
    mine = shard.select(requests)
    print(f"replica {rank}/{tasks}: {len(mine)} samples, devices {devices or 'cpu'}", flush=True)
    with target.open() as engine:
        stats = run_to_store(
            engine.generate,
            mine,
            Path(job).parent,
            shard,
            description=f"{description} [replica {rank}/{tasks}]",
        )
    print(f"replica {rank}/{tasks}: {stats}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
