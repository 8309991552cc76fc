"""The LLM judge: a judgement of a response against the reference answer.

The judge sees the question, the response's final content only (never its reasoning) and the
correct answer, through a prompt file the recipe can replace. Its reply format is the judge
model's `judge_format`:
- `hle`: four fields, extracted_final_answer, reasoning, correct (yes/no), confidence, as
  labelled lines or JSON (the HLE judge);
- `verdict`: a bare `Correct` / `Incorrect` (xVerify-style verifiers);
- `abc`: `A` correct, `B` incorrect, `C` invalid (CompassVerifier-style). `invalid` (the
  response is cut off, repetitive or refuses) is its own verdict, never `incorrect`.
An unparsable reply is re-requested with a fresh seed up to `retries` times, then becomes
`judge_error`: counted and reported, never folded into `incorrect`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ramen.errors import UserError
from ramen.inference.backend import Request, sample_seed
from ramen.prompts import JUDGE_PLACEHOLDERS, load_prompt, missing_placeholders

DEFAULT_PROMPT = "judge_hle.txt"
# Tokens kept free for the judge's reply when a long response is cut to fit (at most a quarter
# of the judge's context).
JUDGE_REPLY_RESERVE = 512
CUT_MARK = "[... the start of this response was cut to fit the judge's context ...]\n"
FORMAT_PROMPTS = {"hle": "judge_hle.txt", "verdict": "judge_verdict.txt", "abc": "judge_abc.txt"}
FIELDS = ("extracted_final_answer", "reasoning", "correct", "confidence")

_LINE = re.compile(
    r"^[\s*#>-]*\**\s*(extracted_final_answer|reasoning|correct|confidence)\s*\**\s*[:：]\s*(.*)$",
    re.I | re.M,
)
_YES = {"yes", "y", "true", "correct"}
_NO = {"no", "n", "false", "incorrect"}


def check_prompt(template: str, where: str) -> None:

    missing = missing_placeholders(template)
    if missing:
        raise UserError(
            f"judge prompt lacks {', '.join(missing)}; it needs all of {', '.join(JUDGE_PLACEHOLDERS)}",
            where=where,
        )


def render_prompt(template: str, question: str, response: str, correct_answer: str) -> str:
    # Plain replacement, not str.format: questions and prompts are full of braces (LaTeX, code).
    out = template
    for placeholder, value in zip(
        JUDGE_PLACEHOLDERS, (question, response, correct_answer), strict=True
    ):
        out = out.replace(placeholder, value)
    return out


def _yes_no(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    word = re.sub(r"[^a-z]", "", str(value).strip().lower().split(" ")[0]) if value else ""
    return True if word in _YES else False if word in _NO else None


def _confidence(value: object) -> int:
    match = re.search(r"\d+(?:\.\d+)?", str(value)) if value is not None else None
    if not match:
        return 100  # HLE: 100 when the response states none
    return max(0, min(100, round(float(match.group(0)))))


def parse_judgement(text: str | None) -> dict | None:
    """The judge's four fields from a JSON object or labelled lines; None when `correct` is
    missing or not a yes/no."""
    if not text:
        return None
    fields: dict = {}
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            obj = json.loads(text[start : end + 1])
            if isinstance(obj, dict):
                fields = {k.lower(): v for k, v in obj.items() if k.lower() in FIELDS}
        except json.JSONDecodeError:
            pass
    if "correct" not in fields:
        for name, value in _LINE.findall(text):
            fields.setdefault(name.lower(), value.strip())
    correct = _yes_no(fields.get("correct"))
    if correct is None:
        return None
    extracted = fields.get("extracted_final_answer")
    extracted = (
        None
        if extracted is None or str(extracted).strip() in ("", "None")
        else str(extracted).strip()
    )
    return {
        "extracted_final_answer": extracted,
        "reasoning": str(fields.get("reasoning") or "").strip(),
        "correct": "yes" if correct else "no",
        "confidence": _confidence(fields.get("confidence")),
    }


_BARE_VERDICT = re.compile(r"\b(incorrect|correct)\b", re.I)
_LETTER = re.compile(r"(?<![A-Za-z])([ABC])(?![A-Za-z])")
_ABC = {"A": "correct", "B": "incorrect", "C": "invalid"}


def parse_verdict_reply(text: str | None) -> dict | None:
    """`Correct` / `Incorrect` (the last one named wins); None when neither is there."""
    found = _BARE_VERDICT.findall(text or "")
    if not found:
        return None
    correct = found[-1].lower() == "correct"
    return {"correct": "yes" if correct else "no", "reasoning": "", "confidence": None}


def parse_abc_reply(text: str | None) -> dict | None:
    """`A` / `B` / `C` standing alone (the last one wins): correct / incorrect / invalid."""
    found = _LETTER.findall(text or "")
    if not found:
        return None
    verdict = _ABC[found[-1]]
    correct = {"correct": "yes", "incorrect": "no"}.get(verdict)
    return {"verdict": verdict, "correct": correct, "reasoning": "", "confidence": None}


def parse_reply(text: str | None, fmt: str = "hle") -> dict | None:
    """The judge's result fields with their `verdict`, or None when the reply is unparsable."""
    if fmt == "hle":
        parsed = parse_judgement(text)
    elif fmt == "verdict":
        parsed = parse_verdict_reply(text)
    elif fmt == "abc":
        parsed = parse_abc_reply(text)
    else:
        raise ValueError(f"unknown judge format {fmt!r}")
    if parsed is None:
        return None
    verdict = parsed.get("verdict") or ("correct" if parsed["correct"] == "yes" else "incorrect")
    return {**parsed, "verdict": verdict}


@dataclass
class JudgeItem:
    """One response to judge, under its key."""

    key: tuple[str, int]
    question: str
    response: str  # final content only
    reference: str
    cut_tokens: int = 0  # tokens cut from the response's start to fit the judge's context


class Judge:
    """Runs judgements through an engine; re-requests unparsable replies, then `judge_error`."""

    def __init__(
        self,
        engine,
        template: str,
        *,
        fmt: str = "hle",
        retries: int = 2,
        seed: int = 0,
        max_tokens: int = 4096,
    ):
        self.engine, self.template, self.fmt = engine, template, fmt
        self.retries, self.seed, self.max_tokens = retries, seed, max_tokens
        self.cut = 0  # items whose response was cut to fit the judge's context

    def prompt(self, item: JudgeItem) -> str:
        return render_prompt(self.template, item.question, item.response, item.reference)

    def fit(self, items: list[JudgeItem]) -> list[JudgeItem]:
        """Items whose prompt fits the judge's context, counted with the judge's own tokenizer
        and chat template. An over-long response keeps its end (where the answer is): its start
        is cut and marked, and the item records how many tokens went (`self.cut` counts the
        items), so nothing is truncated silently by the server."""
        limit_of = getattr(self.engine, "prompt_limit", None)
        renderer, limit = limit_of() if limit_of else (None, 0)
        if renderer is None or not items:
            return items
        budget = limit - min(self.max_tokens, JUDGE_REPLY_RESERVE, limit // 4)
        tok = renderer.tokenizer
        out = []
        for item in items:
            over = len(renderer.render(self._messages(item))[1]) - budget
            if over <= 0:
                out.append(item)
                continue
            ids = tok.encode(item.response, add_special_tokens=False)
            drop = over + len(tok.encode(CUT_MARK, add_special_tokens=False)) + 4
            fitted = item
            while drop < len(ids):
                kept = CUT_MARK + tok.decode(ids[drop:])
                fitted = dataclasses.replace(item, response=kept, cut_tokens=drop)
                if len(renderer.render(self._messages(fitted))[1]) <= budget:
                    break
                drop += max(8, over // 4)
            else:  # even an empty response does not fit: the question itself is too long
                fitted = dataclasses.replace(item, response=CUT_MARK, cut_tokens=len(ids))
            self.cut += 1
            out.append(fitted)
        return out

    def _messages(self, item: JudgeItem) -> list[dict]:
        return [{"role": "user", "content": self.prompt(item)}]

    def parse(self, content: str | None) -> dict | None:
        """The result fields of a reply (with its `verdict`), or None when it is unparsable."""
        return parse_reply(content, self.fmt)

    def _request(self, item: JudgeItem, attempt: int) -> Request:
        return Request(
            problem_id=item.key[0],
            sample_index=item.key[1],
            messages=self._messages(item),
            seed=sample_seed(self.seed, item.key[0], item.key[1], attempt),
            temperature=0.0 if attempt == 0 else 0.7,  # greedy first; retries explore
            max_tokens=self.max_tokens,
            extra={"attempt": attempt},
        )

    def judge(self, items: Iterable[JudgeItem]) -> Iterator[tuple[tuple[str, int], dict]]:
        """Yield (key, result) per item, in the order they finish. A result has `verdict`
        (correct | incorrect | judge_error), the parsed fields, the raw reply and attempts."""
        todo = {item.key: item for item in self.fit(list(items))}
        todo_cut = {k: i.cut_tokens for k, i in todo.items() if i.cut_tokens}
        attempt = 0
        while todo:
            requests = [self._request(item, attempt) for item in todo.values()]
            for sample in self.engine.generate(requests):
                key = (sample["problem_id"], sample["sample_index"])
                raw = sample["content"] if sample["content"] is not None else sample["reasoning"]
                parsed = self.parse(sample["content"])
                if parsed is None and attempt < self.retries:
                    continue  # asked again in the next round
                todo.pop(key)
                result = {
                    "raw": raw,
                    "attempts": attempt + 1,
                    "finish_reason": sample["finish_reason"],
                }
                if item_cut := todo_cut.get(key):
                    result["input_cut_tokens"] = item_cut
                if parsed is None:
                    yield key, {"verdict": "judge_error", **result}
                else:
                    yield key, {**parsed, **result}
            attempt += 1


def combine_verdicts(verdicts: list[str], rule: str) -> str:
    """A panel's verdict: `unanimous` needs every judge; `majority` more than half of them.
    Otherwise `undecided` (a judge_error is a vote for nothing)."""
    top, count = Counter(verdicts).most_common(1)[0]
    if rule == "unanimous":
        return top if count == len(verdicts) else "undecided"
    return top if count * 2 > len(verdicts) else "undecided"


class JudgePanel:
    """Several judges on the same items, one after another (each engine is closed before the
    next one opens, so two large judges never share the accelerators). Each item's result holds
    every member's result under `panel`; `agree` says whether they all gave one verdict."""

    def __init__(self, members: list[tuple[str, Judge]], rule: str = "majority"):
        if len(members) < 2:
            raise ValueError("a panel has at least two judges")
        self.members, self.rule = members, rule
        self.template = members[0][1].template
        self.cut = 0

    def judge(self, items: Iterable[JudgeItem]) -> Iterator[tuple[tuple[str, int], dict]]:
        items = list(items)
        results: dict[str, dict] = {}
        for name, member in self.members:
            results[name] = dict(member.judge(items))
            self.cut += member.cut
            close = getattr(member.engine, "close", None)
            if close is not None:
                close()
        for item in items:
            per = {name: results[name][item.key] for name, _ in self.members}
            verdicts = [r["verdict"] for r in per.values()]
            verdict = combine_verdicts(verdicts, self.rule)
            # the extraction of the first judge that gave the panel's verdict, if any
            extracted = next(
                (
                    r["extracted_final_answer"]
                    for r in per.values()
                    if r["verdict"] == verdict and "extracted_final_answer" in r
                ),
                None,
            )
            result = {"verdict": verdict, "panel": per, "agree": len(set(verdicts)) == 1}
            if extracted is not None:
                result["extracted_final_answer"] = extracted
            cut = max((r.get("input_cut_tokens", 0) for r in per.values()), default=0)
            if cut:
                result["input_cut_tokens"] = cut
            yield item.key, result


def default_prompt(fmt: str = "hle") -> str:
    return load_prompt(FORMAT_PROMPTS[fmt])


def judge_prompt_for(fmt: str, configured: str, explicitly_set: bool) -> str:
    """The prompt a judge gets: the recipe's, when it named one; else its format's default."""
    return load_prompt(configured if explicitly_set else FORMAT_PROMPTS[fmt])


def judge_identity(name: str, spec: Any, template: str) -> dict:
    """What a stored judgement depends on about its judge: the model, its spec, the prompt and
    the reply format (a change to any judges again)."""
    return {
        "judge": name,
        "spec": spec.model_dump(mode="json"),
        "prompt": template,
        "format": spec.judge_format,
    }
