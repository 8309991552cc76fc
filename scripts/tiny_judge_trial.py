"""Train only the tiny judge, with a chosen number of comparison and judge steps, and print its
agreement with the truth every 50 judge steps: on the build's validation cases and on the
test's held-out HLE cases (transformers' greedy generate; tests/test_tiny_models.py checks the
built judge under vLLM). A trial takes 5-8 minutes on 2 cores; nothing is written.

    .venv/bin/python scripts/tiny_judge_trial.py --compare-steps 2000 --judge-steps 400

The tokenizer, data and seeds are the build's (training/tiny.py build_family)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training import tiny  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare-steps", type=int, default=tiny.JUDGE_COMPARE_STEPS)
    parser.add_argument("--judge-steps", type=int, default=tiny.JUDGE_MAX_STEPS)
    parser.add_argument("--first-check", type=int, default=150)
    args = parser.parse_args()
    print("command:", " ".join([".venv/bin/python", *sys.argv]))

    import torch

    from ramen.problems import split_problems

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    bundled, train = split_problems()
    tokenizers, data = tiny.build_data(train)
    tok = tokenizers["judge"]
    pad = tok.convert_tokens_to_ids("<|endoftext|>")
    judge_data, compare_data = data["judge"], data["compare"]
    checks = tiny.hle_judge_cases(tiny.judge_check_problems(bundled))
    tests = tiny.judge_eval_cases(bundled)["hle"]

    t0 = time.time()
    model = tiny._new_model(tok, tiny.SEED + 2)
    tiny._train(model, compare_data, args.compare_steps, tiny.SEED + 3, pad, print, "compare")
    print(f"compare: {args.compare_steps} steps in {time.time() - t0:.0f} s")

    def check(step: int) -> bool:
        if step >= args.first_check:
            right = tiny.judge_agreement(model, tok, checks)
            held = tiny.judge_agreement(model, tok, tests)
            print(
                f"judge step {step}: validation {right}/{len(checks)}, "
                f"test cases {held}/{len(tests)} ({time.time() - t0:.0f} s)",
                flush=True,
            )
        return False

    tiny._train(
        model, judge_data, args.judge_steps, tiny.SEED + 2, pad, print, "judge",
        check=check, check_every=tiny.JUDGE_CHECK_EVERY,
    )  # fmt: skip


if __name__ == "__main__":
    main()
