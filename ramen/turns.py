"""The trainer's view: training rows rendered by the base model's own chat template and
tokenized by ramen, so that what a model trains on is exactly what it generates.

A row's training sequence is

    render(prompt, add_generation_prompt=True)  +  completion

where the prompt is rendered exactly as generation and evaluation render it, and the
completion is what the template writes after that generation prompt for the whole
conversation, up to and including its end-of-turn token. A turn cut off by the token budget
(`content` None) ends where generation stopped: no end token, which the model never produced.
The loss falls on the completion's tokens only. No `{% generation %}` markers are needed, so
templates TRL cannot patch for assistant-only loss (Qwen3-*-Thinking-2507, Gemma 4) train as
they are.

Reasoning-model families read an assistant turn's reasoning from different places: the
`reasoning_content` field (Qwen3.8, Nemotron 3, GLM, Gemma 4), `thinking` (gpt-oss: the
analysis channel), `reasoning`, or inline `<think>...</think>` in `content` (Qwen3,
DeepSeek-R1-distill's training variant). The shape is not looked up by model name: a probe
conversation is rendered through each, and the first shape whose rendering keeps the reasoning
once, before the answer, in the completion is the one used. Templates that drop the reasoning
(the original DeepSeek-R1-distill template drops everything up to `</think>`) are replaced by
TRL's training variant when TRL recognises them, or by the recipe's
`models.<m>.training_chat_template`; generation and evaluation keep the original.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ramen.errors import UserError

# The order shapes are tried in: fields a template reads natively first, inline text last.
SHAPES = ("reasoning_content", "thinking", "reasoning", "inline")
PROBE_USER = "ramen probe question"
PROBE_REASONING = "ramen probe reasoning"
PROBE_CONTENT = "ramen probe answer"
_THINK = re.compile(r"^\s*<think>(.*?)(?:</think>(.*))?$", re.S)


class RowError(ValueError):
    """A row that cannot be rendered as its model generated it; `reason` goes to rejects."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(detail or reason)
        self.reason = reason


@dataclass(frozen=True)
class Turn:
    """An assistant turn: its reasoning, and its final content (None: cut off inside the
    reasoning by the token budget, so the turn has no end)."""

    reasoning: str
    content: str | None

    @property
    def cut(self) -> bool:
        return self.content is None


def read_turn(message: dict | str) -> Turn:
    """The turn of a stored assistant message, whatever shape it was written in: a reasoning
    field, or ramen's inline `<think>...</think>` (an unclosed `<think>`: a cut-off turn)."""
    if isinstance(message, str):
        message = {"content": message}
    for field in SHAPES[:-1]:
        value = message.get(field)
        if isinstance(value, str) and value.strip():
            return Turn(value.strip(), _strip(message.get("content")))
    content = message.get("content")
    if isinstance(content, str):
        m = _THINK.match(content)
        if m:
            inner, rest = m.group(1), m.group(2)
            return Turn(inner.strip(), None if rest is None else rest.strip())
    return Turn("", _strip(content) if content is not None else None)


def _strip(text: Any) -> str | None:
    return text.strip() if isinstance(text, str) else None


def assistant_message(turn: Turn, shape: str) -> dict:
    """The assistant message of `turn` in one of SHAPES. A cut-off turn keeps `content` None
    (inline: an unclosed `<think>`), so `read_turn` reads it back as cut off."""
    if not turn.reasoning:
        return {"role": "assistant", "content": turn.content or ""}
    if shape == "inline":
        closed = "" if turn.cut else f"\n</think>\n\n{turn.content}"
        return {"role": "assistant", "content": f"<think>\n{turn.reasoning}{closed}"}
    return {"role": "assistant", "content": turn.content, shape: turn.reasoning}


def find_template(value: str) -> Path | None:
    """A `training_chat_template` value's file: a .jinja file, or the name of a template TRL
    ships (`deepseek_r1_distill_training`, ...); None when it is neither. TRL is not imported."""
    import importlib.util

    path = Path(value).expanduser()
    if path.is_file():
        return path
    spec = importlib.util.find_spec("trl")
    if spec is None or not spec.origin or "/" in value:
        return None
    shipped = Path(spec.origin).parent / "chat_templates" / f"{value}.jinja"
    return shipped if shipped.is_file() else None


def trl_training_variant(tokenizer: Any) -> str | None:
    """TRL's training variant of the tokenizer's template, when TRL recognises the template
    and ships one (None otherwise, or when the template needs none)."""
    try:
        from trl.chat_template_utils import get_training_chat_template

        return get_training_chat_template(tokenizer)
    except Exception:  # noqa: BLE001 - not recognised ("patching is not supported"): none
        return None


class TrainingRenderer:
    """Renders training rows through one model's chat template and tokenizes them.

    `layout` is the (name, template, shape) chosen by rendering a probe: the recipe's
    training template first, then the model's own, then TRL's training variant; for each,
    the shapes in SHAPES order. If none keeps the reasoning, rendering a turn that has some
    is a one-line error naming the model and `training_chat_template`.
    """

    def __init__(
        self,
        tokenizer: Any,
        model: str,
        template_kwargs: dict | None = None,
        training_template: str | None = None,
        trl_variant: bool = True,
    ):
        self.tokenizer, self.model = tokenizer, model
        self.kwargs = dict(template_kwargs or {})
        self.original = getattr(tokenizer, "chat_template", None)
        if not isinstance(self.original, str) or not self.original:
            raise UserError(
                f"the tokenizer of '{model}' has no chat template; ramen trains on chat turns "
                "rendered by the model's own template",
                where=f"models.{model}.path",
            )
        candidates = [("original", self.original)]
        if training_template:
            found = find_template(training_template)
            if found is None:
                raise UserError(
                    f"training_chat_template '{training_template}' is neither a file nor a "
                    "template TRL ships (e.g. deepseek_r1_distill_training)",
                    where=f"models.{model}.training_chat_template",
                )
            candidates.insert(0, ("recipe", found.read_text(encoding="utf-8")))
        variant = trl_training_variant(tokenizer) if trl_variant else None
        if variant and variant != self.original:
            candidates.append(("trl", variant))
        self.layout = self._choose(candidates)
        self.eot = self._end_of_turn()

    # ------------------------------------------------------------------ choosing the layout

    def _render(self, messages: list[dict], template: str, generation: bool) -> str:
        return self.tokenizer.apply_chat_template(
            messages,
            tokenize=False,
            add_generation_prompt=generation,
            chat_template=template,
            **self.kwargs,
        )

    def _choose(self, candidates: list[tuple[str, str]]) -> tuple[str, str, str]:
        """The first (template, shape) whose rendering of a probe turn starts with the
        generation prompt and holds the reasoning once, in one block, before the answer."""
        probe = [{"role": "user", "content": PROBE_USER}]
        turn = Turn(PROBE_REASONING, PROBE_CONTENT)
        prompt = self._render(probe, self.original, True)
        self.reasoning_kept = True
        for name, template in candidates:
            for shape in SHAPES:
                try:
                    full = self._render([*probe, assistant_message(turn, shape)], template, False)
                except Exception:  # noqa: BLE001 - a template that cannot render this shape
                    continue
                if not full.startswith(prompt):
                    continue
                completion = full[len(prompt) :]
                r, c = completion.find(PROBE_REASONING), completion.find(PROBE_CONTENT)
                if (
                    0 <= r < c
                    and completion.count(PROBE_REASONING) == 1
                    and completion.count(PROBE_CONTENT) == 1
                    and completion.count("<think>") <= 1
                    and completion.count("</think>") <= 1
                ):
                    return name, template, shape
        self.reasoning_kept = False
        return "original", self.original, "inline"

    def _end_of_turn(self) -> str:
        """The text the template closes an assistant turn with, up to its first special token
        (`<|im_end|>`, `<|return|>`, `<turn|>`), or the tokenizer's EOS when it writes none."""
        _, template, shape = self.layout
        probe = [{"role": "user", "content": PROBE_USER}]
        full = self._render(
            [*probe, assistant_message(Turn("", PROBE_CONTENT), shape)], template, False
        )
        tail = full[full.rfind(PROBE_CONTENT) + len(PROBE_CONTENT) :]
        specials = sorted(
            (t for t in self.tokenizer.all_special_tokens + list(self.tokenizer.get_added_vocab())
             if t and t in tail),
            key=tail.find,
        )  # fmt: skip
        if specials:
            return tail[: tail.find(specials[0]) + len(specials[0])]
        return self.tokenizer.eos_token or ""

    @property
    def shape(self) -> str:
        return self.layout[2]

    def describe(self) -> dict:
        return {"template": self.layout[0], "shape": self.shape, "end_of_turn": self.eot}

    # ------------------------------------------------------------------ rendering rows

    def prompt(self, messages: list[dict]) -> str:
        """The generation prompt, as generation renders it (the original template)."""
        return self._render(messages, self.original, True)

    def message(self, turn: Turn) -> dict:
        return assistant_message(turn, self.shape)

    def completion(self, prompt: list[dict], turn: Turn, prompt_text: str | None = None) -> str:
        """What the model writes after the generation prompt for this turn: the rendered turn
        up to its end-of-turn token, or, for a cut-off turn, up to the end of its reasoning."""
        prompt_text = self.prompt(prompt) if prompt_text is None else prompt_text
        _, template, shape = self.layout
        content = PROBE_CONTENT if turn.cut else turn.content
        full = self._render([*prompt, self.message(Turn(turn.reasoning, content))], template, False)
        if not full.startswith(prompt_text):
            raise RowError(
                "template_not_prefix",
                "the rendered conversation does not start with the rendered generation prompt",
            )
        completion = full[len(prompt_text) :]
        at = 0
        if turn.reasoning and not self.reasoning_kept:
            raise UserError(
                f"the chat template of '{self.model}' drops the reasoning from the assistant "
                "turn (and TRL ships no training variant of it); set "
                f"models.{self.model}.training_chat_template to a template that keeps it",
                where=f"models.{self.model}.training_chat_template",
            )
        if turn.reasoning:
            at = completion.find(turn.reasoning)
            if at < 0:
                raise RowError("template_drops_reasoning")
            at += len(turn.reasoning)
            if turn.cut:
                return completion[:at]
        if turn.cut:
            raise RowError("cut_off_without_reasoning", "a cut-off turn with no text")
        end = completion.find(content, at)
        if end < 0:
            raise RowError("template_drops_answer")
        end += len(content)
        tail = completion[end:]
        if self.eot in tail:
            return completion[: end + tail.find(self.eot) + len(self.eot)]
        return completion[:end] + self.eot  # the template writes no end: the tokenizer's EOS

    def tokenize(self, prompt_text: str, completion_text: str) -> tuple[list[int], list[int]]:
        """(prompt ids, completion ids): the whole sequence tokenized at once, split where the
        prompt's own tokens end (generation tokenizes the prompt alone)."""
        enc = self.tokenizer
        prompt_ids = enc(prompt_text, add_special_tokens=False)["input_ids"]
        ids = enc(prompt_text + completion_text, add_special_tokens=False)["input_ids"]
        if ids[: len(prompt_ids)] != prompt_ids:
            raise RowError(
                "tokens_merge_across_prompt_end",
                "the prompt's last tokens merge with the completion's first ones",
            )
        return prompt_ids, ids[len(prompt_ids) :]


# --------------------------------------------------------------------------- training rows


def end_of_turn_token(tokenizer: Any) -> str | None:
    """The token a model's own template closes an assistant turn with (`<|im_end|>`,
    `<|return|>`), or its EOS when the template writes none (what the trained model must
    stop on)."""
    try:
        eot = TrainingRenderer(tokenizer, "model", trl_variant=False).eot
    except UserError:  # no chat template: the tokenizer's EOS is all there is
        return tokenizer.eos_token
    tokens = [*tokenizer.all_special_tokens, *tokenizer.get_added_vocab()]
    ending = [t for t in tokens if t and eot.endswith(t)]
    return max(ending, key=len) if ending else tokenizer.eos_token


def _clean(message: Any) -> dict:
    """A message as the template should see it: a row read through Arrow carries every field
    of every message, None where a message has none (`"thinking" in message` would be true)."""
    if not isinstance(message, dict):
        raise RowError("bad_message", f"a message is {type(message).__name__}, not an object")
    return {k: v for k, v in message.items() if v is not None or k == "content"}


def _conversation(prompt: Any, turn: Any) -> tuple[list[dict], Turn]:
    if not isinstance(prompt, list) or not prompt:
        raise RowError("bad_prompt", "the prompt is not a non-empty list of messages")
    messages = [_clean(m) for m in prompt]
    last = turn[-1] if isinstance(turn, list) and turn else turn
    last = _clean(last)
    if last.get("role") != "assistant":
        raise RowError("no_assistant_turn", "the row does not end with an assistant turn")
    return messages, read_turn(last)


def _with_end(renderer: TrainingRenderer, text: Any) -> str:
    """A completion given as text: as it is, with the end-of-turn token added when missing (as
    TRL adds EOS to text rows)."""
    if not isinstance(text, str) or not text:
        raise RowError("bad_completion", "a completion is not a non-empty string")
    return text if text.endswith(renderer.eot) else text + renderer.eot


def _side(renderer: TrainingRenderer, prompt: Any, turn: Any, prompt_text: str | None) -> str:
    """The completion text of one side of a row (conversational or text)."""
    if isinstance(turn, str):
        return _with_end(renderer, turn)
    messages, parsed = _conversation(prompt, turn)
    return renderer.completion(messages, parsed, prompt_text)


def tokenize_row(row: dict, method: str, renderer: TrainingRenderer) -> dict:
    """One training row as the trainer gets it: SFT `input_ids` and `completion_mask` (1 on
    the tokens that carry loss), DPO `prompt_ids`, `chosen_ids`, `rejected_ids`. Accepts TRL's
    conversational (`messages`; `prompt` + `completion`/`chosen`/`rejected` message lists) and
    text formats (`text`; the same keys as strings). Raises RowError."""
    if method == "sft":
        if "messages" in row and row["messages"] is not None:
            messages = row["messages"]
            if not isinstance(messages, list) or len(messages) < 2:
                raise RowError("bad_messages", "messages is not a list of two or more turns")
            prompt, completion = messages[:-1], [messages[-1]]
        elif "prompt" in row and "completion" in row:
            prompt, completion = row["prompt"], row["completion"]
        elif isinstance(row.get("text"), str):
            prompt, completion = "", row["text"]
        else:
            raise RowError(
                "unknown_row_format", "an SFT row needs messages, prompt+completion or text"
            )
        if isinstance(prompt, str):
            prompt_text = prompt
            completion_text = _with_end(renderer, completion)
        else:
            messages_, _ = _conversation(prompt, completion)
            prompt_text = renderer.prompt(messages_)
            completion_text = _side(renderer, prompt, completion, prompt_text)
        p, c = renderer.tokenize(prompt_text, completion_text)
        return {"input_ids": p + c, "completion_mask": [0] * len(p) + [1] * len(c)}
    if not all(k in row for k in ("prompt", "chosen", "rejected")):
        raise RowError("unknown_row_format", "a DPO row needs prompt, chosen and rejected")
    prompt = row["prompt"]
    if isinstance(prompt, str):
        prompt_text = prompt
    else:
        prompt_text = renderer.prompt(_conversation(prompt, row["chosen"])[0])
    out = {}
    for side in ("chosen", "rejected"):
        p, c = renderer.tokenize(prompt_text, _side(renderer, prompt, row[side], prompt_text))
        out["prompt_ids"], out[f"{side}_ids"] = p, c
    return out


def read_rows(path: str, cache_dir: str | None = None):
    """The rows of a `datasets` folder or a .jsonl/.json/.parquet file (an Arrow dataset; a
    file's cache goes to `cache_dir`)."""
    import datasets

    datasets.disable_progress_bars()
    p = Path(path)
    if p.is_dir():
        return datasets.load_from_disk(str(p))
    kind = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}.get(p.suffix)
    if kind is None:
        raise UserError(f"training data {p} is not a datasets folder, .jsonl, .json or .parquet")
    return datasets.load_dataset(kind, data_files=str(p), split="train", cache_dir=cache_dir)
