"""Reading what a model generated: its reasoning and its answer, apart.

`OutputParser` splits generated text with vLLM's reasoning parser for the model's family
(chosen and checked on a probe turn rendered by the model's own template, see
`ramen.turns`); gpt-oss harmony is split by channel; `split_think` is the `</think>` split of
templates without a parser. Used by every backend (`ramen.inference.engine`), the GRPO reward
and the training checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ramen.errors import UserError
from ramen.turns import PROBE_CONTENT, PROBE_REASONING, PROBE_USER, TrainingRenderer, Turn

_HARMONY_MESSAGE = re.compile(
    r"<\|channel\|>(\w+)[^<]*(?:<\|constrain\|>[^<]*)?<\|message\|>(.*?)"
    r"(?=<\|end\|>|<\|start\|>|<\|return\|>|<\|call\|>|$)",
    re.S,
)


def split_harmony(text: str) -> tuple[str, str | None]:
    """(reasoning, final content) of harmony output (gpt-oss) decoded with its special
    tokens: the analysis (and commentary) messages are the reasoning, the final channel the
    content; None when the text has no final channel (cut off while reasoning)."""
    reasoning, final = [], None
    for channel, body in _HARMONY_MESSAGE.findall(text):
        if channel == "final":
            final = body
        else:
            reasoning.append(body.strip())
    return "\n\n".join(r for r in reasoning if r), (None if final is None else final.strip())


@dataclass(frozen=True)
class OutputFormat:
    """How a model writes a turn, read off its chat template by rendering a probe turn: the
    marker that opens its reasoning (empty when the generation prompt already holds it), the
    marker between reasoning and answer, and whether these are special tokens (then decoding
    must keep special tokens, or the markers vanish and reasoning and answer run together)."""

    opening: str
    separator: str
    special: bool

    @property
    def harmony(self) -> bool:
        return "<|channel|>" in self.separator


def output_format(tokenizer: Any, template_kwargs: dict | None = None) -> OutputFormat | None:
    """The OutputFormat of a model's template, or None when its turns carry no reasoning block
    (no template, a judge run with thinking off, or a template that drops the reasoning from
    a rendered turn, as DeepSeek-R1-distill's does: its text is split at `</think>`). Read off
    the template generation uses; TRL (slow to import) is not needed."""
    try:
        renderer = TrainingRenderer(tokenizer, "model", template_kwargs, trl_variant=False)
    except UserError:
        return None
    if not renderer.reasoning_kept:
        return None
    probe = [{"role": "user", "content": PROBE_USER}]
    completion = renderer.completion(probe, Turn(PROBE_REASONING, PROBE_CONTENT))
    r = completion.index(PROBE_REASONING)
    c = completion.index(PROBE_CONTENT, r)
    opening, separator = completion[:r].strip(), completion[r + len(PROBE_REASONING) : c].strip()
    if not separator:
        return None
    specials = [t for t in tokenizer.all_special_tokens if t]
    special = any(t in opening or t in separator for t in specials)
    return OutputFormat(opening, separator, special)


# --------------------------------------------------------------------------- reasoning parsers

# `models.<m>.reasoning_parser: auto` tries, in order: the vLLM parser of the model's type
# (config.json), the parser named by the template's markers, then the generic `<think>`
# parsers. The first that splits the model's own probe turn (finished, and cut off) back into
# its reasoning and answer is used; a table entry is a first guess the probe confirms or not.
PARSER_BY_MODEL_TYPE = {
    "qwen3": "qwen3",
    "qwen3_moe": "qwen3",
    "qwen3_next": "qwen3",
    "qwen2": "deepseek_r1",  # DeepSeek-R1 distills are Qwen2 models
    "deepseek_v3": "deepseek_r1",
    "glm4_moe": "glm45",
    "nemotron_h": "nemotron_v3",
    "gemma4": "gemma4",
    "gpt_oss": "openai_gptoss",
}
GENERIC_PARSERS = ("qwen3", "deepseek_r1")
# vLLM's gpt-oss parser only finds the end of the analysis channel; vLLM parses harmony output
# with openai_harmony, whose encoding file is a download. ramen splits harmony by channel.
HARMONY_PARSER = "openai_gptoss"


def model_type(path: str | Path | None) -> str | None:
    """`model_type` of a local model folder's config.json (None when not at hand)."""
    import json

    try:
        return json.loads((Path(path) / "config.json").read_text()).get("model_type")
    except (OSError, ValueError, TypeError):
        return None


def vllm_parser(name: str, tokenizer: Any) -> Any:
    """An instance of vLLM's reasoning parser `name` (UserError when vLLM has none)."""
    from vllm.reasoning import ReasoningParserManager

    try:
        return ReasoningParserManager.get_reasoning_parser(name)(tokenizer)
    except KeyError:
        known = ", ".join(sorted(ReasoningParserManager.list_registered()))
        raise UserError(
            f"'{name}' is not a vLLM reasoning parser; use auto, none or one of {known}"
        ) from None


class OutputParser:
    """Reads what a model generated: its reasoning and its answer, apart.

    The split is vLLM's reasoning parser for the model's family (`reasoning_parser: auto`
    chooses it, checked on a probe turn rendered by the model's own template), the parser
    `vllm serve --reasoning-parser` would run. ramen runs it on the raw text on both backends
    (a `vllm serve` it starts gets no `--reasoning-parser`): a server that splits returns the
    parts stripped of the markers and whitespace between them, and training needs the exact
    text the model wrote (curation/training_sets.py checks each turn renders back to it). ramen keeps
    three decisions to itself, where a parser alone would be wrong:
    - a model that does not reason under this template (a judge with `enable_thinking:
      false`: the generation prompt closes the block) gets no parser; its text is all answer
      (vLLM's qwen3 parser would return such an answer as reasoning and no content);
    - a model that opens its own reasoning block (Qwen3 hybrid) but wrote none: its text is
      all answer (a parser would call it reasoning, with no answer);
    - gpt-oss harmony is split by channel (`split_harmony`).
    A turn cut off inside its reasoning has no answer (None), as with vLLM's parsers.
    `name` is the parser used (None: ramen's `</think>` split), `special` whether decoding
    must keep special tokens (the markers are special tokens: gpt-oss, Gemma 4).
    """

    def __init__(
        self,
        tokenizer: Any,
        template_kwargs: dict | None = None,
        requested: str = "auto",
        model: str = "model",
        mtype: str | None = None,
    ):
        self.format = output_format(tokenizer, template_kwargs)
        self.special = bool(self.format and self.format.special)
        self.thinks = self.format is not None or _prompt_opens_think(tokenizer, template_kwargs)
        self.name: str | None = None
        self._parser: Any = None
        if requested == "none" or not self.thinks:
            return
        where = f"models.{model}.reasoning_parser"
        if self.format is not None and self.format.harmony:
            if requested not in ("auto", HARMONY_PARSER):
                raise UserError(
                    f"'{model}' writes harmony channels (gpt-oss); its reasoning_parser is "
                    f"{HARMONY_PARSER} (or auto), not '{requested}'",
                    where=where,
                )
            self.name = HARMONY_PARSER
            return
        stopped, cut = self._probes(tokenizer, template_kwargs)
        if requested != "auto":
            candidates = [requested]
        else:
            marker = (
                "gemma4" if self.format and self.format.opening.startswith("<|channel>") else None
            )
            candidates = list(
                dict.fromkeys(
                    c
                    for c in (PARSER_BY_MODEL_TYPE.get(mtype or ""), marker, *GENERIC_PARSERS)
                    if c
                )
            )
        tried = []
        for name in candidates:
            try:
                parser = vllm_parser(name, tokenizer)
            except UserError as err:
                raise UserError(str(err), where=where) from None
            got = [_parse(parser, text) for text, _ in (stopped, cut)]
            if got == [want for _, want in (stopped, cut)]:
                self.name, self._parser = name, parser
                return
            tried.append(f"{name} gives {got[0]}")
        raise UserError(
            f"no vLLM reasoning parser splits '{model}''s own turn back into its reasoning and "
            f"answer ({'; '.join(tried)}); set {where} to one that does, or none",
            where=where,
        )

    def _probes(self, tokenizer: Any, kwargs: dict | None) -> list[tuple[str, tuple]]:
        """(text, expected split) of the probe turn as the model writes it, finished and cut
        off inside its reasoning."""
        if self.format is not None:
            renderer = TrainingRenderer(tokenizer, "model", kwargs, trl_variant=False)
            probe = [{"role": "user", "content": PROBE_USER}]
            finished = renderer.completion(probe, Turn(PROBE_REASONING, PROBE_CONTENT))
            finished = finished.removesuffix(renderer.eot)
            cut = renderer.completion(probe, Turn(PROBE_REASONING, None))
        else:  # a template that drops the reasoning, its prompt opening `<think>` (R1 distill)
            finished = f"{PROBE_REASONING}\n</think>\n\n{PROBE_CONTENT}"
            cut = PROBE_REASONING
        return [(finished, (PROBE_REASONING, PROBE_CONTENT)), (cut, (PROBE_REASONING, None))]

    def split(self, text: str, prefilled_think: bool = False) -> tuple[str, str | None]:
        """(reasoning, answer) of generated text; the answer is None when the text stops
        inside its reasoning."""
        if self.name == HARMONY_PARSER:
            return split_harmony(text)
        if self._parser is None:
            return split_think(text, prefilled_think)
        fmt = self.format
        if (
            fmt is not None
            and fmt.opening
            and fmt.opening not in text
            and fmt.separator not in text
        ):
            # no reasoning block at all where the model opens one itself: all of it is the
            # answer (a parser would return it as reasoning, with no answer)
            return "", text.strip()
        return _parse(self._parser, text)


_CHAT_REQUEST: Any = None


def _parse(parser: Any, text: str) -> tuple[str, str | None]:
    """A vLLM parser's split, stripped; an empty reasoning is "" and a missing answer None."""
    global _CHAT_REQUEST
    if _CHAT_REQUEST is None:
        from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest

        _CHAT_REQUEST = ChatCompletionRequest(model="ramen", messages=[])
    reasoning, content = parser.extract_reasoning(text, _CHAT_REQUEST)
    return (reasoning or "").strip(), (None if content is None else content.strip())


def split_think(text: str, prefilled_think: bool = False) -> tuple[str, str | None]:
    """(reasoning, final content) split at the last `</think>`; content is None when the text
    stops inside its reasoning. `prefilled_think`: the generation prompt already opened
    `<think>`, so the text starts inside the reasoning without a `<think>` of its own."""
    if "</think>" in text:
        reasoning, _, content = text.rpartition("</think>")
        return reasoning.replace("<think>", "", 1).strip(), content.strip()
    if "<think>" in text or prefilled_think:
        return text.replace("<think>", "", 1).strip(), None
    return "", text.strip()


def prompt_opens_think(prompt_text: str) -> bool:
    """True when the rendered generation prompt leaves a `<think>` open (Thinking-2507,
    R1-distill): the completion starts inside the reasoning."""
    return prompt_text.rfind("<think>") > prompt_text.rfind("</think>")


def _prompt_opens_think(tokenizer: Any, kwargs: dict | None) -> bool:
    """prompt_opens_think of the template's generation prompt for a probe question."""
    try:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": PROBE_USER}],
            tokenize=False,
            add_generation_prompt=True,
            **(kwargs or {}),
        )
    except Exception:  # noqa: BLE001 - no template
        return False
    return prompt_opens_think(text)
