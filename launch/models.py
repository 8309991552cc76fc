"""The `models` stage, and how a recipe's model names become paths (tiny models: the shipped family)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ramen.cluster import Allocation
from ramen.console import err_console
from ramen.errors import UserError
from ramen.stage import StageContext, StageDef, dump, model_entries
from ramen.testing import tiny

RUN_PREFIX = "run:"  # a model folder inside this run (a round's trained model, launch/rounds.py)


def resolve_model_path(name: str, path: str, run_dir: Path | None = None) -> str:
    """`tiny:NAME` -> the shipped tiny model (its files checked); `run:STAGE/FOLDER` -> that folder of this run; a
    local folder must exist; anything else is a hub id."""
    if path.startswith(RUN_PREFIX):
        if run_dir is None:
            raise UserError(
                f"'{path}' names a folder of a run; only ramen's rounds use such paths",
                where=f"models.{name}.path",
            )
        path = str(run_dir / path.removeprefix(RUN_PREFIX))
    if path.startswith("tiny:"):
        which = path.removeprefix("tiny:")
        if which not in tiny.NAMES:
            raise UserError(
                f"unknown tiny model '{which}'; use one of {', '.join(tiny.NAMES)}",
                where=f"models.{name}.path",
            )
        try:
            return str(tiny.model_path(which))
        except tiny.TinyFamilyError as e:
            raise UserError(str(e), where=f"models.{name}.path") from None
    local = Path(path).expanduser()
    if not is_hub_id(path):
        if not (local / "config.json").is_file():
            raise UserError(
                f"no model folder with a config.json at '{path}'", where=f"models.{name}.path"
            )
        return str(local.resolve())
    return path  # a hub id: the engine or trainer loads it (or finds it in the HF cache)


def is_hub_id(path: str) -> bool:
    """Whether a model path names a hub repository (not tiny:, run:, nor a local folder)."""
    if path.startswith(("tiny:", RUN_PREFIX, ".", "/", "~")):
        return False
    return not Path(path).expanduser().exists()


def check_hub_snapshot(name: str, path: str, revision: str | None) -> str:
    """The local snapshot folder of hub model `path` (the Hugging Face cache this machine
    sees), or a one-line error naming the model and the command that fetches it. A SLURM run's
    `models` job runs it, so a missing snapshot stops the chain on a CPU node at once, not when
    a 24-GPU job starts to load it hours later."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return snapshot_download(path, revision=revision, local_files_only=True)
    except LocalEntryNotFoundError:
        fetch = f"hf download {path}" + (f" --revision {revision}" if revision else "")
        raise UserError(
            f"'{path}' is not in the Hugging Face cache the cluster's jobs see "
            f"({constants.HF_HUB_CACHE}); fetch it once where there is network (`{fetch}`, with "
            "the same HF_HOME), or point the path at a local folder",
            where=f"models.{name}.path",
        ) from None


def check_benchmarks(recipe: Any) -> list[str]:
    """Read the first question of every benchmark the evaluation reads. A SLURM run's `models`
    job (a CPU node) runs it before the stage (`python -m ramen.launch.models benchmarks RECIPE
    [OVERRIDES]`, outside the stage: it writes nothing and decides nothing a stage hashes): a
    hub set is downloaded into the Hugging Face cache there, once, because the GPU jobs run
    with the hub offline (HF_HUB_OFFLINE=1, launch/slurm.py); one that cannot be read stops the
    chain now, in one line, not hours later in the evaluate job."""
    from ramen.benchmarks import kind  # the kinds register on import: only when launched

    if recipe.evaluation is None:
        return []
    for bench in recipe.evaluation.benchmarks:
        next(iter(kind(bench.name).rows(bench)), None)
    return [b.name for b in recipe.evaluation.benchmarks]


def models_stage(ctx: StageContext) -> dict:
    """Stage `models`: resolve every declared model (checking tiny ones) into models.json; in a
    ramen-launched SLURM job, every hub model must be in the local cache already."""
    resolved = {}
    launched = Allocation.from_environ() is not None
    for name, spec in ctx.recipe.models.items():
        if spec.trust_remote_code:
            err_console.print(
                f"[yellow]warning[/]: models.{name}.trust_remote_code is on: code shipped with '{spec.path}' will run"
            )
        path = resolve_model_path(name, spec.path)
        if launched and is_hub_id(spec.path):
            check_hub_snapshot(name, spec.path, spec.revision)  # fail here, not in a GPU job
        resolved[name] = {
            **dump(spec),  # a knob a recipe leaves at its default is not written: nothing reruns
            "resolved_path": path,
        }
    ctx.write_json("models.json", resolved)
    return {"models": sorted(resolved)}


def _config(r: Any) -> dict:
    tiny_names = {
        m.path.removeprefix("tiny:") for m in r.models.values() if m.path.startswith("tiny:")
    }
    return {
        **model_entries(r, *r.models),
        # family.json holds every file's sha256: a rebuilt member reruns the stages that use it
        "tiny family": tiny.members_digest(tiny_names) if tiny_names else None,
    }


STAGE = StageDef(
    name="models",
    fn=models_stage,
    needs=(),
    config=_config,
    enabled=lambda r: bool(r.models),
    help="resolve the recipe's models (a tiny:* model is checked against its shipped hashes)",
)


if __name__ == "__main__":  # the models job: `python -m ramen.launch.models benchmarks RECIPE ...`
    import sys

    from ramen.launch.recipe import load_recipe  # it imports the stages, this module among them

    if sys.argv[1:2] != ["benchmarks"] or len(sys.argv) < 3:
        sys.exit("usage: python -m ramen.launch.models benchmarks RECIPE [KEY=VALUE ...]")
    try:
        names = check_benchmarks(load_recipe(sys.argv[2], sys.argv[3:]))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"benchmarks readable: {', '.join(names) or '-'}", flush=True)
