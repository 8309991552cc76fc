"""Kill/resume: `ramen generate` on the real vLLM is SIGKILLed mid-run (its whole process
group: the CLI and vLLM's engine core, which runs in a process of its own here as it does on
GPUs: `engine.multiprocessing: true`), then rerun. The final samples equal an uninterrupted
run's: none lost, none duplicated, and no sample stored before the kill is regenerated."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import RAMEN, ROOT

from ramen.inference.store import read_parts

pytestmark = pytest.mark.slow

N = 4


def _problems(path, count=100):
    rows = [
        {"id": f"q{a}", "question": f"What is {a % 20} + {a // 3}?", "answer": str(a % 20 + a // 3)}
        for a in range(count)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


# max_num_seqs 1 keeps the batch small, so the run lasts long enough to be killed mid-way: the
# tiny strong model answers in ~15 tokens, ~35 samples/s on 2 cores, so 100 problems x 4 samples
# last ~11 s (30 problems were done in ~3.5 s, and a loaded CI machine once missed that window).
RECIPE = """name: kill
models:
  strong:
    path: "tiny:strong"
    dtype: float32
    max_model_len: 256
    engine: {max_num_seqs: 1, multiprocessing: MP}
"""


def _cmd(inp, out, multiprocessing=True):
    """The killed and the resumed run: the multiprocess engine; the uninterrupted reference:
    the in-process one (ramen's CPU default), so the two modes must sample the same text."""
    recipe = inp.parent / f"kill-{multiprocessing}.yaml"
    recipe.write_text(RECIPE.replace("MP", str(multiprocessing).lower()))
    return [*RAMEN, "generate", "--recipe", str(recipe), "--model", "strong", "--input", str(inp),
            "--output", str(out), "--n", str(N), "--seed", "3"]  # fmt: skip


def _group(pgid: int) -> list[int]:
    """Processes in a process group (from /proc)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            pids.append(int(stat.parent.name))
    return pids


def _env():
    return {**os.environ, "RAMEN_NO_PROGRESS": "1"}


def _lines(path):
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_sigkill_mid_run_then_resume(tmp_path):
    inp = tmp_path / "problems.jsonl"
    rows = _problems(inp)
    expected = {(r["id"], i) for r in rows for i in range(N)}

    out = tmp_path / "killed.jsonl"
    shard = tmp_path / "killed.parts" / "shard-00000-of-00001.jsonl"
    proc = subprocess.Popen(_cmd(inp, out), cwd=ROOT, env=_env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 240
    while _lines(shard) < 20 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; make it longer"
    assert len(_group(proc.pid)) >= 2, "vLLM's engine core runs in a process of its own"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "no final file from a killed run"
    before, duplicates = read_parts(shard.parent)
    assert 20 <= len(before) < len(expected) and duplicates == 0

    resumed = subprocess.run(_cmd(inp, out), cwd=ROOT, env=_env(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (
        f"{len(expected) - len(before)} samples now, {len(before)} were already done"
        in resumed.stdout
    )

    clean_out = tmp_path / "clean.jsonl"
    clean = subprocess.run(
        _cmd(inp, clean_out, multiprocessing=False),
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert clean.returncode == 0, clean.stderr[-2000:]

    final = [json.loads(x) for x in out.open()]
    reference = [json.loads(x) for x in clean_out.open()]
    keys = [(s["problem_id"], s["sample_index"]) for s in final]
    assert len(keys) == len(set(keys)) == len(expected), "none lost, none duplicated"
    assert set(keys) == expected
    assert keys == [(s["problem_id"], s["sample_index"]) for s in reference], "same order"
    assert [s["seed"] for s in final] == [s["seed"] for s in reference], "same seeds"
    by_key = {(s["problem_id"], s["sample_index"]): s for s in final}
    for key, row in before.items():
        assert by_key[key] == row, "a sample stored before the kill is kept as it was"
    _, dup_after = read_parts(shard.parent)
    assert dup_after == 0
