"""Train only the tiny judge (the build's first attempt, ramen/testing/tiny_build.py `_train_judge`) with a
chosen number of comparison and judge steps, and print its agreement with the truth at every
check: on the build's validation cases and on the test's held-out HLE cases (transformers'
greedy generate; tests/test_tiny_models.py checks the built judge under vLLM). It never stops
early; nothing is written. A trial takes 5-13 minutes on 2 cores.

    .venv/bin/python scripts/tiny_judge_trial.py --compare-steps 2000 --judge-steps 400

The tokenizers, data and seeds are the build's (ramen/testing/tiny_build.py build_data, build_family)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ramen.testing import tiny_build  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare-steps", type=int, default=tiny_build.JUDGE_COMPARE_STEPS)
    parser.add_argument("--judge-steps", type=int, default=tiny_build.JUDGE_MAX_STEPS)
    parser.add_argument("--first-check", type=int, default=150)
    args = parser.parse_args()
    print("command:", " ".join([".venv/bin/python", *sys.argv]))

    import torch

    from ramen.testing.problems import split_problems

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    bundled, train = split_problems()
    tokenizers, data = tiny_build.build_data(train)
    tok = tokenizers["judge"]
    checks = tiny_build.hle_judge_cases(tiny_build.judge_check_problems(bundled))
    tests = tiny_build.judge_eval_cases(bundled)["hle"]
    t0 = time.time()

    def on_check(model, step: int) -> None:
        held = tiny_build.judge_agreement(model, tok, tests)
        print(f"judge step {step}: test cases {held}/{len(tests)} ({time.time() - t0:.0f} s)")

    tiny_build._train_judge(
        tok, data, checks, tiny_build.SEED + 2, tok.convert_tokens_to_ids("<|endoftext|>"), print,
        compare_steps=args.compare_steps, first_check=args.first_check,
        max_steps=args.judge_steps, target=None, on_check=on_check,
    )  # fmt: skip


if __name__ == "__main__":
    main()
