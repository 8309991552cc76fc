"""The plain-TRL side of benchmarks/training_overhead.py: the same SFT run as ramen's train
stage, written the way a TRL user would (SFTConfig + SFTTrainer, nothing else).

    accelerate launch --config_file ACCEL.yaml benchmarks/plain_trl_sft.py MODEL DATA OUT STEPS [DTYPE [SAVE_STEPS]]

On a GPU it trains in bf16 (as ramen does there), on CPU in the model's dtype. SAVE_STEPS > 0
saves a checkpoint every that many steps, keeping the last 2 (ramen's default schedule); 0
(the default) saves none.
"""

import sys

import torch
from datasets import load_dataset
from transformers import AutoTokenizer
from trl import SFTConfig, SFTTrainer

model, data, out, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
dtype = sys.argv[5] if len(sys.argv) > 5 else "float32"
save_steps = int(sys.argv[6]) if len(sys.argv) > 6 else 0
gpu = torch.cuda.is_available()
tokenizer = AutoTokenizer.from_pretrained(model)
dataset = load_dataset("json", data_files=data, split="train")
args = SFTConfig(
    output_dir=out,
    max_steps=steps,
    per_device_train_batch_size=8,
    learning_rate=1e-4,
    logging_steps=1,
    save_strategy="steps" if save_steps else "no",
    save_steps=save_steps or 500,
    save_total_limit=2,
    report_to="none",
    use_cpu=not gpu,
    bf16=gpu,
    assistant_only_loss=True,
    eos_token="<|im_end|>",
    seed=0,
    model_init_kwargs={"dtype": dtype},
)
trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
trainer.train()
trainer.save_model(out + "/model")  # a real script keeps what it trained
tokenizer.save_pretrained(out + "/model")
tokens = max(h.get("num_tokens", 0) for h in trainer.state.log_history)
runtime = max(h.get("train_runtime", 0) for h in trainer.state.log_history)
saves = steps // save_steps if save_steps else 0  # the Trainer saves at each multiple
print(f"PLAIN tokens={tokens} train_runtime={runtime} saves={saves}", flush=True)
