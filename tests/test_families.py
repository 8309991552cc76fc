"""Every reasoning-model family: a training row is rendered by the family's own chat template
(the real ones TRL ships) exactly as the model generates it: the generation prompt, then the
turn with its reasoning once, where the template reads it, then the end-of-turn token, or
nothing after the reasoning for a turn cut off by the token budget."""

import copy

import pytest
from families import FAMILIES, dress, end_of_turn

from ramen.errors import UserError
from ramen.testing import tiny_build
from ramen.turns import (
    SHAPES,
    RowError,
    TrainingRenderer,
    Turn,
    assistant_message,
    read_turn,
    tokenize_row,
)

pytestmark = pytest.mark.unit

PROMPT = [{"role": "user", "content": "What is 17 + 25?"}]
STOPPED = Turn("17 + 25: 7 + 5 = 12, carry 1, so 42.", "Answer: 42")
CUT = Turn("17 + 25: 7 + 5 = 12, carry", None)


@pytest.fixture(scope="module")
def corpus_tokenizer():
    return tiny_build.build_tokenizer(["What is 17 + 25? Answer: 42 carry think"] * 4)


def renderer(tokenizer, family):
    return TrainingRenderer(dress(copy.deepcopy(tokenizer), family), family)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_finished_turn_renders_as_generated(corpus_tokenizer, family):
    r = renderer(corpus_tokenizer, family)
    prompt = r.prompt(PROMPT)
    completion = r.completion(PROMPT, STOPPED, prompt)
    assert completion.count(STOPPED.reasoning) == 1
    assert completion.index(STOPPED.reasoning) < completion.index(STOPPED.content)
    assert completion.endswith(end_of_turn(family)), (family, completion)
    assert completion.count(end_of_turn(family)) == 1
    # one reasoning block: no empty block before it (Qwen3.8 given inline text) ...
    assert (prompt + completion).count("<think>") <= 1
    # ... and the prompt is the generation prompt of the model's own template
    own = r.tokenizer.apply_chat_template(PROMPT, tokenize=False, add_generation_prompt=True)
    assert prompt == own


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_cut_off_turn_ends_where_generation_stopped(corpus_tokenizer, family):
    r = renderer(corpus_tokenizer, family)
    completion = r.completion(PROMPT, CUT)
    assert completion.endswith(CUT.reasoning), (family, completion)
    assert end_of_turn(family) not in completion
    finished = r.completion(PROMPT, STOPPED)
    assert finished.startswith(completion[: completion.index(CUT.reasoning)])


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("turn", [STOPPED, CUT], ids=["stopped", "cut"])
def test_the_stored_message_reads_back_as_the_same_turn(corpus_tokenizer, family, turn):
    r = renderer(corpus_tokenizer, family)
    assert read_turn(r.message(turn)) == turn
    for shape in SHAPES:  # whatever shape a dataset was written in
        assert read_turn(assistant_message(turn, shape)) == turn


def test_each_family_gets_the_shape_its_template_reads(corpus_tokenizer):
    got = {f: renderer(corpus_tokenizer, f).describe() for f in FAMILIES}
    assert got["gptoss"]["shape"] == "thinking"  # the analysis channel
    assert got["qwen3_8"]["shape"] != "inline"  # inline text renders an empty block first
    assert got["deepseek_r1_distill"]["template"] == "trl"  # the original drops the reasoning
    assert got["deepseek_r1_distill"]["shape"] == "inline"
    assert got["qwen3-thinking-2507"]["template"] == "original"  # TRL has no variant; none needed


def test_gpt_oss_reasoning_goes_to_the_analysis_channel(corpus_tokenizer):
    r = renderer(corpus_tokenizer, "gptoss")
    completion = r.completion(PROMPT, STOPPED)
    analysis, final = completion.split("<|channel|>final<|message|>")
    assert analysis.startswith("<|channel|>analysis<|message|>")
    assert STOPPED.reasoning in analysis and STOPPED.reasoning not in final
    assert "<think>" not in completion and final == "Answer: 42<|return|>"


def test_a_template_that_drops_the_reasoning_is_one_error(corpus_tokenizer):
    tok = dress(copy.deepcopy(corpus_tokenizer), "qwen3")
    tok.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n"
        "{{ m.content.split('</think>')[-1].strip() }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    r = TrainingRenderer(tok, "base")
    assert r.completion(PROMPT, Turn("", "Answer: 42")) == "Answer: 42<|im_end|>"
    with pytest.raises(UserError, match=r"models\.base\.training_chat_template"):
        r.completion(PROMPT, STOPPED)
    fixed = TrainingRenderer(tok, "base", training_template="qwen3_training")
    assert fixed.describe()["template"] == "recipe"
    assert STOPPED.reasoning in fixed.completion(PROMPT, STOPPED)


@pytest.mark.parametrize("family", ["qwen3-thinking-2507", "gptoss", "deepseek_r1_distill"])
def test_sft_loss_falls_on_the_generated_turn_only(corpus_tokenizer, family):
    r = renderer(corpus_tokenizer, family)
    row = {"messages": [*PROMPT, r.message(STOPPED)]}
    tokens = tokenize_row(row, "sft", r)
    ids, mask = tokens["input_ids"], tokens["completion_mask"]
    decode = lambda xs: r.tokenizer.decode(xs, skip_special_tokens=False)  # noqa: E731
    assert decode([i for i, m in zip(ids, mask, strict=True) if m]) == r.completion(PROMPT, STOPPED)
    assert decode([i for i, m in zip(ids, mask, strict=True) if not m]) == r.prompt(PROMPT)


def test_dpo_rows_share_the_prompt_and_a_cut_rejected_has_no_end(corpus_tokenizer):
    r = renderer(corpus_tokenizer, "qwen3")
    row = {"prompt": PROMPT, "chosen": [r.message(STOPPED)], "rejected": [r.message(CUT)]}
    tokens = tokenize_row(row, "dpo", r)
    decode = lambda xs: r.tokenizer.decode(xs, skip_special_tokens=False)  # noqa: E731
    assert decode(tokens["prompt_ids"]) == r.prompt(PROMPT)
    assert decode(tokens["chosen_ids"]).endswith("Answer: 42<|im_end|>")
    assert decode(tokens["rejected_ids"]) == "<think>\n" + CUT.reasoning


def test_text_rows_get_the_end_token_as_trl_gives_it(corpus_tokenizer):
    r = renderer(corpus_tokenizer, "qwen3")
    tokens = tokenize_row({"prompt": "Q: 1+1?\n", "completion": "A: 2"}, "sft", r)
    loss = [i for i, m in zip(tokens["input_ids"], tokens["completion_mask"], strict=True) if m]
    assert r.tokenizer.decode(loss, skip_special_tokens=False) == "A: 2<|im_end|>"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "bad_messages"),
        ({"messages": [*PROMPT, {"role": "user", "content": "again"}]}, "no_assistant_turn"),
        ({"question": "x"}, "unknown_row_format"),
        ({"messages": [*PROMPT, {"role": "assistant", "content": None}]}, "cut_off_without_reasoning"),
    ],
)  # fmt: skip
def test_rows_that_cannot_be_rendered_say_why(corpus_tokenizer, row, reason):
    with pytest.raises(RowError) as e:
        tokenize_row(row, "sft", renderer(corpus_tokenizer, "qwen3"))
    assert e.value.reason == reason


# each family's config.json model_type, as the real checkpoints ship it
MODEL_TYPES = {
    "qwen3": "qwen3",
    "qwen3-thinking-2507": "qwen3_moe",
    "qwen3_8": "qwen3",
    "deepseek_r1_distill": "qwen2",
    "gptoss": "gpt_oss",
    "glm4moe": "glm4_moe",
    "nemotron_3_nano": "nemotron_h",
    "gemma4_v5": "gemma4",
}
# the vLLM reasoning parser each family is served with (vLLM's docs and recipes)
VLLM_PARSERS = {
    "qwen3": "qwen3",
    "qwen3-thinking-2507": "qwen3",
    "qwen3_8": "qwen3",
    "deepseek_r1_distill": "deepseek_r1",
    "gptoss": "openai_gptoss",
    "glm4moe": "glm45",
    "nemotron_3_nano": "nemotron_v3",
    "gemma4_v5": "gemma4",
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("turn", [STOPPED, CUT], ids=["stopped", "cut"])
def test_what_the_engine_parses_is_what_training_renders(corpus_tokenizer, family, turn):
    """Round trip through vLLM's own reasoning parser: the text a model generates for a turn
    (the rendered completion without its end token, which vLLM leaves out) is split by the
    parser `reasoning_parser: auto` picks for the family's model type back into the same
    reasoning and answer."""
    from ramen.inference.parsing import OutputParser

    r = renderer(corpus_tokenizer, family)
    generated = r.completion(PROMPT, turn).removesuffix(r.eot)
    parser = OutputParser(r.tokenizer, mtype=MODEL_TYPES[family])
    assert parser.name == VLLM_PARSERS[family]
    prefilled = r.prompt(PROMPT).rstrip().endswith("<think>")
    assert parser.split(generated, prefilled) == (turn.reasoning, turn.content)
    if parser.format is not None and parser.format.opening and not parser.format.harmony:
        # a model that opens its own block but wrote none: all of it is the answer
        assert parser.split("Answer: 42") == ("", "Answer: 42")
    # markers that are special tokens (gpt-oss, Gemma 4) must survive decoding
    assert parser.special == (family in ("gptoss", "gemma4_v5")), parser.name


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_auto_finds_a_parser_without_the_model_type(corpus_tokenizer, family):
    """A model folder without a known model_type still gets a parser that round-trips."""
    from ramen.inference.parsing import OutputParser

    r = renderer(corpus_tokenizer, family)
    parser = OutputParser(r.tokenizer)
    assert parser.name is not None
    generated = r.completion(PROMPT, STOPPED).removesuffix(r.eot)
    assert parser.split(generated) == (STOPPED.reasoning, STOPPED.content)


def test_a_judge_with_thinking_off_gets_no_parser(corpus_tokenizer):
    """With `enable_thinking: false` the generation prompt closes the block: the text is all
    answer. vLLM's qwen3 parser would return that answer as reasoning with no content."""
    from ramen.inference.parsing import OutputParser, vllm_parser

    tok = dress(copy.deepcopy(corpus_tokenizer), "qwen3")
    assert OutputParser(tok).name == "qwen3"
    off = OutputParser(tok, {"enable_thinking": False}, mtype="qwen3")
    assert off.name is None and not off.thinks
    assert off.split("Answer: 4") == ("", "Answer: 4")
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest

    request = ChatCompletionRequest(
        model="m", messages=[], chat_template_kwargs={"enable_thinking": False}
    )
    assert vllm_parser("qwen3", tok).extract_reasoning("Answer: 4", request) == ("Answer: 4", None)


def test_recipe_validation_knows_vllms_parser_names_without_importing_vllm():
    """The names a recipe is checked against at load (read from vLLM's source) are exactly
    those vLLM's registry serves."""
    from vllm.reasoning import ReasoningParserManager

    from ramen.spec import known_reasoning_parsers

    assert known_reasoning_parsers() == set(ReasoningParserManager.list_registered())


def test_a_wrong_or_unknown_parser_is_a_one_line_error_naming_the_key(corpus_tokenizer):
    from ramen.inference.parsing import OutputParser

    tok = dress(copy.deepcopy(corpus_tokenizer), "qwen3")
    with pytest.raises(UserError, match="not a vLLM reasoning parser") as e:
        OutputParser(tok, requested="qwen9", model="m")
    assert e.value.where == "models.m.reasoning_parser"
    with pytest.raises(UserError, match="no vLLM reasoning parser splits") as e:
        OutputParser(tok, requested="gemma4", model="m")  # Gemma's markers on a Qwen3 text
    assert e.value.where == "models.m.reasoning_parser"
    assert OutputParser(tok, requested="none").name is None
    gptoss = dress(copy.deepcopy(corpus_tokenizer), "gptoss")
    with pytest.raises(UserError, match="harmony"):
        OutputParser(gptoss, requested="qwen3", model="m")


def test_harmony_channels_split_into_reasoning_and_answer():
    from ramen.inference.parsing import split_harmony

    text = (
        "<|channel|>analysis<|message|>Add the units.<|end|>"
        "<|start|>assistant<|channel|>commentary<|message|>Carry one.<|end|>"
        "<|start|>assistant<|channel|>final<|message|>Answer: 42"
    )
    assert split_harmony(text) == ("Add the units.\n\nCarry one.", "Answer: 42")
    assert split_harmony("<|channel|>analysis<|message|>Add the") == ("Add the", None)
    # what offline decoding without the special tokens gives: nothing to split, no answer
    assert split_harmony("analysisAdd the units.assistantfinalAnswer: 42") == ("", None)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_trained_model_stops_on_its_family_end_of_turn(corpus_tokenizer, family):
    """The token written into the trained model's EOS is the one the family ends a turn with,
    the same one the training rows end with."""
    from ramen.turns import end_of_turn_token

    tok = dress(copy.deepcopy(corpus_tokenizer), family)
    assert end_of_turn_token(tok) == end_of_turn(family)
    assert renderer(corpus_tokenizer, family).eot.endswith(end_of_turn(family))
