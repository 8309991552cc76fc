"""Two vLLM CPU engines side by side, pinned to a core each or not (why `make test` pins its
pytest-xdist workers, tests/conftest.py).

The same `ramen generate` (tiny:strong, 100 problems x 4 samples, `max_num_seqs: 1`, the
in-process engine) runs three ways: alone on every core; twice at once, each pinned to its own
core (`taskset`); twice at once, unpinned. Prints each run's wall time and whether every run
wrote the same samples. An unpinned pair is stopped at `--timeout` seconds.

    .venv/bin/python benchmarks/engines_side_by_side.py
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPE = """name: side
models:
  strong:
    path: "tiny:strong"
    dtype: float32
    max_model_len: 256
    engine: {max_num_seqs: 1, multiprocessing: false}
"""


def start(work: Path, name: str, cpu: int | None) -> tuple[subprocess.Popen, float]:
    cmd = [sys.executable, "-m", "ramen.launch.cli", "generate", "--recipe", str(work / "r.yaml"),
           "--model", "strong", "--input", str(work / "p.jsonl"),
           "--output", str(work / f"{name}.jsonl"), "--n", "4", "--seed", "3"]  # fmt: skip
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    env = {**os.environ, "RAMEN_NO_PROGRESS": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    return proc, time.monotonic()


def wait(runs: dict, timeout: float) -> dict[str, float | None]:
    out = {}
    for name, (proc, t0) in runs.items():
        try:
            proc.wait(timeout=max(1.0, timeout - (time.monotonic() - t0)))
            out[name] = round(time.monotonic() - t0, 1) if proc.returncode == 0 else None
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            out[name] = None
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) < 2:
        print("needs at least 2 CPUs")
        return 2
    work = Path(tempfile.mkdtemp(prefix="side-by-side-"))
    (work / "r.yaml").write_text(RECIPE)
    rows = [{"id": f"q{a}", "question": f"What is {a % 20} + {a // 3}?",
             "answer": str(a % 20 + a // 3)} for a in range(100)]  # fmt: skip
    (work / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    times = wait({"alone": start(work, "alone", None)}, args.timeout)
    times |= wait({"pinned-0": start(work, "pinned-0", 0), "pinned-1": start(work, "pinned-1", 1)},
                  args.timeout)  # fmt: skip
    times |= wait({"free-a": start(work, "free-a", None), "free-b": start(work, "free-b", None)},
                  args.timeout)  # fmt: skip
    for name, seconds in times.items():
        done = seconds is not None
        same = done and filecmp.cmp(work / f"{name}.jsonl", work / "alone.jsonl", shallow=False)
        shown = f"{seconds:7.1f} s" if done else f"> {args.timeout:.0f} s (stopped)"
        print(f"{name:9s} {shown}  {'same samples as alone' if same else ''}")
    print("command: .venv/bin/python benchmarks/engines_side_by_side.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
