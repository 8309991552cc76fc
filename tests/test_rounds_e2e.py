"""`recipes/tiny-rounds.yaml` end to end, from an empty folder: round 2 samples with round 1's
trained model (its merged folder, not the base), is SIGKILLed mid-sampling and resumes, trains
round 1's model again, and the report compares the rounds paired. A rerun skips every finished
round; a round-2 knob reruns round 2's stages only."""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import RAMEN, ROOT, ramen

from ramen.inference.store import read_parts

pytestmark = pytest.mark.e2e

RECIPE = ROOT / "recipes" / "tiny-rounds.yaml"
ROUND_2 = ["sample@2", "grade@2", "select@2", "pairs@2", "train@2", "evaluate@2"]


def _manifest(stage_dir: Path) -> dict | None:
    path = stage_dir / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def _stored(stage_dir: Path) -> int:
    """Samples stored so far by a running sample stage (the store's shard lines)."""
    try:
        shards = [f for s in stage_dir.rglob("settings.json") for f in s.parent.glob("shard-*")]
        return sum(f.read_bytes().count(b"\n") for f in shards if f.is_file())
    except FileNotFoundError:  # a temporary folder vanished under rglob
        return 0


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open()]


def _lines(proc_output: str, word: str) -> list[str]:
    return [
        line.split()[1].rstrip(":") for line in proc_output.splitlines() if line.startswith(word)
    ]


@pytest.mark.timeout(25 * 60)
def test_two_rounds_from_nothing_with_a_kill_in_round_two(tmp_path):
    work = tmp_path / "runs"
    run_dir = work / "tiny-rounds"
    env = {**os.environ, "RAMEN_NO_PROGRESS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [*RAMEN, "run", str(RECIPE), f"workdir={work}"],
        cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    # kill the whole run (CLI and engine) once round 2 has stored some of its samples
    deadline = time.monotonic() + 20 * 60
    while True:
        assert proc.poll() is None, "the run ended before round 2 sampled"
        assert time.monotonic() < deadline, "round 2 never started sampling"
        select = _manifest(run_dir / "filter")
        if select is not None and (run_dir / "sample@2").is_dir():
            expected = len(_rows(run_dir / "filter" / "data.jsonl")) * 4
            if _stored(run_dir / "sample@2") >= 0.3 * expected:
                break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    stored_before = _stored(run_dir / "sample@2")
    assert _manifest(run_dir / "sample@2") is None, "a killed stage is never marked done"
    print(f"killed sample@2 at {stored_before}/{expected} samples")

    second = ramen("run", str(RECIPE), f"workdir={work}", check=True)
    out = second.stdout
    assert set(_lines(out, "skip")) >= {"prepare", "filter", "sample", "train", "evaluate"}
    assert _lines(out, "run")[:1] == ["sample@2"], "the run resumed at the killed stage"
    for store in [s.parent for s in (run_dir / "sample@2").rglob("settings.json")]:
        assert read_parts(store)[1] == 0, f"{store}: a sample stored twice"

    # round 2's sampler is round 1's trained model: its merged folder, with the base's settings
    sample2 = _manifest(run_dir / "sample@2")
    assert sample2["config"]["curation.sample"]["model"] == "trained-r1"
    assert sample2["config"]["models.trained-r1"]["path"] == "run:train/merged"
    assert "train" in sample2["input_hashes"]  # a retrained round 1 reruns round 2
    # ... and its stored samples are keyed by those weights, so a rerun does not resume them
    settings = json.loads((run_dir / "sample@2" / "parts" / "settings.json").read_text())
    assert settings["weights"] == sample2["input_hashes"]["train"]
    merged = str((run_dir / "train" / "merged").resolve())
    stats = json.loads((run_dir / "sample@2" / "stats.json").read_text())
    assert stats["model_path"] == merged
    rows1 = _rows(run_dir / "sample" / "data.jsonl")
    rows2 = _rows(run_dir / "sample@2" / "data.jsonl")
    assert len(rows2) == expected, "no sample lost or duplicated"
    assert {r["model"] for r in rows2} == {"trained-r1"}
    keys = {(r["problem_id"], r["sample_index"]) for r in rows2}
    assert len(keys) == len(rows2)
    text1 = {(r["problem_id"], r["sample_index"]): r["text"] for r in rows1}
    assert sum(text1.get(k) != r["text"] for k, r in zip(keys, rows2, strict=False)) > 0
    # round 2 trains from round 1's model, on its own pairs
    spec = json.loads((run_dir / "train@2" / "spec.json").read_text())
    assert Path(spec["model"]).resolve() == Path(merged)
    assert Path(spec["data_source"]).parent.name == "pairs@2"
    pairs = _rows(run_dir / "pairs@2" / "data.jsonl")
    assert pairs and {p["meta"]["round"] for p in pairs} == {2}

    # the report: the rounds compared paired on the 400 held-out problems
    trend = json.loads((run_dir / "report" / "rounds.json").read_text())
    vs_prev = trend["rounds"]["2"]["vs_previous"]["benchmarks"]["heldout"]
    assert vs_prev["shared"] >= 300
    print("round 2 vs round 1:", vs_prev["sentence"])
    assert not (vs_prev["distinguishable"] and vs_prev["difference"] < 0), "round 2 is worse"
    assert "vs_base" in trend["rounds"]["2"] and "vs_base" in trend["rounds"]["1"]
    report = (run_dir / "report" / "report.md").read_text()
    assert "## Rounds" in report and "Round 2 against round 1:" in report
    assert (run_dir / "report" / "plots" / "heldout-rounds.png").stat().st_size > 0
    assert "after Holm correction over 2 candidates" in report  # every round against the base
    # the table's numbers are `ramen compare`'s on the two rounds' evaluations
    cmp = ramen("compare", str(run_dir / "evaluate@2"), str(run_dir / "evaluate"), "--seed", "0",
                "--json", check=True)  # fmt: skip
    assert json.loads(cmp.stdout)["benchmarks"]["heldout"]["difference"] == vs_prev["difference"]

    # a resumed stage ends as an uninterrupted one: sample@2 again from nothing, in a copy
    copy = tmp_path / "copy"
    shutil.copytree(work, copy / "runs", symlinks=True)
    shutil.rmtree(copy / "runs" / "tiny-rounds" / "sample@2")
    ramen("run", str(RECIPE), f"workdir={copy / 'runs'}", "--stages", "sample@2", check=True)
    fresh = _manifest(copy / "runs" / "tiny-rounds" / "sample@2")
    assert fresh["output_hash"] == sample2["output_hash"]

    # a rerun skips every finished round
    again = ramen("run", str(RECIPE), f"workdir={work}", check=True)
    assert "done: ran nothing" in again.stdout
    # a round-2 knob reruns round 2's stages from the first that holds it, round 1 none
    dry = ramen("run", str(RECIPE), f"workdir={work}", "rounds.set.2.curation.pairs.per_problem=1",
                "--dry-run", check=True).stdout  # fmt: skip
    runs = [line.split(":")[0] for line in dry.splitlines() if ": run (" in line]
    assert runs == ["pairs@2", "train@2", "evaluate@2", "report"]
