"""Planning a recipe at its models' real shapes before anything runs (`ramen plan`): per stage,
the devices it uses, memory per GPU and per node, disk, tokens and time, and whether it fits.

- shapes.py: a model's shape from its own config.json (a local folder, a snapshot in the
  Hugging Face cache) or a bundled table of public config facts; parameter counts from the
  real transformers class instantiated on the meta device (nothing allocated, nothing
  downloaded).
- training.py: model states by DeepSpeed's own ZeRO estimators; activations and logits by a
  fake-tensor training step of the real class (PyTorch's MemTracker), a few layers simulated
  and extrapolated per layer.
- generation.py: vLLM by arithmetic: weights per GPU, KV-cache tokens, replicas.
- plan.py: the recipe's stages planned on its `launch:` allocation, the table, and the gate
  that `ramen validate` and `ramen launch --dry-run` run.
"""
