"""The plan's simulated training step against the same step measured on a GPU (issue 34).

    python benchmarks/gpu/plan_vs_measured.py                 # on one H100 or H200, < 8 min
    python benchmarks/gpu/plan_vs_measured.py --device cpu --small   # the same code on CPU

For each case, one training step (forward with labels, backward, gradient checkpointing on,
bf16) of the model's real transformers class, twice: simulated as `ramen plan` simulates it
(FakeTensorMode, ramen/planning/training.py `_step`) and run for real on the device; both
tracked by PyTorch's MemTracker, whose activations + temporaries at the peak are compared.
`torch.cuda.max_memory_allocated` is printed beside them. Cases: a Qwen3-235B-A22B-shaped
model cut to one decoder layer (its embedding, 128 experts of which 8 active, LM head: 3.73e9
parameters, random weights) at 4k, 8k and 16k tokens, and a DPO-shaped step ([chosen;
rejected] as one batch of 2) of a small dense model. The step uses the model's own loss
(TRL, with its fused LM head, is not on the GPU image; the CPU calibration test in
tests/test_plan.py compares the fused head with TRL's real trainer).

Needs torch and transformers only (and ramen's planning modules from this checkout); writes
$OUT/plan_vs_measured.json when $OUT is set. Record its table in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # ramen from this checkout

from ramen.planning.training import _step  # noqa: E402

BIG = {  # Qwen3-235B-A22B's public config facts (ramen/data/model_configs.json), 1 layer
    "model_type": "qwen3_moe", "hidden_size": 4096, "intermediate_size": 12288,
    "moe_intermediate_size": 1536, "num_hidden_layers": 1, "num_attention_heads": 64,
    "num_key_value_heads": 4, "head_dim": 128, "num_experts": 128, "num_experts_per_tok": 8,
    "vocab_size": 151936, "max_position_embeddings": 262144, "tie_word_embeddings": False,
}  # fmt: skip
DENSE = {  # a small dense Qwen3 for the DPO-shaped step
    "model_type": "qwen3", "hidden_size": 1024, "intermediate_size": 3072,
    "num_hidden_layers": 4, "num_attention_heads": 16, "num_key_value_heads": 8,
    "head_dim": 64, "vocab_size": 151936, "max_position_embeddings": 40960,
}  # fmt: skip
SMALL_BIG = {**BIG, "hidden_size": 256, "intermediate_size": 512, "moe_intermediate_size": 64,
             "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64,
             "num_experts": 16, "num_experts_per_tok": 4, "vocab_size": 4096}  # fmt: skip
SMALL_DENSE = {**DENSE, "hidden_size": 128, "intermediate_size": 256, "num_attention_heads": 4,
               "num_key_value_heads": 2, "head_dim": 32, "vocab_size": 4096}  # fmt: skip


def measured(config: dict, batch: int, tokens: int, device: str) -> dict:
    import torch
    from torch.distributed._tools.mem_tracker import MemTracker
    from transformers import AutoModelForCausalLM

    from ramen.planning.shapes import hf_config

    cfg = hf_config(config)
    cfg.use_cache = False
    torch.manual_seed(0)
    experts = {"experts_implementation": "grouped_mm"} if "num_experts" in config else {}
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16, **experts).to(device)
    model.gradient_checkpointing_enable()
    model.train()
    ids = torch.randint(0, config["vocab_size"], (batch, tokens), device=device)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated() if device == "cuda" else 0
    tracker = MemTracker()
    tracker.track_external(model)
    start = time.time()
    with tracker:
        model(input_ids=ids, labels=ids).loss.backward()
    if device == "cuda":
        torch.cuda.synchronize()
    peak = {
        str(k).rsplit(".", 1)[-1]: v
        for k, v in next(iter(tracker.get_tracker_snapshot("peak").values())).items()
    }
    out = {
        "activations_and_temporaries": peak.get("ACT", 0) + peak.get("TEMP", 0),
        "seconds": round(time.time() - start, 2),
    }
    if device == "cuda":
        out["max_memory_allocated_over_weights"] = torch.cuda.max_memory_allocated() - before
    del model
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--small", action="store_true", help="small shapes (the CPU check)")
    parser.add_argument("--lengths", default="4096,8192,16384")
    args = parser.parse_args()
    big, dense = (SMALL_BIG, SMALL_DENSE) if args.small else (BIG, DENSE)
    lengths = [int(x) for x in args.lengths.split(",")]
    if args.small:
        lengths = [512, 1024]
    cases = [("235B-shaped MoE, 1 layer, SFT", big, 1, n) for n in lengths]
    cases.append(("dense, DPO-shaped [2, n]", dense, 2, lengths[0]))
    print(f"reproduce: python {' '.join(sys.argv)}")
    print(f"{'case':40s} {'tokens':>7s} {'planned GiB':>12s} {'measured GiB':>13s} {'ratio':>6s}")
    rows = []
    for name, config, batch, n in cases:
        planned = sum(_step(json.dumps(config, sort_keys=True), config["num_hidden_layers"],
                            batch, n, True, "sft", "bfloat16", False))  # fmt: skip
        real = measured(config, batch, n, args.device)
        ratio = planned / real["activations_and_temporaries"]
        rows.append({"case": name, "tokens": n, "batch": batch, "planned": planned, **real,
                     "ratio": round(ratio, 3)})  # fmt: skip
        print(f"{name:40s} {n:7d} {planned / 2**30:12.2f} "
              f"{real['activations_and_temporaries'] / 2**30:13.2f} {ratio:6.3f}")  # fmt: skip
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "plan_vs_measured.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
