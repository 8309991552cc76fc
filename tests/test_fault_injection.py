"""Fault injection on `ramen run`: the tiny recipe runs again from an empty folder, and each
of its model stages (filter, sample, grade, train, evaluate) is SIGKILLed at seeded random
points, the whole process group at once (the CLI, vLLM, accelerate's workers); then the run
is started again, until it finishes.

One chained run serves every check: a run restarted after a kill in `sample` skips the
finished stages, resumes `sample` and goes on into `grade`, where the next kill point waits.
The result must equal the session's uninterrupted run (`tiny_run`) byte for byte: the
manifest's output hash covers every output file, so no sample, judgement or row was lost,
duplicated or changed; and since the run started from nothing in another folder, every
curation stage's output equal to `tiny_run`'s is also the two-fresh-runs determinism check.
After every kill the killed stage is not marked done and its stores hold each key once.
Training resumes from its last complete checkpoint and ends with the same weights and metrics.

The kill points are `KILL_SEED`-seeded fractions of each stage's work (the lines its stores
or training metrics hold at the end of the uninterrupted run); the test prints them, so a
failure can be replayed.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import RAMEN, ROOT, output_files, ramen

from ramen.inference.store import read_parts
from ramen.launch.runner import output_hash

pytestmark = pytest.mark.e2e

KILL_SEED = 8
KILLS = 1  # kill points per stage (seeded): each costs a restart, about 60 s of CI on 2 cores
MODEL_STAGES = ["filter", "sample", "grade", "train", "evaluate"]
# The whole recipe but the baseline's evaluation and the report: every stage from nothing.
CHAIN = ["models", "prepare", "clean", "dedup", "decontaminate", "balance", "filter", "sample",
         "grade", "select", "pairs", "sft", "train", "evaluate"]  # fmt: skip
# Files that name the run folder (absolute paths): a copy elsewhere differs in them only.
NAMES_THE_FOLDER = {"spec.json", "model/training_args.bin"}


def _manifest(stage_dir: Path) -> dict | None:
    path = stage_dir / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def _output_files(stage_dir: Path, manifest: dict) -> dict[str, bytes]:
    """The stage's output files, less those that name the run folder and the Trainer's closing
    metrics row (run time, and the mean loss of the steps this process ran)."""
    files = output_files(stage_dir, manifest)
    for name in NAMES_THE_FOLDER:
        files.pop(name, None)
    if "metrics.jsonl" in files:
        lines = files["metrics.jsonl"].splitlines()
        assert b'"train_runtime"' in lines[-1], "the summary comes last"
        files["metrics.jsonl"] = b"\n".join(lines[:-1])
    return files


def _stores(stage_dir: Path) -> list[Path]:
    """The append-only sample and judge stores of a stage (folders with settings.json).

    The stage is running: a temporary folder (an atomic write's, a checkpoint being saved) can
    vanish while rglob walks into it, so the walk is retried rather than failing the test."""
    for _ in range(20):
        try:
            return [
                p.parent for p in stage_dir.rglob("settings.json") if "checkpoint" not in str(p)
            ]
        except FileNotFoundError:
            time.sleep(0.05)
    raise RuntimeError(f"{stage_dir} kept changing under rglob")


def _progress(stage_dir: Path) -> int:
    """Work a stage has stored so far: lines in its sample/judge stores and training metrics."""
    files = [f for store in _stores(stage_dir) for f in store.glob("shard-*.jsonl")]
    files.append(stage_dir / "metrics.jsonl")
    return sum(f.read_bytes().count(b"\n") for f in files if f.is_file())


class StageProcess:
    """`ramen run --stages STAGES` in its own process group, its output collected."""

    def __init__(self, recipe: Path, work: Path, stages: str):
        env = {**os.environ, "RAMEN_NO_PROGRESS": "1", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [*RAMEN, "run", str(recipe), f"workdir={work / 'runs'}", "--stages", stages],
            cwd=ROOT, env=env, start_new_session=True, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._reader.join()

    def wait(self) -> str:
        self.proc.wait()
        self._reader.join()
        return "".join(self.lines)


def _kill_points(reference: Path) -> list[tuple[str, float, int]]:
    """(stage, fraction, total work): KILLS seeded points per model stage, one per 1/KILLS."""
    points = []
    for stage in MODEL_STAGES:
        total = _progress(reference / stage)
        rng = random.Random(f"{KILL_SEED}-{stage}")
        for k in range(KILLS):
            points.append(
                (stage, rng.uniform(0.05 + 0.9 * k / KILLS, 0.9 * (k + 1) / KILLS), total)
            )
    return points


@pytest.mark.timeout(40 * 60)
def test_model_stages_killed_at_random_points_end_as_an_uninterrupted_run(tiny_run, tmp_path):
    shutil.copy(tiny_run["recipe"], tmp_path / "tiny.yaml")
    recipe, work, run_dir = tmp_path / "tiny.yaml", tmp_path, tmp_path / "runs" / "tiny"
    points = _kill_points(tiny_run["dir"])
    print("kill points:", [(s, round(f, 3)) for s, f, _ in points])
    killed: dict[str, int] = dict.fromkeys(MODEL_STAGES, 0)
    resumable = False
    trial = 0
    while points:
        p = StageProcess(recipe, work, ",".join(CHAIN))
        deadline = time.monotonic() + 600
        while points and p.proc.poll() is None:
            stage, fraction, total = points[0]
            if _manifest(run_dir / stage) is not None:  # finished before this point
                print(f"{stage}: finished before {fraction:.2f} of its work")
                points.pop(0)
                continue
            if _progress(run_dir / stage) >= fraction * total:
                p.kill()
                points.pop(0)
                killed[stage] += 1
                done = _progress(run_dir / stage)
                print(f"trial {trial}: {stage} killed at {done}/{total} lines of work")
                assert _manifest(run_dir / stage) is None, "a killed stage is never marked done"
                if stage == "train":
                    checkpoints = run_dir / "train" / "checkpoints"
                    resumable |= any(checkpoints.glob("checkpoint-*/trainer_state.json"))
                for store in _stores(run_dir / stage):
                    _, duplicates = read_parts(store)
                    assert duplicates == 0, f"{store}: a key stored twice after trial {trial}"
                break
            assert time.monotonic() < deadline, f"{stage}: no progress in 600 s"
            time.sleep(0.05)
        if p.proc.poll() is not None and p.proc.returncode is not None:
            output = p.wait()
            assert p.proc.returncode in (0, -signal.SIGKILL), output[-3000:]
            if p.proc.returncode == 0:
                break
        trial += 1
    for stage, count in killed.items():
        assert count >= 1, f"{stage} finished before any kill point; the test proves nothing"

    if _manifest(run_dir / "evaluate") is None:
        ramen("run", str(recipe), f"workdir={work / 'runs'}", "--stages", ",".join(CHAIN),
              check=True)  # fmt: skip
    for stage in CHAIN:
        final, reference = _manifest(run_dir / stage), _manifest(tiny_run["dir"] / stage)
        assert final and final["done"], stage
        got, want = (
            _output_files(run_dir / stage, final),
            _output_files(tiny_run["dir"] / stage, reference),
        )
        assert sorted(got) == sorted(want), f"{stage}: the same output files"
        differ = [name for name in want if got[name] != want[name]]
        assert not differ, f"{stage}: outputs differ from the uninterrupted run's: {differ}"
        if stage != "train":  # train's spec.json names the folder; every other output is covered
            assert final["output_hash"] == reference["output_hash"], stage
        for store in _stores(run_dir / stage):
            assert read_parts(store)[1] == 0
    train = run_dir / "train"
    rows = [json.loads(x) for x in (train / "metrics.jsonl").open()]
    steps = [r["step"] for r in rows if "loss" in r]
    assert steps == list(range(1, len(steps) + 1)), "every step logged once"
    if resumable:
        assert "ramen: resuming from" in (train / "train.log").read_text()


def test_no_stage_changes_the_outputs_of_a_finished_stage(tiny_run):
    """Every stage's outputs still hash as its manifest says after the whole run: no later stage
    wrote into an earlier stage's folder (TRL's dataset cache once did)."""
    for stage_dir in sorted(p for p in tiny_run["dir"].iterdir() if _manifest(p)):
        manifest = _manifest(stage_dir)
        outputs = [f for f in manifest["outputs"] if f != "stats.json"]
        assert output_hash(stage_dir, outputs) == manifest["output_hash"], (
            f"{stage_dir.name}'s outputs changed after it finished (a later stage wrote there)"
        )
