"""Generation overhead: ramen's sampling path against raw `vllm.LLM.generate`, same work.

Both sides share one vLLM engine and get the same prompts and the same per-sample
SamplingParams (n=1, the recorded seed, the same max_tokens), so they generate the same tokens.
ramen's side is the whole path a stage runs: chat-template rendering, budgeting, vLLM's
engine loop, and every sample appended (flushed) to the resumable store. The two run
interleaved, alternating which goes first, and the ratio is ramen's output tokens/s over raw's.
Goal: >= 0.95.

    .venv/bin/python benchmarks/generation_overhead.py            # tiny:strong on CPU
    .venv/bin/python benchmarks/generation_overhead.py --model /path/to/Qwen3-0.6B --dtype bfloat16
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tiny:strong", help="tiny:NAME or a local model folder")
    ap.add_argument("--problems", type=int, default=512)
    ap.add_argument("--n", type=int, default=4, help="samples per problem")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--max-model-len", type=int, default=512)
    ap.add_argument("--max-tokens", type=int, default=None, help="cap (default: the budget)")
    ap.add_argument("--dtype", default=None)
    args = ap.parse_args()

    from vllm import SamplingParams

    from ramen.inference.backend import completion_budget
    from ramen.inference.offline import OfflineEngine
    from ramen.inference.sampling import problem_requests
    from ramen.inference.store import run_to_store
    from ramen.spec import ModelSpec
    from ramen.testing import tiny
    from ramen.testing.problems import all_problems

    if args.model.startswith("tiny:"):
        path = str(tiny.model_path(args.model.removeprefix("tiny:")))
        dtype = args.dtype or "float32"
    else:
        path, dtype = args.model, args.dtype or "auto"
    spec = ModelSpec(path=args.model, dtype=dtype, max_model_len=args.max_model_len)
    engine = OfflineEngine(spec, path, "bench", seed=0)
    pool = all_problems()
    problems = [
        {"id": f"b{i}", "question": pool[i % len(pool)].question} for i in range(args.problems)
    ]
    requests = problem_requests(
        problems, n=args.n, seed=0, temperature=1.0, max_tokens=args.max_tokens
    )

    # Raw vLLM gets the rendered prompts and the same per-sample params, prepared untimed.
    prompts, params = [], []
    for r in requests:
        text, ids = engine.renderer.render(r.messages)
        budget = completion_budget(
            len(ids), spec.max_model_len, spec.engine.budget_margin, r.max_tokens
        )
        prompts.append(text)
        params.append(
            SamplingParams(
                n=1, temperature=r.temperature, top_p=r.top_p, max_tokens=budget, seed=r.seed
            )
        )

    def raw() -> tuple[int, float]:
        t = time.perf_counter()
        outs = engine.llm.generate(prompts, params, use_tqdm=False)
        return sum(len(o.outputs[0].token_ids) for o in outs), time.perf_counter() - t

    def ours() -> tuple[int, float]:
        parts = Path(tempfile.mkdtemp(prefix="ramen-bench-"))
        try:
            t = time.perf_counter()
            run_to_store(engine.generate, requests, parts)
            elapsed = time.perf_counter() - t
            from ramen.inference.store import read_parts

            rows, _ = read_parts(parts)
            return sum(r["completion_tokens"] for r in rows.values()), elapsed
        finally:
            shutil.rmtree(parts)

    raw()  # warm-up, untimed
    totals = {"raw": [0, 0.0], "ramen": [0, 0.0]}
    print(f"{len(requests)} samples ({args.problems} problems x {args.n}), model {args.model}")
    for rep in range(args.reps):
        order = [("raw", raw), ("ramen", ours)] if rep % 2 == 0 else [("ramen", ours), ("raw", raw)]
        line = []
        for name, fn in order:
            tokens, secs = fn()
            totals[name][0] += tokens
            totals[name][1] += secs
            line.append(f"{name} {tokens / secs:,.0f} tok/s ({tokens} tokens, {secs:.2f}s)")
        print(f"rep {rep}: " + "; ".join(line))
    raw_tps = totals["raw"][0] / totals["raw"][1]
    ours_tps = totals["ramen"][0] / totals["ramen"][1]
    print(f"raw vllm.LLM.generate: {raw_tps:,.0f} output tokens/s")
    print(f"ramen sampling path:   {ours_tps:,.0f} output tokens/s")
    print(f"ratio ramen/raw: {ours_tps / raw_tps:.3f} (goal >= 0.95)")
    print("reproduce: .venv/bin/python benchmarks/generation_overhead.py " + " ".join(sys.argv[1:]))
    engine.close()


if __name__ == "__main__":
    main()
