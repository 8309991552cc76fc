"""The `clean` stage: drop rows that cannot make good training data, each with its reason.

Reasons, checked in this order: missing_question, missing_answer, placeholder_answer,
broken_text (with which kind), blank_reasoning, repetitive_reasoning, question_too_long,
reasoning_too_long. Lengths are counted with the model's own tokenizer, in batches; a text
whose UTF-8 length is already under the limit cannot be over it and is not tokenized. stats.json
holds a profile of every input row and of the kept rows (value counts, length percentiles).
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from ramen.console import err_console, track
from ramen.curation.config import CleanConfig
from ramen.curation.parallel import map_chunks
from ramen.curation.profile import Profile
from ramen.curation.text import broken_text, repeated_ngram_ratio
from ramen.errors import UserError
from ramen.stage import StageContext, StageDef, dump, model_entries

CATEGORICAL = ("category", "answer_type", "source", "licence", "generator")
LENGTHS = ("question_chars", "answer_chars", "reasoning_chars")
# Every token covers at least one byte of (compatibility-decomposed) text, plus a few tokens a
# template or a dummy prefix may add: a text with fewer bytes than limit - SLACK cannot be
# over the limit, and only the others are tokenized.
SLACK = 8


TOKENIZER_KEY = "tokenizer model"  # the clean stage's config: tokenizer_model's answer


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
    # safety and benign prompts have no reference answer: the safety judge grades them
    if not answer and cfg.require_answer and row.get("answer_type") not in ("safety", "benign"):
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


def _lengths(row: dict) -> dict[str, int | None]:
    return {
        f"{field}_chars": len(row[field]) if isinstance(row.get(field), str) else None
        for field in ("question", "answer", "reasoning")
    }


# Set in each worker (and here) by _init: the clean config, as plain data.
_CFG: dict[str, Any] = {}


def _init(cfg: dict) -> None:
    _CFG["cfg"] = CleanConfig.model_validate(cfg)
    _CFG["placeholders"] = {p.strip().lower() for p in _CFG["cfg"].placeholder_answers}


def _clean_chunk(lines: list[str]) -> tuple[list[tuple], Profile, Profile]:
    """Check a chunk of rows: ("keep", line) | ("reject", row, reason, detail) |
    ("count", line, row) for rows that pass but need an exact token count; plus the profile
    of every row and of the rows kept here."""
    cfg, placeholders = _CFG["cfg"], _CFG["placeholders"]
    seen, kept = Profile(CATEGORICAL, LENGTHS), Profile(CATEGORICAL, LENGTHS)
    out: list[tuple] = []
    for line in lines:
        row = json.loads(line)
        lengths = _lengths(row)
        seen.add(row, **lengths)
        reason, detail = check_row(row, cfg, placeholders)
        if reason:
            out.append(("reject", row, reason, detail))
            continue
        long_q = cfg.max_question_tokens is not None and could_exceed(
            row["question"], cfg.max_question_tokens
        )
        long_r = (
            cfg.max_reasoning_tokens is not None
            and isinstance(row.get("reasoning"), str)
            and could_exceed(row["reasoning"], cfg.max_reasoning_tokens)
        )
        if long_q or long_r:
            out.append(("count", line, row))
            continue
        kept.add(row, **lengths)
        out.append(("keep", line))
    return out, seen, kept


def clean(ctx: StageContext) -> dict:
    """Stage `clean`: problems -> problems fit for curation; every drop has a reason."""
    cfg: CleanConfig = ctx.recipe.data.clean
    counts_tokens = cfg.max_question_tokens is not None or cfg.max_reasoning_tokens is not None
    model = ctx.config[TOKENIZER_KEY] if counts_tokens else None  # tokenizer_model, resolved
    if counts_tokens and model is None:
        err_console.print(
            "[yellow]clean[/]: no model is declared, so no tokenizer: token limits are not "
            "checked (declare a model under models: to check them)"
        )
    tokenizer = None
    tokenized = 0

    def count(texts: list[str]) -> list[int]:
        nonlocal tokenizer, tokenized
        if tokenizer is None:
            tokenizer = load_tokenizer(ctx.recipe, model, ctx.resolve_model(model))
        tokenized += len(texts)
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def too_long(rows: list[dict]) -> list[tuple[str, dict] | None]:
        """Exact token checks of rows whose length could exceed a limit."""
        out: list[tuple[str, dict] | None] = [None] * len(rows)
        if model is None:
            return out
        for field, limit, why in (
            ("question", cfg.max_question_tokens, "question_too_long"),
            ("reasoning", cfg.max_reasoning_tokens, "reasoning_too_long"),
        ):
            if limit is None:
                continue
            todo = [
                i
                for i, r in enumerate(rows)
                if out[i] is None
                and isinstance(r.get(field), str)
                and could_exceed(r[field], limit)
            ]
            if not todo:
                continue
            for i, n in zip(todo, count([rows[i][field] for i in todo]), strict=True):
                if n > limit:
                    out[i] = (why, {"tokens": n, "limit": limit})
        return out

    seen, kept = Profile(CATEGORICAL, LENGTHS), Profile(CATEGORICAL, LENGTHS)
    path = ctx.inputs["prepare"] / "data.jsonl"
    progress = track(
        map_chunks(path, _clean_chunk, initializer=_init, initargs=(cfg.model_dump(),)),
        "clean (chunks)",
    )
    for results, chunk_seen, chunk_kept in progress:
        seen.merge(chunk_seen)
        kept.merge(chunk_kept)
        pending = [r for r in results if r[0] == "count"]
        verdicts = iter(too_long([r[2] for r in pending]))
        for item in results:
            ctx.count_input()
            if item[0] == "keep":
                ctx.keep_line(item[1])
            elif item[0] == "reject":
                ctx.reject(item[1], item[2], **item[3])
            else:
                _, line, row = item
                verdict = next(verdicts)
                if verdict is not None:
                    ctx.reject(row, verdict[0], **verdict[1])
                else:
                    kept.add(row, **_lengths(row))
                    ctx.keep_line(line)
    return {
        "tokenizer": model,
        "tokenized_texts": tokenized,
        "profile": {"input": seen.result(), "kept": kept.result()},
    }


def _config(r: Any) -> dict:
    model = tokenizer_model(r) if r.models else None
    return {"data.clean": dump(r.data.clean), TOKENIZER_KEY: model, **model_entries(r, model)}


STAGE = StageDef(
    name="clean",
    fn=clean,
    needs=("prepare",),
    config=_config,
    enabled=lambda r: r.data is not None,
    help="drop empty, placeholder, broken, looping and over-long rows; profile every row",
)
