"""The `launch:` section of a recipe."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ramen.spec import StrictModel


class LaunchConfig(StrictModel):
    backend: Literal["local", "slurm"] = Field(
        default="local",
        description="`local`: stages as processes on this machine; `slurm`: sbatch jobs.",
    )
    nodes: int = Field(default=1, ge=1, description="Nodes for multi-node stages.")
    gpus_per_node: int = Field(default=0, ge=0, description="GPUs per node (0 = CPU).")
    partition: str | None = Field(default=None, description="SLURM partition.")
    account: str | None = Field(default=None, description="SLURM account.")
    qos: str | None = Field(default=None, description="SLURM quality of service.")
    time: str | None = Field(default=None, description="SLURM time limit per job, e.g. `24:00:00`.")
    constraint: str | None = Field(default=None, description="SLURM node constraint.")
    extra_sbatch: list[str] = Field(
        default_factory=list, description="Extra `#SBATCH` options, e.g. `--exclusive`."
    )
    setup: list[str] = Field(
        default_factory=list,
        description="Shell lines run before each job (module loads, container activation).",
    )
