"""Assistant turns for training data, rebuilt from a sample's reasoning and final content.

The turn is written the way Qwen3-family chat templates write (and parse) a thinking turn:
`<think>\\n{reasoning}\\n</think>\\n\\n{content}`. Each turn is then rendered through the
model's own chat template, the one generation, training and evaluation share, and checked:
a template that would drop the reasoning or the answer from the turn is an error, not a
silently weaker dataset.
"""

from __future__ import annotations

from typing import Any

from ramen.errors import UserError


def assistant_text(sample: dict) -> str:
    """The assistant turn of a sample: reasoning in `<think>`, then the final content. A sample
    cut inside its reasoning (content None) stays open: `<think>\\n{reasoning}`."""
    reasoning = (sample.get("reasoning") or "").strip()
    content = sample.get("content")
    if content is None:
        return f"<think>\n{reasoning}"
    content = content.strip()
    if not reasoning:
        return content
    return f"<think>\n{reasoning}\n</think>\n\n{content}"


class TemplateCheck:
    """Renders conversations through a model's chat template and checks the assistant turn
    survives it (reasoning and answer both present, in order)."""

    def __init__(self, tokenizer: Any, model: str, template_kwargs: dict | None = None):
        self.tokenizer, self.model = tokenizer, model
        self.template_kwargs = template_kwargs or {}
        self.checked = 0

    def check(self, prompt: list[dict], turn: str, sample: dict) -> None:
        text = self.tokenizer.apply_chat_template(
            [*prompt, {"role": "assistant", "content": turn}],
            tokenize=False,
            **self.template_kwargs,
        )
        reasoning = (sample.get("reasoning") or "").strip()
        content = (sample.get("content") or "").strip()
        at = text.rfind(content) if content else len(text)
        if content and at < 0:
            raise UserError(
                f"the chat template of '{self.model}' drops the final answer from the assistant "
                "turn; training data would not match generation",
                where=f"models.{self.model}",
            )
        if reasoning and text.rfind(reasoning, 0, at if content else None) < 0:
            raise UserError(
                f"the chat template of '{self.model}' drops the <think> reasoning from the "
                "assistant turn; pick a template that keeps it (Qwen3-style) for reasoning data",
                where=f"models.{self.model}",
            )
        self.checked += 1
