"""Time one training step of the tiny judge as ramen/testing/tiny_build.py runs it (`_backward`: two
length-sorted halves, no attention mask) against the plain way (the whole batch padded to its
longest row, with an attention mask), on the same random batches of the judge's training set.
Both give the same gradient (tests/test_training.py checks it); this prints the time ratio.

    .venv/bin/python benchmarks/tiny_train_step.py --steps 10
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ramen.testing import tiny_build  # noqa: E402


def padded_masked(model, batch, pad: int) -> None:
    import torch

    width = max(len(x) for x, _, _ in batch)
    ids = torch.full((len(batch), width), pad)
    labels = torch.full((len(batch), width), -100)
    weights = torch.zeros((len(batch), width))
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, (x, y, w) in enumerate(batch):
        ids[i, : len(x)], labels[i, : len(y)] = torch.tensor(x), torch.tensor(y)
        weights[i, : len(w)], mask[i, : len(x)] = torch.tensor(w), 1
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    per_token = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1), reduction="none"
    ).view_as(weights[:, 1:])
    ((per_token * weights[:, 1:]).sum() / weights[:, 1:].sum().clamp(min=1.0)).backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    print("command:", " ".join([".venv/bin/python", *sys.argv]))
    import torch

    from ramen.testing.problems import split_problems

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    _, train = split_problems()
    tokenizers, data = tiny_build.build_data(train)
    pad = tokenizers["judge"].convert_tokens_to_ids("<|endoftext|>")
    model = tiny_build._new_model(tokenizers["judge"], 0)
    rng = random.Random(0)
    batches = [
        [data["judge"][rng.randrange(len(data["judge"]))] for _ in range(tiny_build.BATCH)]
        for _ in range(args.steps)
    ]
    seconds = {}
    for name, step in (
        ("plain (padded, masked)", padded_masked),
        ("ramen (two halves, no mask)", tiny_build._backward),
    ):
        step(model, batches[0], pad)  # warm-up
        model.zero_grad()
        t0 = time.perf_counter()
        for batch in batches:
            step(model, batch, pad)
            model.zero_grad()
        seconds[name] = (time.perf_counter() - t0) / len(batches)
        print(f"{name}: {seconds[name]:.3f} s per judge step (batch {tiny_build.BATCH})")
    plain, ours = seconds.values()
    print(f"ratio plain / ramen: {plain / ours:.2f}x")


if __name__ == "__main__":
    main()
