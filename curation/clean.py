"""The `clean` stage: drop rows that cannot make good training data, each with its reason.

Reasons, checked in this order: missing_question, missing_answer, placeholder_answer,
broken_text (with which kind), blank_reasoning, repetitive_reasoning, question_too_long,
reasoning_too_long. Lengths are counted with the model's own tokenizer, in batches; a text
whose UTF-8 length is already under the limit cannot be over it and is not tokenized. stats.json
holds a profile of every input row and of the kept rows (value counts, length percentiles).
"""

from __future__ import annotations

import unicodedata
from typing import Any

from curation.config import CleanConfig
from curation.profile import Profile
from curation.text import broken_text, repeated_ngram_ratio
from ramen.console import err_console, track
from ramen.errors import UserError
from ramen.io import chunks
from ramen.stage import StageContext

CATEGORICAL = ("category", "answer_type", "source", "licence", "generator")
LENGTHS = ("question_chars", "answer_chars", "reasoning_chars")
# Every token covers at least one byte of (compatibility-decomposed) text, plus a few tokens a
# template or a dummy prefix may add: a text with fewer bytes than limit - SLACK cannot be
# over the limit, and only the others are tokenized.
SLACK = 8
BATCH = 2048


def tokenizer_model(recipe: Any) -> str | None:
    """The model whose tokenizer counts lengths: clean.tokenizer, else the sampler, the filter
    model, the first declared model."""
    clean = recipe.data.clean
    if clean.tokenizer:
        return clean.tokenizer
    cur = recipe.curation
    if cur is not None and cur.sample is not None:
        return cur.sample.model
    if cur is not None and cur.filter is not None:
        return cur.filter.decider
    return next(iter(recipe.models), None)


def load_tokenizer(recipe: Any, name: str, path: str) -> Any:
    from transformers import AutoTokenizer

    spec = recipe.models[name]
    try:
        return AutoTokenizer.from_pretrained(
            path, revision=spec.revision, trust_remote_code=spec.trust_remote_code
        )
    except (OSError, ValueError) as e:
        raise UserError(
            f"cannot load the tokenizer of '{spec.path}': {e}", where=f"models.{name}.path"
        ) from None


def could_exceed(text: str, limit: int) -> bool:
    """False when `text` is surely within `limit` tokens (cheap byte bound), else True."""
    if text.isascii():
        return len(text) + SLACK > limit
    return len(unicodedata.normalize("NFKD", text).encode("utf-8")) + SLACK > limit


def check_row(row: dict, cfg: CleanConfig, placeholders: set[str]) -> tuple[str | None, dict]:
    """The reason a row is dropped (and details), or (None, {}). Token limits are apart."""
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        return "missing_question", {}
    answer = row.get("answer")
    answer = answer.strip() if isinstance(answer, str) else ""
    if not answer and cfg.require_answer:
        return "missing_answer", {}
    if answer and answer.lower() in placeholders:
        return "placeholder_answer", {"answer": answer}
    for field in ("question", "answer", "reasoning"):
        value = row.get(field)
        kind = broken_text(value) if isinstance(value, str) else None
        if kind:
            return "broken_text", {"field": field, "kind": kind}
    if "reasoning" in row:
        reasoning = row["reasoning"]
        if not isinstance(reasoning, str) or not reasoning.strip():
            return "blank_reasoning", {}
        ratio = repeated_ngram_ratio(reasoning, cfg.repetition_ngram)
        if ratio > cfg.max_repeated_ngram_ratio:
            return "repetitive_reasoning", {"repeated_ngram_ratio": round(ratio, 4)}
    return None, {}


def clean(ctx: StageContext) -> dict:
    """Stage `clean`: problems -> problems fit for curation; every drop has a reason."""
    cfg: CleanConfig = ctx.recipe.data.clean
    placeholders = {p.strip().lower() for p in cfg.placeholder_answers}
    counts_tokens = cfg.max_question_tokens is not None or cfg.max_reasoning_tokens is not None
    model = tokenizer_model(ctx.recipe) if counts_tokens else None
    if counts_tokens and model is None:
        err_console.print(
            "[yellow]clean[/]: no model is declared, so no tokenizer: token limits are not "
            "checked (declare a model under models: to check them)"
        )
    tokenizer = None
    tokenized = 0

    def count(texts: list[str], limit: int | None) -> list[int | None]:
        """Exact token counts of the texts that could exceed `limit`; None for the rest."""
        nonlocal tokenizer, tokenized
        out: list[int | None] = [None] * len(texts)
        if model is None or limit is None:
            return out
        todo = [i for i, t in enumerate(texts) if could_exceed(t, limit)]
        if todo:
            if tokenizer is None:
                tokenizer = load_tokenizer(ctx.recipe, model, ctx.resolve_model(model))
            tokenized += len(todo)
            encoded = tokenizer([texts[i] for i in todo], add_special_tokens=False)["input_ids"]
            for i, ids in zip(todo, encoded, strict=True):
                out[i] = len(ids)
        return out

    seen, kept = Profile(CATEGORICAL, LENGTHS), Profile(CATEGORICAL, LENGTHS)
    rows = track(ctx.input_rows("prepare"), "clean")
    for batch in chunks(iter(rows), BATCH):
        q_tokens = count(
            [r["question"] if isinstance(r.get("question"), str) else "" for r in batch],
            cfg.max_question_tokens,
        )
        r_tokens = count(
            [r["reasoning"] if isinstance(r.get("reasoning"), str) else "" for r in batch],
            cfg.max_reasoning_tokens,
        )
        for row, qt, rt in zip(batch, q_tokens, r_tokens, strict=True):
            ctx.count_input()
            lengths = {
                "question_chars": len(row["question"])
                if isinstance(row.get("question"), str)
                else None,
                "answer_chars": len(row["answer"]) if isinstance(row.get("answer"), str) else None,
                "reasoning_chars": len(row["reasoning"])
                if isinstance(row.get("reasoning"), str)
                else None,
            }
            seen.add(row, **lengths)
            reason, detail = check_row(row, cfg, placeholders)
            if reason is None and qt is not None and qt > cfg.max_question_tokens:
                reason, detail = (
                    "question_too_long",
                    {"tokens": qt, "limit": cfg.max_question_tokens},
                )
            if reason is None and rt is not None and rt > cfg.max_reasoning_tokens:
                reason, detail = (
                    "reasoning_too_long",
                    {"tokens": rt, "limit": cfg.max_reasoning_tokens},
                )
            if reason:
                ctx.reject(row, reason, **detail)
                continue
            kept.add(row, **lengths)
            ctx.keep(row)
    return {
        "tokenizer": model,
        "tokenized_texts": tokenized,
        "profile": {"input": seen.result(), "kept": kept.result()},
    }
