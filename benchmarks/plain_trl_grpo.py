"""The plain-TRL side of benchmarks/grpo_overhead.py: the same GRPO run as ramen's train stage,
written the way a TRL user would (GRPOConfig + GRPOTrainer, conversational prompts that TRL
renders itself), with the same reward function (ramen's grader, training/reward.py, logging
every rollout to OUT/rewards.jsonl as ramen's train stage does).

    accelerate launch --config_file ACCEL.yaml benchmarks/plain_trl_grpo.py MODEL DATA OUT STEPS [DTYPE]
"""

import json
import sys
from pathlib import Path

import torch
from datasets import load_dataset
from transformers import AutoTokenizer
from trl import GRPOConfig, GRPOTrainer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ramen.inference.parsing import OutputParser  # noqa: E402
from ramen.training.reward import GraderReward  # noqa: E402

model, data, out, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
dtype = sys.argv[5] if len(sys.argv) > 5 else "float32"
gpu = torch.cuda.is_available()
tokenizer = AutoTokenizer.from_pretrained(model)
tokenizer.eos_token = "<|im_end|>"
dataset = load_dataset("json", data_files=data, split="train")
dataset = dataset.map(
    lambda r: {"prompt": [{"role": "user", "content": r["question"]}], "problem_id": str(r["id"])}
)
# the same reward function as ramen's, logging each rollout as ramen's does (the benchmark
# compares the two logs: the same completions mean the two loops did the same work)
parser = OutputParser(tokenizer, {}, "auto", "strong", "qwen3")
reward = GraderReward(tokenizer, parser, Path(out) / "rewards.jsonl")
args = GRPOConfig(
    output_dir=out,
    max_steps=steps,
    per_device_train_batch_size=8,
    num_generations=8,
    max_completion_length=64,
    learning_rate=1e-5,
    beta=0.0,
    logging_steps=1,
    save_strategy="no",
    report_to="none",
    use_cpu=not gpu,
    bf16=gpu,
    seed=0,
    model_init_kwargs={"dtype": dtype},
)
trainer = GRPOTrainer(
    model=model, reward_funcs=[reward], args=args, train_dataset=dataset, processing_class=tokenizer
)
trainer.train()
trainer.save_model(out + "/model")  # a real script keeps what it trained
runtime = max(h.get("train_runtime", 0) for h in trainer.state.log_history)
# each step's time as TRL measures it (ramen's metrics.jsonl holds the same): the benchmark
# compares the two sides step by step
steps_file = Path(out) / "step_times.json"
steps_file.write_text(
    json.dumps([h["step_time"] for h in trainer.state.log_history if "step_time" in h])
)
print(f"PLAIN steps={trainer.state.global_step} train_runtime={runtime}", flush=True)
