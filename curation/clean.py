"""The `clean` stage: drop rows that cannot make good training data, each with its reason.

Reasons, checked in this order: missing_question, missing_answer, placeholder_answer,
broken_text (with which kind), blank_reasoning, repetitive_reasoning, question_too_long,
reasoning_too_long. Lengths are counted with the model's own tokenizer, in batches. stats.json
holds a profile of every input row and of the kept rows (value counts, length percentiles).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any

from curation.config import CleanConfig
from curation.profile import Profile
from curation.text import broken_text, repeated_ngram_ratio
from ramen.console import track
from ramen.errors import UserError
from ramen.stage import StageContext

CATEGORICAL = ("category", "answer_type", "source", "licence", "generator")
LENGTHS = ("question_chars", "answer_chars", "reasoning_chars", "question_tokens")
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


def _batches(rows: Iterator[dict], size: int) -> Iterator[list[dict]]:
    while batch := list(islice(rows, size)):
        yield batch


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
    tokenizer, model = None, None
    if counts_tokens:
        model = tokenizer_model(ctx.recipe)
        tokenizer = load_tokenizer(ctx.recipe, model, ctx.resolve_model(model))

    def count(texts: list[str]) -> list[int]:
        if tokenizer is None or not texts:
            return [0] * len(texts)
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]

    seen, kept = Profile(CATEGORICAL, LENGTHS), Profile(CATEGORICAL, LENGTHS)
    rows = track(ctx.input_rows("prepare"), "clean")
    for batch in _batches(iter(rows), BATCH):
        q_tokens = count(
            [r["question"] if isinstance(r.get("question"), str) else "" for r in batch]
        )
        r_tokens = (
            count([r.get("reasoning") or "" for r in batch])
            if cfg.max_reasoning_tokens is not None
            else [0] * len(batch)
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
                "question_tokens": qt if tokenizer is not None else None,
            }
            seen.add(row, **lengths)
            reason, detail = check_row(row, cfg, placeholders)
            if (
                reason is None
                and cfg.max_question_tokens is not None
                and qt > cfg.max_question_tokens
            ):
                reason, detail = (
                    "question_too_long",
                    {"tokens": qt, "limit": cfg.max_question_tokens},
                )
            if (
                reason is None
                and cfg.max_reasoning_tokens is not None
                and rt > cfg.max_reasoning_tokens
            ):
                reason, detail = (
                    "reasoning_too_long",
                    {"tokens": rt, "limit": cfg.max_reasoning_tokens},
                )
            if reason:
                ctx.reject(row, reason, **detail)
                continue
            kept.add(row, **lengths)
            ctx.keep(row)
    return {"tokenizer": model, "profile": {"input": seen.result(), "kept": kept.result()}}
