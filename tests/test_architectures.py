"""The architectures users train, at tiny size (docs/families.md, "Architectures"): what LoRA
adapts on a mixture of experts, `reasoning_effort` reaching vLLM's harmony rendering on both
backends, vLLM engine arguments for MoE serving, and quantized checkpoints that must be
dequantized to train. The models' runs through every stage are tests/test_architectures_e2e.py.
"""

import copy
import json

import pytest
from conftest import cli
from families import dress

from ramen.spec import ModelSpec, engine_flags
from ramen.testing import tiny_build

pytestmark = pytest.mark.unit


def _meta_peft(config, **lora):
    """PEFT's own LoRA model of an architecture, on the meta device (nothing allocated)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
        return get_peft_model(model, LoraConfig(r=4, task_type="CAUSAL_LM", **lora))


def _qwen3_moe():
    from transformers import Qwen3MoeConfig

    return Qwen3MoeConfig(
        vocab_size=256, hidden_size=64, intermediate_size=128, moe_intermediate_size=64,
        num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=32,
        num_experts=4, num_experts_per_tok=2,
    )  # fmt: skip


def _gpt_oss():
    from transformers import GptOssConfig

    return GptOssConfig(
        vocab_size=256, hidden_size=64, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=32, num_local_experts=4,
        num_experts_per_tok=2,
    )  # fmt: skip


def test_lora_on_qwen3_moe_says_it_adapts_attention_router_and_experts():
    from ramen.training.run import adapted_groups

    got = adapted_groups(_meta_peft(_qwen3_moe(), target_modules="all-linear"))
    # per group, each target with the number of layers it was adapted in (2 layers)
    assert got["adapted"] == {
        "attention": {"k_proj": 2, "o_proj": 2, "q_proj": 2, "v_proj": 2},
        "experts": {"experts.down_proj": 2, "experts.gate_up_proj": 2},
        "router": {"gate": 2},
    }
    assert got["frozen"] == []


def test_lora_on_gpt_oss_says_all_linear_leaves_the_experts_and_router_frozen():
    from ramen.training.run import adapted_groups

    got = adapted_groups(_meta_peft(_gpt_oss(), target_modules="all-linear"))
    assert list(got["adapted"]) == ["attention"]
    assert got["frozen"] == ["experts", "router"]
    fused = ["mlp.experts.gate_up_proj", "mlp.experts.down_proj"]
    got = adapted_groups(
        _meta_peft(_gpt_oss(), target_modules="all-linear", target_parameters=fused)
    )
    assert got["adapted"]["experts"] == {"experts.down_proj": 2, "experts.gate_up_proj": 2}
    assert got["frozen"] == ["router"]


def test_lora_on_a_dense_model_names_attention_and_mlp():
    from transformers import Qwen3Config

    from ramen.training.run import adapted_groups

    config = Qwen3Config(
        vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=32,
    )  # fmt: skip
    got = adapted_groups(_meta_peft(config, target_modules=["q_proj", "v_proj"]))
    assert got["adapted"] == {"attention": {"q_proj": 2, "v_proj": 2}}
    assert got["frozen"] == ["mlp"]


# --------------------------------------------------------------------------- reasoning effort


def _harmony_prompt(body: dict) -> str:
    """The prompt `vllm serve` renders for a gpt-oss chat request: vLLM's own request model and
    harmony functions (what its chat endpoint calls for model type gpt_oss), decoded."""
    from openai_harmony import HarmonyEncodingName, load_harmony_encoding
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
    from vllm.entrypoints.openai.parser.harmony_utils import (
        build_harmony_preamble,
        parse_chat_inputs_to_harmony_messages,
        render_for_completion,
    )

    request = ChatCompletionRequest(**body)
    messages = build_harmony_preamble(reasoning_effort=request.reasoning_effort)
    messages += parse_chat_inputs_to_harmony_messages(list(request.messages))
    ids = render_for_completion(messages)
    return load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS).decode(ids)


def test_reasoning_effort_reaches_vllms_harmony_rendering_as_the_request_field():
    spec = ModelSpec(path="openai/gpt-oss-120b", reasoning_effort="high")
    body = {"model": "oss", "messages": [{"role": "user", "content": "What is 2 + 3?"}]}
    prompt = _harmony_prompt({**body, **spec.request_fields()})
    assert "Reasoning: high" in prompt and "What is 2 + 3?" in prompt
    # the way recipes used to say it, as a template argument, never reaches harmony's rendering:
    # vLLM renders its default effort
    ignored = _harmony_prompt({**body, "chat_template_kwargs": {"reasoning_effort": "high"}})
    assert "Reasoning: high" not in ignored and "Reasoning: medium" in ignored


def test_reasoning_effort_reaches_gpt_oss_template_offline_and_in_training():
    from ramen.inference.backend import ChatRenderer

    tokenizer = dress(copy.deepcopy(tiny_build.build_tokenizer(["What is 2 + 3?"] * 4)), "gptoss")
    for effort in ("low", "high"):
        spec = ModelSpec(path="openai/gpt-oss-120b", reasoning_effort=effort)
        text, _ = ChatRenderer(tokenizer, spec.template_kwargs()).render(
            [{"role": "user", "content": "What is 2 + 3?"}]
        )
        assert f"Reasoning: {effort}\n" in text and text.endswith("<|start|>assistant")


def test_reasoning_effort_as_a_template_argument_is_refused_in_one_line(tmp_path):
    got = cli(
        "validate", "recipes/tiny.yaml", "models.strong.chat_template_kwargs.reasoning_effort=high"
    )
    assert got.returncode == 2
    assert got.stderr.count("\n") == 1 and "models.strong.reasoning_effort" not in got.stderr
    assert "use the model's own `reasoning_effort` key" in got.stderr


def test_a_new_knob_left_at_its_default_reruns_nothing():
    """Keys added after users finished runs count in a stage's hash only once set."""
    from ramen.stage import dump

    plain = ModelSpec(path="tiny:strong")
    assert "reasoning_effort" not in dump(plain) and "reasoning_effort" in plain.model_dump()
    assert dump(ModelSpec(path="tiny:strong", reasoning_effort="low"))["reasoning_effort"] == "low"
    assert "args" not in dump(plain)["engine"]


# --------------------------------------------------------------------------- engine arguments


def test_engine_args_reach_vllm_serve_as_flags_and_the_offline_engine_as_keywords():
    from ramen.inference.server import VLLMServer, check_engine_values

    args = {"enable_expert_parallel": True, "kv_cache_dtype": "fp8", "enable_prefix_caching": False}
    spec = ModelSpec(path="tiny:moe", engine={"args": args})
    cmd = VLLMServer(spec, "/models/moe", "moe").command(ray=False, gpu=True)
    assert cmd[-4:] == [
        "--enable-expert-parallel", "--kv-cache-dtype", "fp8", "--no-enable-prefix-caching",
    ]  # fmt: skip
    assert engine_flags({"cuda_graph_sizes": [1, 2]}) == ["--cuda-graph-sizes", "1", "2"]
    # vLLM's own parser takes them, and names what it refuses
    assert check_engine_values(args) is None
    assert "invalid choice: 'fp9'" in check_engine_values({"kv_cache_dtype": "fp9"})


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ("models.strong.engine.args.enable_expert_paralel=true",
         "'enable_expert_paralel' is not a vLLM engine argument; did you mean "
         "'enable_expert_parallel'?"),
        ("models.strong.engine.args.max_model_len=8",
         "'max_model_len' is set by ramen from models.<m>.max_model_len; set it there"),
    ],
)  # fmt: skip
def test_a_bad_engine_arg_is_one_line_naming_the_key(override, says):
    got = cli("validate", "recipes/tiny.yaml", override)
    assert got.returncode == 2 and got.stderr.count("\n") == 1, got.stderr
    assert "models.strong.engine.args" in got.stderr and says in got.stderr


def test_validate_runs_vllms_parser_on_engine_arg_values():
    got = cli("validate", "recipes/tiny.yaml", "models.strong.engine.args.kv_cache_dtype=fp9")
    assert got.returncode == 2
    assert "models.strong.engine.args: vLLM says: argument --kv-cache-dtype" in got.stderr


# --------------------------------------------------------------------------- quantized bases


def _checkpoint(tmp_path, quantization: dict | None):
    config = _gpt_oss().to_dict()
    if quantization is not None:
        config["quantization_config"] = quantization
    (tmp_path / "config.json").write_text(json.dumps(config))
    return str(tmp_path)


def test_a_quantized_base_is_refused_before_training_unless_dequantized(tmp_path):
    from ramen.errors import UserError
    from ramen.training.config import TrainingStep
    from ramen.training.stage import quantized_base

    spec = ModelSpec(path="openai/gpt-oss-120b", dtype="bfloat16")
    mxfp4 = {"quant_method": "mxfp4", "modules_to_not_convert": ["model.layers.*.self_attn"]}
    path = _checkpoint(tmp_path, mxfp4)
    step = TrainingStep(method="dpo")
    with pytest.raises(UserError) as err:
        quantized_base(path, spec, step, "oss", 0)
    assert str(err.value).startswith("training.dequantize: models.oss")
    assert "mxfp4-quantized" in str(err.value) and "set training.dequantize: true" in str(err.value)
    got = quantized_base(path, spec, TrainingStep(method="dpo", dequantize=True), "oss", 0)
    assert got["quant_method"] == "mxfp4" and got["dequantize"] is True
    # what the trainer gives transformers: its own MXFP4 config, dequantizing on load
    from transformers.quantizers.auto import AutoQuantizationConfig

    config = AutoQuantizationConfig.from_dict(got)
    assert type(config).__name__ == "Mxfp4Config" and config.dequantize is True
    plain = tmp_path / "plain"
    plain.mkdir()
    assert quantized_base(_checkpoint(plain, None), spec, step, "oss", 0) is None


def test_the_plan_spreads_experts_over_data_parallel_replicas_with_expert_parallel():
    """vLLM's expert parallelism: each GPU holds the dense part / TP and the experts / (TP x DP)
    (the dense part and the experts as the model's own meta-device count splits them)."""
    from ramen.planning.generation import serving
    from ramen.planning.shapes import shape_of

    shape = shape_of("Qwen/Qwen3-30B-A3B-Thinking-2507")
    dense = shape.total_params - shape.expert_params
    plain = serving(shape, 2, 1, 32768, 80, 0.9, 4)
    ep = serving(shape, 2, 1, 32768, 80, 0.9, 4, expert_parallel=4)
    assert plain.weights_per_gpu == shape.total_params * 2 / 2
    assert ep.weights_per_gpu == (dense + shape.expert_params / 4) * 2 / 2
    assert ep.kv_tokens > plain.kv_tokens  # the room the experts gave up holds KV cache
