"""One sampling distribution: every knob resolved once, the same for the offline engine and for
`vllm serve` (which would otherwise fill unset knobs from the model's generation_config)."""

import json

import pytest
from conftest import cli

from ramen.inference.backend import Request
from ramen.inference.client import ServerEngine
from ramen.inference.sampling_params import NEUTRAL, generation_config, resolve, resolved_for
from ramen.spec import EngineSpec, ModelSpec

pytestmark = pytest.mark.unit

QWEN3_LIKE = {"top_k": 20, "top_p": 0.95, "temperature": 0.6, "min_p": 0.0, "do_sample": True}


def _model_dir(tmp_path, config):
    (tmp_path / "generation_config.json").write_text(json.dumps(config))
    return str(tmp_path)


def test_recipe_then_model_then_neutral(tmp_path):
    path = _model_dir(tmp_path, {**QWEN3_LIKE, "repetition_penalty": 1.05})
    spec = ModelSpec(path=path)
    defaults = generation_config(spec, path)
    assert defaults == {"top_k": 20, "min_p": 0.0, "repetition_penalty": 1.05}
    got = resolve({"min_p": 0.1}, defaults)
    assert got == {
        "top_k": 20,  # the model's
        "min_p": 0.1,  # the recipe's
        "repetition_penalty": 1.05,  # the model's
        "presence_penalty": 0.0,  # neither: vLLM's neutral value
        "frequency_penalty": 0.0,
        "skip_special_tokens": True,  # always sent explicitly
    }


def test_generation_defaults_none_ignores_the_model(tmp_path):
    path = _model_dir(tmp_path, QWEN3_LIKE)
    spec = ModelSpec(path=path, generation_defaults="none")
    assert generation_config(spec, path) == {}
    assert resolved_for(spec, path, {}) == {**NEUTRAL, "skip_special_tokens": True}


def test_a_model_without_a_config_or_with_a_broken_one(tmp_path):
    spec = ModelSpec(path=str(tmp_path))
    assert generation_config(spec, str(tmp_path)) == {}
    (tmp_path / "generation_config.json").write_text("{not json")
    assert generation_config(spec, str(tmp_path)) == {}
    assert generation_config(ModelSpec(path="no-such/hub-model"), "no-such/hub-model") == {}


def test_served_bodies_carry_every_resolved_knob_and_endpoints_only_the_set_ones(tmp_path):
    path = _model_dir(tmp_path, QWEN3_LIKE)
    req = Request("p", 0, [{"role": "user", "content": "hi"}], 7, knobs={"top_k": 5})
    served = ModelSpec(path=path, engine=EngineSpec(backend="serve"))
    body = ServerEngine(served, "m", "http://127.0.0.1:1/v1", path=path)._body(req, 10, 7)
    for key, value in resolve({"top_k": 5}, generation_config(served, path)).items():
        assert body[key] == value, key
    endpoint = ModelSpec(
        path="provider/model", engine=EngineSpec(backend="endpoint", url="http://x")
    )
    body = ServerEngine(endpoint, "m", "http://x")._body(req, 10, 7)
    assert body["top_k"] == 5 and "min_p" not in body and "skip_special_tokens" not in body


def test_recipe_knobs_are_validated():
    got = cli(
        "generate", "--model", "tiny:strong", "--input", "x", "--output", "y", "--top-k", "-5"
    )
    assert got.returncode == 2 and "--top-k" in got.stderr


def test_the_knobs_live_beside_temperature_in_every_sampling_section():
    from ramen.curation.config import FilterConfig, SampleConfig
    from ramen.evaluation.config import EvaluationConfig

    for cls in (FilterConfig, SampleConfig, EvaluationConfig):
        assert {"temperature", "top_p", *NEUTRAL} <= set(cls.model_fields), cls


@pytest.mark.parametrize("family", ["qwen3", "gptoss", "gemma4_v5"])
def test_recorded_settings_say_how_the_text_is_decoded(tmp_path, family):
    """Where a family's reasoning markers are special tokens the engines decode with them kept,
    and the recorded settings say so (they said `skip_special_tokens: true` before)."""
    from families import dress

    from ramen.testing import tiny_build

    tok = dress(tiny_build.build_tokenizer(["What is 2 + 2? Answer: 4"] * 4), family)
    tok.save_pretrained(tmp_path)
    path = _model_dir(tmp_path, {})
    spec = ModelSpec(path=path, engine=EngineSpec(backend="serve"))
    recorded = resolved_for(spec, path, {})
    body = ServerEngine(spec, "m", "http://127.0.0.1:1/v1", path=path)._body(
        Request("p", 0, [{"role": "user", "content": "hi"}], 7), 10, 7
    )
    kept = family != "qwen3"
    assert recorded["skip_special_tokens"] is (not kept)
    assert body["skip_special_tokens"] is (not kept)
