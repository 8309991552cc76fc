"""A gpt-oss checkpoint with its experts in MXFP4, as openai/gpt-oss-* ship them: each expert
matrix stored as `<name>_blocks` (uint8, two 4-bit e2m1 values per byte, 32 values a block)
and `<name>_scales` (uint8, a power-of-two exponent per block, biased by 127), laid out
[experts, rows, blocks, 16] with rows the output dimension; biases, attention, router and
embeddings stay unquantized. Written here from the format's definition (OCP Microscaling,
e2m1 values), so tests can load a quantized checkpoint the way a real one loads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

E2M1 = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)  # the non-negative values of a 4-bit float


def quantize(weight):
    """(blocks, scales, dequantized) of an expert tensor [experts, in, out] as transformers
    holds it: stored transposed, [experts, out, in / 32, 16]."""
    import torch

    w = weight.detach().float().transpose(1, 2).contiguous()  # [E, out, in]
    experts, rows, cols = w.shape
    groups = w.reshape(experts, rows, cols // 32, 32)
    top = groups.abs().amax(dim=-1, keepdim=True).clamp_min(1e-30)
    exponent = torch.ceil(torch.log2(top / 6.0)).clamp(-127, 127)  # max |x| / 2^e <= 6
    scaled = groups / torch.exp2(exponent)
    values = torch.tensor(E2M1)
    index = (scaled.abs().unsqueeze(-1) - values).abs().argmin(dim=-1)  # nearest magnitude
    code = index + 8 * (scaled < 0)  # the sign bit
    code = code.to(torch.uint8).reshape(experts, rows, cols // 32, 16, 2)
    blocks = code[..., 0] | (code[..., 1] << 4)  # even values in the low nibble
    scales = (exponent.squeeze(-1) + 127).to(torch.uint8)
    magnitude = values[index] * torch.exp2(exponent)
    deq = torch.where(scaled < 0, -magnitude, magnitude).reshape(experts, rows, cols)
    return blocks, scales, deq.transpose(1, 2).contiguous()


def write_mxfp4_copy(source: Path, dest: Path) -> dict:
    """Copy a gpt-oss model folder with its experts quantized to MXFP4; returns the
    dequantized expert tensors (what loading it dequantized must give), by parameter name."""
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(source, dest)
    state = load_file(dest / "model.safetensors")
    out, expected = {}, {}
    for name, tensor in state.items():
        if name.endswith(("experts.gate_up_proj", "experts.down_proj")):
            blocks, scales, deq = quantize(tensor)
            out[f"{name}_blocks"], out[f"{name}_scales"] = blocks, scales
            expected[name] = deq.to(torch.bfloat16)
        else:
            out[name] = tensor
    save_file(out, dest / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((dest / "config.json").read_text())
    config["quantization_config"] = {
        "quant_method": "mxfp4",
        "modules_to_not_convert": [
            "model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens",
            "lm_head",
        ],
    }  # fmt: skip
    (dest / "config.json").write_text(json.dumps(config, indent=2))
    return expected
