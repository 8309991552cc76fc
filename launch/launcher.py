"""`ramen launch` (the stages as SLURM jobs, or as processes here) and `ramen status`.

Both backends run the same thing per stage, `ramen run RECIPE --stages STAGE`, so a stage
behaves the same wherever it runs and resumes the same way after a kill. What they record
in `runs/<name>/launch/`:
- recipe.yaml: the recipe the jobs read (a copy: editing the original does not change
  queued jobs);
- <stage>.sbatch (slurm) and logs/<stage>-<jobid>.out, or logs/<stage>.log (local);
- jobs.json: per stage, the job id (or pid) and when it was submitted; `ramen status` reads
  it with the manifests and the queue.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from ramen.console import console, err_console
from ramen.errors import StageFailed, UserError
from ramen.io import read_json, write_json_atomic, write_text_atomic
from ramen.launch.recipe import Recipe, load_recipe
from ramen.launch.runner import Runner, read_manifest
from ramen.launch.slurm import Job, ahead_job, plan_job, render_script, sbatch_command
from ramen.launch.stages import STAGES
from ramen.stage import AHEAD_DIR, AHEAD_RECORD

JOBS = "jobs.json"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _to_submit(runner: Runner) -> dict[str, str]:
    """Stage -> why it runs, for the stages that would run; a stage whose input reruns reruns."""
    out: dict[str, str] = {}
    for stage in runner.plan:
        upstream = [n for n in runner.needs(stage) if n in out]
        if upstream:
            out[stage.name] = f"after {', '.join(upstream)}"
            continue
        decision = runner.decision(stage)
        if decision.run:
            out[stage.name] = decision.why
    return out


def launch(
    recipe: Recipe,
    recipe_path: str,
    overrides: list[str],
    *,
    backend: str,
    dry_run: bool = False,
) -> int:
    runner = Runner(recipe, STAGES, recipe_path=recipe_path)
    launch_dir = recipe.run_dir / "launch"
    log_dir = (launch_dir / "logs").resolve()
    log_dir.mkdir(parents=True, exist_ok=True)
    recipe_file = (launch_dir / "recipe.yaml").resolve()
    if Path(recipe_path).resolve() != recipe_file:  # relaunching the copy itself is fine
        shutil.copyfile(recipe_path, recipe_file)
    todo = _to_submit(runner)
    for stage in runner.plan:
        if stage.name not in todo:
            console.print(f"[green]done[/] {stage.name}: not submitted (finished, unchanged)")
    if not todo:
        console.print("nothing to launch: every stage is done")
        return 0
    if backend == "local":
        if dry_run:
            for name in todo:
                console.print(f"would run: ramen run {recipe_file} --stages {name}")
            return 0
        return _launch_local(runner, todo, recipe_file, overrides, log_dir)
    return _launch_slurm(runner, todo, recipe_file, overrides, log_dir, dry_run)


def _launch_slurm(
    runner: Runner,
    todo: dict[str, str],
    recipe_file: Path,
    overrides: list[str],
    log_dir: Path,
    dry_run: bool,
) -> int:
    recipe = runner.recipe
    launch_dir = recipe_file.parent
    if not dry_run and shutil.which("sbatch") is None:
        raise UserError(
            "sbatch is not on PATH: run `ramen launch` on a SLURM login node, or use "
            "--backend local (--dry-run only renders the scripts)",
            where="--backend",
        )
    jobs: dict[str, dict] = {}

    def submit(job: Job, after: list[str], why: str) -> str:
        script = launch_dir / f"{job.name}.sbatch"
        text = render_script(
            recipe,
            job,
            recipe_file=recipe_file,
            overrides=overrides,
            workdir=Path.cwd(),
            log_dir=log_dir,
        )
        write_text_atomic(script, text)
        cmd = sbatch_command(script, after)
        if dry_run:
            console.print(f"# ---- {script}  ({why})", markup=False)
            console.print(text, markup=False, highlight=False, soft_wrap=True)
            console.print("# submit: " + " ".join(cmd), markup=False)
            jobs[job.name] = {"job_id": f"<{job.name}>"}
            return jobs[job.name]["job_id"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise StageFailed(f"sbatch refused {script}: {proc.stderr.strip()}")
        job_id = proc.stdout.strip().split(";")[0]
        jobs[job.name] = {
            "backend": "slurm",
            "job_id": job_id,
            "script": str(script),
            "log": str(log_dir / f"{job.name}-{job_id}.out"),
            "after": after,
            "submitted_at": _now(),
            "nodes": job.nodes,
            **({"ahead_of": job.stage} if job.ahead else {}),
        }
        console.print(
            f"[cyan]submitted[/] {job.name}: job {job_id}"
            + (f" (after {', '.join(after)})" if after else "")
        )
        return job_id

    for stage in runner.plan:
        if stage.name not in todo:
            continue
        job = plan_job(recipe, stage.name)
        # every stage also waits for `models` (it builds the tiny models the others load)
        after = [jobs[n]["job_id"] for n in [*runner.needs(stage), "models"] if n in jobs]
        ahead = ahead_job(recipe, job) if stage.ahead is not None else None
        if ahead is not None and not dry_run:
            ahead = _fit_cpus(ahead)
        if ahead is not None:  # the GPU job waits for its data, rendered on the CPU side
            after = [
                *after,
                submit(ahead, after, f"{todo[stage.name]}; {stage.name}'s data, rendered first"),
            ]
        submit(job, after, todo[stage.name])
    if not dry_run:
        _record(launch_dir, jobs)
        console.print(f"follow it: ramen status {recipe.run_dir}")
    return 0


def partition_cpus(partition: str | None) -> int | None:
    """The fewest CPUs a node of the partition has, from `sinfo` (None where it cannot say)."""
    cmd = ["sinfo", "-h", "-o", "%c", *(["-p", partition] if partition else [])]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    counts = [int(c) for c in out.split() if c.strip().isdigit()]
    return min(counts) if counts else None


def _fit_cpus(job: Job) -> Job:
    """A CPU job asking for more CPUs than the partition's nodes have would pend forever
    (`PartitionConfig`): ask for what a node has instead, and say so."""
    have = partition_cpus(job.partition)
    if have is None or job.cpus is None or job.cpus <= have:
        return job
    console.print(
        f"note: {job.name} asks for {job.cpus} CPUs (launch.render_cpus) but the nodes of "
        f"partition {job.partition or '(default)'} have {have}: it asks for {have}"
    )
    return replace(job, cpus=have)


def _record(launch_dir: Path, jobs: dict[str, dict]) -> None:
    path = launch_dir / JOBS
    old = read_json(path) if path.exists() else {}
    write_json_atomic(path, {**old, **jobs})


def _launch_local(
    runner: Runner, todo: dict[str, str], recipe_file: Path, overrides: list[str], log_dir: Path
) -> int:
    """Each stage as its own `ramen run --stages S` process, in order; stop at a failure."""
    launch_dir = recipe_file.parent
    for stage in runner.plan:
        if stage.name not in todo:
            continue
        cmd = [
            sys.executable,
            "-m",
            "ramen.launch.cli",
            "run",
            str(recipe_file),
            *overrides,
            "--stages",
            stage.name,
        ]
        log_path = log_dir / f"{stage.name}.log"
        console.print(f"[cyan]start[/] {stage.name}: {todo[stage.name]} (log: {log_path})")
        with open(log_path, "a", encoding="utf-8") as log:
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            _record(
                launch_dir,
                {stage.name: {"backend": "local", "pid": proc.pid, "submitted_at": _now()}},
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                sys.stdout.write(line)
            code = proc.wait()
        if code != 0:
            err_console.print(f"error: stage {stage.name} failed (exit {code}); see {log_path}")
            return code
    return 0


# --------------------------------------------------------------------------- status


def _queue_states(job_ids: list[str]) -> dict[str, str]:
    """Job id -> SLURM state (PENDING, RUNNING, COMPLETED, FAILED, ...), from squeue and sacct."""
    states: dict[str, str] = {}
    if not job_ids or shutil.which("squeue") is None:
        return states
    out = subprocess.run(
        ["squeue", "-h", "-o", "%i %T", "-j", ",".join(job_ids)], capture_output=True, text=True
    )
    for line in out.stdout.splitlines():
        jid, _, state = line.strip().partition(" ")
        states[jid] = state
    missing = [j for j in job_ids if j not in states]
    if missing and shutil.which("sacct"):
        out = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(missing)],
            capture_output=True,
            text=True,
        )
        for line in out.stdout.splitlines():
            jid, _, state = line.strip().partition("|")
            if jid in missing:
                states[jid] = state.split()[0] if state else "UNKNOWN"
    return states


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stage_states(run_dir: Path) -> list[dict]:
    """One row per stage: name, state (done, running, pending, failed, incomplete, not
    started) and what it is based on."""
    launch_dir = run_dir / "launch"
    jobs = read_json(launch_dir / JOBS) if (launch_dir / JOBS).exists() else {}
    names = list(jobs)
    for d in sorted(run_dir.iterdir()):
        if d.name not in names and (d / "manifest.json").exists():
            names.append(d.name)
    if (launch_dir / "recipe.yaml").exists():
        try:
            recipe = load_recipe(launch_dir / "recipe.yaml")
            planned = [s.name for s in STAGES if s.enabled(recipe)]
            names = planned + [n for n in names if n not in planned]
        except UserError:
            pass
    for name, job in jobs.items():  # a CPU job that runs ahead of a stage: listed before it
        if job.get("ahead_of") in names and name in names:
            names.remove(name)
            names.insert(names.index(job["ahead_of"]), name)
    queue = _queue_states([j["job_id"] for j in jobs.values() if j.get("backend") == "slurm"])
    rows = []
    for name in names:
        stage_dir = run_dir / name
        manifest = read_manifest(stage_dir)
        job = jobs.get(name, {})
        row = {"stage": name, "job": job.get("job_id") or job.get("pid")}
        if job.get("ahead_of"):  # a CPU job before a stage's GPU job: no manifest of its own
            row |= _ahead_state(job, queue, run_dir)
        elif manifest and manifest.get("done"):
            when = str(manifest.get("finished_at", "?"))[:19].replace("T", " ")
            row |= {"state": "done", "detail": f"finished {when} UTC"}
        elif job.get("backend") == "slurm" and shutil.which("squeue") is None:
            row |= {
                "state": "submitted",
                "detail": "no squeue here: run ramen status on the cluster",
            }
        elif job.get("backend") == "slurm":
            q = queue.get(job["job_id"], "UNKNOWN")
            if q in ("PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD"):
                state = "pending"
            elif q in ("RUNNING", "COMPLETING", "SUSPENDED"):
                state = "running"
            else:
                state = "failed"
            row |= {"state": state, "detail": f"slurm {q}; log {job.get('log', '')}"}
        elif job.get("backend") == "local" and _pid_alive(int(job["pid"])):
            row |= {"state": "running", "detail": f"pid {job['pid']}"}
        elif stage_dir.is_dir() and any(stage_dir.iterdir()):
            row |= {"state": "incomplete", "detail": "stopped before its manifest; rerun resumes"}
        else:
            row |= {"state": "not started", "detail": ""}
        if row["state"] == "failed" and manifest is None and stage_dir.is_dir():
            row["detail"] += "; rerun resumes"
        rows.append(row)
    return rows


def _ahead_state(job: dict, queue: dict[str, str], run_dir: Path) -> dict:
    """The state of a `ramen run --ahead` job: from the queue, or done when its stage is (the
    stage takes the ahead folder and removes it)."""
    stage_done = (read_manifest(run_dir / job["ahead_of"]) or {}).get("done")
    ready = (run_dir / job["ahead_of"] / AHEAD_DIR / AHEAD_RECORD).is_file()
    if not (stage_done or ready) and shutil.which("squeue") is None:
        return {"state": "submitted", "detail": "no squeue here: run ramen status on the cluster"}
    q = queue.get(job["job_id"], "UNKNOWN")
    if q in ("PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD"):
        return {"state": "pending", "detail": f"slurm {q}; log {job.get('log', '')}"}
    if q in ("RUNNING", "COMPLETING", "SUSPENDED"):
        return {"state": "running", "detail": f"slurm {q}; log {job.get('log', '')}"}
    if q == "COMPLETED" or stage_done or ready:
        where = "taken by the stage" if stage_done else "ready for the stage"
        return {"state": "done", "detail": f"{job['ahead_of']}'s data rendered ahead, {where}"}
    return {"state": "failed", "detail": f"slurm {q}; log {job.get('log', '')}"}


def print_status(run_dir: Path, as_json: bool = False) -> int:
    import json

    from rich.table import Table

    if not run_dir.is_dir():
        raise UserError(f"no run folder at {run_dir}", where="RUN")
    rows = stage_states(run_dir)
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    colours = {"done": "green", "running": "cyan", "pending": "blue", "failed": "red"}
    t = Table(title=f"ramen status {run_dir}", title_justify="left")
    for col in ("stage", "state", "job", "detail"):
        t.add_column(col)
    for r in rows:
        c = colours.get(r["state"], "yellow")
        t.add_row(r["stage"], f"[{c}]{r['state']}[/]", str(r["job"] or ""), r["detail"])
    console.print(t)
    return 0
