"""vLLM's engine core in its own process (vLLM's default) against in-process, same work.

`engine.multiprocessing` chooses where vLLM's engine core runs for the offline backend; its
default (null) is in-process on CPU and a process of its own on GPU. This measures both modes
through ramen's own OfflineEngine on the same model, prompts and per-sample seeds: the time
to build the engine (what every model stage pays once per model) and the output tokens/s of
ramen's sampling path. Each measurement is a fresh Python process (vLLM caches its
environment after the first engine), the two modes alternate, and the generated tokens are
compared: both modes must sample the same text.

    .venv/bin/python benchmarks/engine_modes.py              # tiny:strong on CPU, 3 reps
    .venv/bin/python benchmarks/engine_modes.py --model /path/to/Qwen3-0.6B --dtype bfloat16
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")


def measure(args: argparse.Namespace) -> dict:
    """One mode in this process: engine build time, then ramen's sampling path's tokens/s."""
    from ramen.inference.offline import OfflineEngine
    from ramen.inference.sampling import problem_requests
    from ramen.inference.store import read_parts, run_to_store
    from ramen.spec import EngineSpec, ModelSpec
    from ramen.testing import tiny
    from ramen.testing.problems import all_problems

    if args.model.startswith("tiny:"):
        path = str(tiny.model_path(args.model.removeprefix("tiny:")))
        dtype = args.dtype or "float32"
    else:
        path, dtype = args.model, args.dtype or "auto"
    engine_spec = EngineSpec(multiprocessing=args.child == "multiprocess")
    spec = ModelSpec(
        path=args.model, dtype=dtype, max_model_len=args.max_model_len, engine=engine_spec
    )
    import vllm  # noqa: F401  (imported untimed: both modes import it once in this process)

    t = time.perf_counter()
    engine = OfflineEngine(spec, path, "bench", seed=0)
    build = time.perf_counter() - t
    pool = all_problems()
    problems = [
        {"id": f"b{i}", "question": pool[i % len(pool)].question} for i in range(args.problems)
    ]
    requests = problem_requests(problems, n=args.n, seed=0, temperature=1.0)
    parts = Path(tempfile.mkdtemp(prefix="ramen-bench-"))
    try:
        t = time.perf_counter()
        run_to_store(engine.generate, requests, parts)
        secs = time.perf_counter() - t
        rows, _ = read_parts(parts)
    finally:
        shutil.rmtree(parts)
    engine.close()
    texts = "".join(f"{k}{rows[k]['content']}{rows[k]['reasoning']}" for k in sorted(rows))
    return {
        "build_s": build,
        "tokens": sum(r["completion_tokens"] for r in rows.values()),
        "gen_s": secs,
        "digest": hashlib.sha256(texts.encode()).hexdigest()[:16],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tiny:strong", help="tiny:NAME or a local model folder")
    ap.add_argument("--problems", type=int, default=256)
    ap.add_argument("--n", type=int, default=4, help="samples per problem")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--max-model-len", type=int, default=512)
    ap.add_argument("--dtype", default=None)
    ap.add_argument("--child", choices=["in-process", "multiprocess"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args)))
        return

    forwarded = list(sys.argv[1:])
    results: dict[str, list[dict]] = {"in-process": [], "multiprocess": []}
    for rep in range(args.reps):
        order = ["in-process", "multiprocess"] if rep % 2 == 0 else ["multiprocess", "in-process"]
        for mode in order:
            proc = subprocess.run(
                [sys.executable, __file__, *forwarded, "--child", mode],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            if proc.returncode != 0:
                sys.exit(f"{mode} failed:\n{proc.stderr[-3000:]}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            results[mode].append(r)
            print(
                f"rep {rep} {mode:>12}: engine built in {r['build_s']:.1f} s; "
                f"{r['tokens'] / r['gen_s']:,.0f} tok/s ({r['tokens']} tokens, {r['gen_s']:.2f} s); "
                f"samples {r['digest']}"
            )
    digests = {r["digest"] for rs in results.values() for r in rs}
    summary = {}
    for mode, rs in results.items():
        build = sorted(r["build_s"] for r in rs)[len(rs) // 2]
        tps = sum(r["tokens"] for r in rs) / sum(r["gen_s"] for r in rs)
        summary[mode] = (build, tps)
        print(f"{mode:>12}: median engine build {build:.1f} s, {tps:,.0f} output tokens/s")
    (bi, ti), (bm, tm) = summary["in-process"], summary["multiprocess"]
    print(f"build time in-process/multiprocess: {bi / bm:.3f}")
    print(f"tokens/s in-process/multiprocess: {ti / tm:.3f}")
    print("same samples in both modes:", "yes" if len(digests) == 1 else f"NO ({digests})")
    print("reproduce: .venv/bin/python benchmarks/engine_modes.py " + " ".join(forwarded))


if __name__ == "__main__":
    main()
