"""Fault injection on `ramen run`: each model stage of the tiny recipe (filter, sample, grade,
train, evaluate) is SIGKILLed at seeded random points, its whole process group at once (the
CLI, vLLM's engine core, accelerate's workers), then run again until it finishes.

The result must equal the uninterrupted run's byte for byte: the manifest's output hash
covers every output file, so no sample, judgement or row was lost, duplicated or changed.
After every kill the stage is not marked done and its stores hold each key once. Training
resumes from its last complete checkpoint and ends with the same weights and metrics.

The kill points are `KILL_SEED`-seeded fractions of the stage's work (the lines its stores
or training metrics hold at the end of the uninterrupted run); the test prints them, so a
failure can be replayed. Also here: two fresh runs of the recipe write byte-identical curation outputs.
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
from conftest import RAMEN, ROOT, copy_run, ramen

from evaluation.store import read_parts
from launch.runner import output_hash

pytestmark = pytest.mark.e2e

KILL_SEED = 8
KILLS = 3  # kill points per stage
MODEL_STAGES = ["filter", "sample", "grade", "train", "evaluate"]
CURATION = ["models", "prepare", "clean", "dedup", "decontaminate", "balance", "filter",
            "sample", "grade", "select", "pairs", "sft"]  # fmt: skip
# Files that name the run folder (absolute paths): a copy elsewhere differs in them only.
NAMES_THE_FOLDER = {"spec.json", "model/training_args.bin"}


def _manifest(stage_dir: Path) -> dict | None:
    path = stage_dir / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def _output_files(stage_dir: Path, manifest: dict) -> dict[str, bytes]:
    """Every file the manifest lists as output (folders walked), keyed by relative path."""
    files = {}
    for name in manifest["outputs"]:
        if name == "stats.json":  # counts how much was resumed: differs by design
            continue
        path = stage_dir / name
        for f in sorted([path] if path.is_file() else path.rglob("*")):
            rel = f.relative_to(stage_dir).as_posix()
            if f.is_file() and rel not in NAMES_THE_FOLDER:
                files[rel] = f.read_bytes()
    if "metrics.jsonl" in files:  # the Trainer's closing row: run time, and the mean loss
        lines = files["metrics.jsonl"].splitlines()  # of the steps this process ran
        assert b'"train_runtime"' in lines[-1], "the summary comes last"
        files["metrics.jsonl"] = b"\n".join(lines[:-1])
    return files


def _stores(stage_dir: Path) -> list[Path]:
    """The append-only sample and judge stores of a stage (folders with settings.json)."""
    return [p.parent for p in stage_dir.rglob("settings.json") if "checkpoint" not in str(p)]


def _progress(stage_dir: Path) -> int:
    """Work a stage has stored so far: lines in its sample/judge stores and training metrics."""
    files = [f for store in _stores(stage_dir) for f in store.glob("shard-*.jsonl")]
    files.append(stage_dir / "metrics.jsonl")
    return sum(f.read_bytes().count(b"\n") for f in files if f.is_file())


class StageProcess:
    """`ramen run --stages STAGE` in its own process group; notes when the stage starts."""

    def __init__(self, recipe: Path, work: Path, stage: str):
        env = {**os.environ, "RAMEN_NO_PROGRESS": "1", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [*RAMEN, "run", str(recipe), f"workdir={work / 'runs'}", "--stages", stage],
            cwd=ROOT, env=env, start_new_session=True, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.lines: list[str] = []
        self.started = threading.Event()
        self._reader = threading.Thread(target=self._read, args=(f"run  {stage}:",), daemon=True)
        self._reader.start()

    def _read(self, marker: str) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith(marker):
                self.started.set()

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._reader.join()

    def wait(self) -> str:
        self.proc.wait()
        self._reader.join()
        return "".join(self.lines)


@pytest.mark.parametrize("stage", MODEL_STAGES)
def test_a_stage_killed_at_random_points_ends_as_an_uninterrupted_run(tiny_run, tmp_path, stage):
    reference_dir = tiny_run["dir"] / stage
    reference = _manifest(reference_dir)
    run = copy_run(tiny_run, tmp_path)
    stage_dir = run["dir"] / stage
    shutil.rmtree(stage_dir)  # this stage never ran in the copy; everything before it did

    # Kill points: seeded fractions of the stage's work (lines its stores or metrics hold at
    # the end), one in each third, each reached while the stage runs again after the last kill.
    total = _progress(reference_dir)
    rng = random.Random(f"{KILL_SEED}-{stage}")
    points = [rng.uniform(0.05 + 0.9 * k / KILLS, 0.9 * (k + 1) / KILLS) for k in range(KILLS)]
    killed, resumable = 0, False
    for trial, fraction in enumerate(points):
        p = StageProcess(run["recipe"], run["work"], stage)
        assert p.started.wait(120), f"the stage did not start:\n{p.wait()}"
        deadline = time.monotonic() + 600
        while p.proc.poll() is None and _progress(stage_dir) < fraction * total:
            assert time.monotonic() < deadline, f"{stage}: no progress in 600 s"
            time.sleep(0.05)
        if p.proc.poll() is not None:
            assert p.proc.returncode == 0, p.wait()[-3000:]
            print(f"{stage}: trial {trial} finished before {fraction:.2f} of its work")
            break
        p.kill()
        killed += 1
        print(f"{stage}: trial {trial} killed at {_progress(stage_dir)}/{total} lines of work")
        assert _manifest(stage_dir) is None, "a killed stage is never marked done"
        resumable = any((stage_dir / "checkpoints").glob("checkpoint-*/trainer_state.json"))
        for store in _stores(stage_dir):
            _, duplicates = read_parts(store)
            assert duplicates == 0, f"{store}: a key stored twice after kill {trial}"
    assert killed >= 1, f"{stage} finished before any kill point; the test proves nothing"

    if _manifest(stage_dir) is None:
        ramen("run", str(run["recipe"]), f"workdir={run['work'] / 'runs'}", "--stages", stage,
              check=True)  # fmt: skip
    final = _manifest(stage_dir)
    assert final and final["done"]
    got, want = _output_files(stage_dir, final), _output_files(reference_dir, reference)
    assert sorted(got) == sorted(want), "the same output files"
    differ = [name for name in want if got[name] != want[name]]
    assert not differ, f"{stage}: outputs differ from the uninterrupted run's: {differ}"
    if stage != "train":  # train's spec.json names the folder; every other output is covered
        assert final["output_hash"] == reference["output_hash"]
    for store in _stores(stage_dir):
        assert read_parts(store)[1] == 0
    if stage == "train":
        rows = [json.loads(x) for x in (stage_dir / "metrics.jsonl").open()]
        steps = [r["step"] for r in rows if "loss" in r]
        assert steps == list(range(1, len(steps) + 1)), "every step logged once"
        if resumable:
            assert "ramen: resuming from" in (stage_dir / "train.log").read_text()


def test_two_fresh_runs_write_byte_identical_curation_outputs(tiny_run, tmp_path):
    """Same recipe, same seed, another folder, another process: the same pairs and SFT sets
    (data, datasets folder and card) and the same output of every stage before them."""
    shutil.copy(tiny_run["recipe"], tmp_path / "tiny.yaml")
    ramen("run", str(tmp_path / "tiny.yaml"), f"workdir={tmp_path / 'runs'}",
          "--stages", ",".join(CURATION), check=True)  # fmt: skip
    for stage in CURATION:
        first = _manifest(tiny_run["dir"] / stage)
        second = _manifest(tmp_path / "runs" / "tiny" / stage)
        assert second["output_hash"] == first["output_hash"], f"{stage} differs between runs"
    for stage_dir in sorted(p for p in tiny_run["dir"].iterdir() if _manifest(p)):
        manifest = _manifest(stage_dir)
        outputs = [f for f in manifest["outputs"] if f != "stats.json"]
        assert output_hash(stage_dir, outputs) == manifest["output_hash"], (
            f"{stage_dir.name}'s outputs changed after it finished (a later stage wrote there)"
        )
    for stage in ("pairs", "sft"):
        a = (tiny_run["dir"] / stage / "data.jsonl").read_bytes()
        b = (tmp_path / "runs" / "tiny" / stage / "data.jsonl").read_bytes()
        assert a == b and a.count(b"\n") > 10
