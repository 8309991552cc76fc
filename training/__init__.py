"""Training: TRL SFT and DPO (full parameters with DeepSpeed ZeRO, or LoRA with PEFT), LoRA
export, and the offline builder of the tiny model family. Imports neither curation nor evaluation."""
