"""Resumable sampling into a sample store, shared by curation's model stages and `evaluate`.

A stored sample stays valid while the model, the sampling settings and its problem's question
are unchanged: changed settings discard the store, a changed question redoes that problem's
samples, and only the keys the store lacks are generated (the engine opens only then).

Inside a multi-node allocation (ramen/cluster.py) the generation fans out: `srun` starts one
vLLM replica per node or per group of GPUs (ramen/inference/shard_worker.py), each writing its
share of the missing keys into its own shard file of the same store; this process then
reads the merged store as if it had generated everything itself.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ramen.cluster import Allocation
from ramen.console import err_console
from ramen.errors import StageFailed
from ramen.inference.backend import Request, sample_seed
from ramen.inference.engine import open_engine
from ramen.inference.store import Shard, check_settings, prune_parts, run_to_store, stored_keys
from ramen.io import iter_jsonl, read_json, write_json_atomic, write_jsonl_atomic
from ramen.spec import ModelSpec


@dataclass(frozen=True)
class EngineTarget:
    """The engine a generation step opens: which model, from where, with which run seed."""

    spec: ModelSpec
    path: str
    name: str
    seed: int = 0
    log_dir: Path | None = None

    def open(self):
        return open_engine(self.spec, self.path, self.name, seed=self.seed, log_dir=self.log_dir)

    @property
    def gpus(self) -> int:
        return self.spec.tensor_parallel * self.spec.pipeline_parallel

    def to_json(self) -> dict:
        return {
            "spec": self.spec.model_dump(mode="json"),
            "path": self.path,
            "name": self.name,
            "seed": self.seed,
            "log_dir": str(self.log_dir) if self.log_dir else None,
        }

    @classmethod
    def from_json(cls, d: dict) -> EngineTarget:
        return cls(
            spec=ModelSpec.model_validate(d["spec"]),
            path=d["path"],
            name=d["name"],
            seed=d["seed"],
            log_dir=Path(d["log_dir"]) if d["log_dir"] else None,
        )


PROBLEM_KEEP = ("question", "answer", "answer_type", "category")  # ride along into samples


def expected_keys(problems: Sequence[dict], n: int) -> list[tuple[str, int]]:
    """Every (problem_id, sample_index) a run of n samples per problem must produce, in order."""
    return [(str(p["id"]), i) for p in problems for i in range(n)]


def problem_requests(
    problems: Sequence[dict],
    *,
    n: int,
    seed: int,
    temperature: float,
    top_p: float = 1.0,
    max_tokens: int | None = None,
    system_prompt: str | None = None,
    knobs: dict | None = None,
) -> list[Request]:
    """n requests per problem, each with its own seed; the problem's fields ride along."""
    out = []
    for p in problems:
        messages = [{"role": "user", "content": p["question"]}]
        if system_prompt:
            messages.insert(0, {"role": "system", "content": system_prompt})
        extra = {k: p[k] for k in PROBLEM_KEEP if k in p}
        for i in range(n):
            out.append(
                Request(
                    problem_id=str(p["id"]),
                    sample_index=i,
                    messages=messages,
                    seed=sample_seed(seed, str(p["id"]), i),
                    temperature=temperature,
                    top_p=top_p,
                    max_tokens=max_tokens,
                    knobs=dict(knobs or {}),
                    extra=extra,
                )
            )
    return out


def generate_to_store(
    requests: Sequence[Request],
    parts_dir: Path,
    *,
    settings: dict,
    engine: EngineTarget,
    description: str,
    who: str,
    shard: Shard | None = None,
    reset: bool = True,
) -> dict:
    """Generate the requests the store at `parts_dir` lacks; returns generation stats.

    One rule for every caller (the model stages, `evaluate`, `ramen generate`): a stored
    sample stays while the settings are the same and its prompt (the request's `messages`:
    question and system prompt) is unchanged; a changed prompt redoes that problem's samples.
    Changed settings discard the store (`reset`) or stop with an error naming --force.
    `shard`: this process generates only its share into its own shard file (`ramen generate
    --shard I/K`: K processes write one store side by side). `who` names the caller in
    messages.
    """
    shard = shard or Shard()
    if check_settings(parts_dir, settings, reset=reset):
        err_console.print(
            f"[yellow]{who}[/]: model or sampling settings changed; stored samples "
            f"in {parts_dir} were discarded"
        )
    prompts = {r.problem_id: r.messages for r in requests}
    stale = prune_parts(
        parts_dir,
        lambda r: prompts.get(str(r["problem_id"])) == r.get("messages"),
        only=shard.filename if shard.count > 1 else None,  # the other shards are theirs
    )
    if stale:
        err_console.print(f"{who}: {stale} stored samples of changed problems are redone")
    done, _ = stored_keys(parts_dir)
    todo = [r for r in requests if r.key not in done]
    if not todo:
        return {"resumed": len(requests), "generated": 0}
    alloc = Allocation.from_environ()
    per_node = alloc.replicas_per_node(engine.gpus) if alloc else 0
    if shard.count == 1 and alloc is not None and per_node and alloc.nodes * per_node > 1:
        return fan_out(todo, parts_dir, engine, alloc, per_node, description, len(requests))
    with engine.open() as e:
        return run_to_store(e.generate, todo, parts_dir, shard, description=description)


FANOUT_JOB = "fanout.json"


def fan_out(
    todo: list[Request],
    parts_dir: Path,
    engine: EngineTarget,
    alloc: Allocation,
    per_node: int,
    description: str,
    total: int,
) -> dict:
    """`srun` one replica per node (x per_node), each generating its share into the store."""
    replicas = alloc.nodes * per_node
    job = parts_dir / FANOUT_JOB
    write_jsonl_atomic(parts_dir / "fanout-requests.jsonl", (dataclasses.asdict(r) for r in todo))
    write_json_atomic(
        job,
        {
            "engine": engine.to_json(),
            "requests": "fanout-requests.jsonl",
            "description": description,
            "gpus_per_replica": engine.gpus,
        },
    )
    cmd = [
        *alloc.srun(tasks_per_node=per_node),
        sys.executable,
        "-m",
        "ramen.inference.shard_worker",
        str(job),
    ]
    err_console.print(
        f"{description}: {len(todo)} samples over {replicas} replicas "
        f"({alloc.nodes} nodes x {per_node})"
    )
    code = subprocess.call(cmd)
    if code != 0:
        raise StageFailed(
            f"a generation replica failed (srun exit {code}); its log is under {parts_dir}; "
            "run the stage again to resume"
        )
    done, _ = stored_keys(parts_dir)
    return {
        "resumed": total - len(todo),
        "generated": sum(1 for r in todo if r.key in done),
        "replicas": replicas,
    }


def load_fanout(job: Path) -> tuple[EngineTarget, list[Request], str, int]:
    d = read_json(job)
    requests = [Request(**row) for row in iter_jsonl(job.parent / d["requests"])]
    return EngineTarget.from_json(d["engine"]), requests, d["description"], d["gpus_per_replica"]
