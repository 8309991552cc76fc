"""Peak memory of the streaming parts of a run on a large input, at two sizes.

1. The row stages (prepare, clean, dedup, decontaminate, balance) through `ramen run
   --stages S`, each stage in its own process, on N synthetic maths rows (a 20-70 word
   question, an answer, a 20-60 word reasoning trace; 4% exact and 4% near duplicates).
2. The sample store on N samples (each with a ~2 KB reasoning trace): appending them
   (`run_to_store`), a resume that finds them all done, and the merge into the final file in
   input order (`finalize`), in a fresh process each.
3. The train stage rendering N conversations into token ids (`ramen run --stages train`,
   one optimizer step after it), its trainer process included.

Peak RSS is the largest sum of resident memory over the process tree (the CLI and its
spawned workers), sampled every 20 ms; for the train stage also its anonymous part (RssAnon),
since RSS there counts the pages of the memory-mapped Arrow data the trainer reads, which the
kernel drops under pressure (and forked render workers share the parent's pages). Each part runs at N/10 and N rows, so the output
shows what grows with the input: the bytes per extra row, against the bytes of one row.

    .venv/bin/python benchmarks/memory.py                 # N = 1,000,000
    .venv/bin/python benchmarks/memory.py --rows 100000   # quicker
    .venv/bin/python benchmarks/memory.py --parts render  # one part
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from curation_rows import FILLER, WORDS, question, rows_recipe  # noqa: E402

ROW_STAGES = ["prepare", "clean", "dedup", "decontaminate", "balance"]
CATEGORIES = ["algebra", "geometry", "number theory", "combinatorics"]


def write_rows(path: Path, n: int, bench: list[str], seed: int = 0) -> int:
    """N rows streamed to disk (recent questions kept for duplicates); returns bytes."""
    rng = random.Random(seed)
    recent: list[str] = []
    with open(path, "w") as f:
        for i in range(n):
            r = rng.random()
            if r < 0.04 and recent:
                q = "  " + rng.choice(recent).upper() + " "
            elif r < 0.08 and recent:
                q = rng.choice(recent) + " Explain."
            elif r < 0.085:
                q = rng.choice(bench)
            else:
                q = question(rng)
                recent.append(q)
                if len(recent) > 5000:
                    recent.pop(rng.randrange(len(recent)))
            reasoning = " ".join(rng.choice(WORDS + FILLER) for _ in range(rng.randint(20, 60)))
            row = {
                "id": f"r{i}",
                "question": q,
                "answer": str(rng.randint(0, 1000)),
                "reasoning": reasoning,
                "category": rng.choice(CATEGORIES),
            }
            f.write(json.dumps(row) + "\n")
    return path.stat().st_size


def _anon(pid: int) -> int:
    """Resident anonymous memory of a process (RssAnon): what the kernel cannot drop. RSS
    also counts the pages of memory-mapped Arrow files a process reads, which it can."""
    with open(f"/proc/{pid}/status") as f:
        return next((int(line.split()[1]) * 1024 for line in f if line.startswith("RssAnon")), 0)


def peak_rss(
    cmd: list[str], env: dict | None = None, anon: dict | None = None
) -> tuple[int, float]:
    """Run `cmd`; the peak of its process tree's summed RSS (bytes) and its wall time. With
    `anon`, its "peak" entry gets the peak of the tree's summed anonymous memory too."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    top, top_anon, parent = 0, 0, psutil.Process(proc.pid)
    while proc.poll() is None:
        total = total_anon = 0
        try:
            for p in [parent, *parent.children(recursive=True)]:
                total += p.memory_info().rss
                total_anon += _anon(p.pid) if anon is not None else 0
        except (psutil.Error, OSError):
            pass
        top, top_anon = max(top, total), max(top_anon, total_anon)
        time.sleep(0.02)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode()[-3000:]}")
    if anon is not None:
        anon["peak"] = top_anon
    return top, time.monotonic() - started


def row_stages(tmp: Path, n: int) -> dict[str, int]:
    rng = random.Random(1)
    bench = [question(rng) for _ in range(2500)]
    (tmp / "bench.jsonl").write_text(
        "".join(json.dumps({"id": f"b{i}", "question": q}) + "\n" for i, q in enumerate(bench))
    )
    size = write_rows(tmp / "rows.jsonl", n, bench)
    recipe = rows_recipe("memory", tmp)
    recipe["data"]["balance"] = {"shares": {c: 0.25 for c in CATEGORIES}}
    (tmp / "recipe.yaml").write_text(json.dumps(recipe))  # JSON is YAML
    ramen = [sys.executable, "-m", "ramen.launch.cli", "run", str(tmp / "recipe.yaml")]
    env = {"RAMEN_NO_PROGRESS": "1"}
    subprocess.run([*ramen, "--stages", "models"], cwd=ROOT, env={**os.environ, **env},
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    peaks = {"input_bytes": size}
    for stage in ROW_STAGES:
        peaks[stage], _ = peak_rss([*ramen, "--stages", stage], env)
    return peaks


STORE_SCRIPT = """
import sys, time
from pathlib import Path
from ramen.inference.store import finalize, run_to_store
from ramen.inference.backend import Request
n, parts, step = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
text = "<think>" + "let me check this step again. " * 66 + "</think> Answer: 42"
def requests():
    return (Request(f"p{i // 4}", i % 4, [], 0) for i in range(n))
def generate(reqs):
    for r in reqs:
        yield {"problem_id": r.problem_id, "sample_index": r.sample_index, "text": text,
               "finish_reason": "stop", "seed": r.seed, "completion_tokens": 500}
if step == "append" or step == "resume":
    stats = run_to_store(generate, requests(), parts)
    assert stats["generated"] == (n if step == "append" else 0), stats
else:
    keys = [(f"p{i // 4}", i % 4) for i in range(n)]
    assert finalize(parts, keys, parts.parent / "final.jsonl") == n
"""


def sample_store(tmp: Path, n: int) -> dict[str, int]:
    parts = tmp / "parts"
    peaks = {}
    for step in ("append", "resume", "finalize"):
        cmd = [sys.executable, "-c", STORE_SCRIPT, str(n), str(parts), step]
        peaks[step], _ = peak_rss(cmd, {"RAMEN_NO_PROGRESS": "1"})
    peaks["input_bytes"] = sum(p.stat().st_size for p in parts.glob("shard-*.jsonl"))
    return peaks


def train_render(tmp: Path, n: int) -> dict[str, int]:
    """The train stage on N conversations (a question, a ~60-word reasoning trace, an answer):
    rendered by tiny:strong's template into token ids (training/render.py: worker processes,
    streamed to Arrow), then one optimizer step, so the peak is the rendering's."""
    from ramen.testing import tiny

    rng = random.Random(2)
    with open(tmp / "sft.jsonl", "w") as f:
        for i in range(n):
            trace = " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 80)))
            turn = f"<think>\n{trace}\n</think>\n\nAnswer: {i % 997}"
            f.write(json.dumps({"messages": [
                {"role": "user", "content": question(rng)},
                {"role": "assistant", "content": turn},
            ]}) + "\n")  # fmt: skip
    size = (tmp / "sft.jsonl").stat().st_size
    (tmp / "train.yaml").write_text(
        f"""name: render
workdir: {tmp / "runs"}
models:
  strong: {{path: "{tiny.model_path("strong")}", dtype: float32, max_model_len: 1024}}
training:
  method: sft
  base: strong
  data: {tmp / "sft.jsonl"}
  args: {{max_steps: 1, per_device_train_batch_size: 2, save_strategy: "no"}}
"""
    )
    ramen = [sys.executable, "-m", "ramen.launch.cli", "run", str(tmp / "train.yaml")]
    env = {"RAMEN_NO_PROGRESS": "1"}
    subprocess.run([*ramen, "--stages", "models"], cwd=ROOT, env={**os.environ, **env},
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    anon: dict = {}
    peak, seconds = peak_rss([*ramen, "--stages", "train"], env, anon)
    stats = json.loads((tmp / "runs" / "render" / "train" / "stats.json").read_text())
    assert stats["rows"] == n, stats["rows"]
    print(f"render: {n:,} rows in {seconds:.0f} s (train stage, one step), peak RSS "
          f"{peak >> 20} MiB, anonymous {anon['peak'] >> 20} MiB")  # fmt: skip
    return {"train": peak, "train (anonymous)": anon["peak"], "input_bytes": size}


PARTS = {
    "rows": ROW_STAGES,
    "store": ["append", "resume", "finalize"],
    "render": ["train", "train (anonymous)"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--parts", default="rows,store,render", help="of: rows, store, render")
    args = ap.parse_args()
    parts = args.parts.split(",")
    sizes = [args.rows // 10, args.rows]
    results: dict[str, dict[int, dict[str, int]]] = {p: {} for p in parts}
    run = {"rows": row_stages, "store": sample_store, "render": train_render}
    for n in sizes:
        for part in parts:
            with tempfile.TemporaryDirectory() as tmp:
                results[part][n] = run[part](Path(tmp), n)

    mib = 1 << 20
    small, large = sizes
    print()
    print(f"peak RSS (MiB) at {small:,} and {large:,} rows; growth per extra row; row size")
    for part in parts:
        steps = PARTS[part]
        a, b = results[part][small], results[part][large]
        row_bytes = b["input_bytes"] / large
        for step in steps:
            per_row = (b[step] - a[step]) / (large - small)
            print(
                f"{part:6s} {step:18s} {a[step] / mib:8.0f} {b[step] / mib:8.0f}   "
                f"{per_row:7.0f} B/row   (a row is {row_bytes:,.0f} B on disk)"
            )
    inputs = ", ".join(f"{p} {results[p][large]['input_bytes'] / mib:,.0f} MiB" for p in parts)
    print(f"machine: {os.cpu_count()} cores; input at {large:,} rows: {inputs}")
    print(
        f"reproduce: .venv/bin/python benchmarks/memory.py --rows {args.rows} --parts {args.parts}"
    )


if __name__ == "__main__":
    main()
