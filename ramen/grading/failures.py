"""Failure analysis: why wrong answers are wrong, counted per category, so the next training
round knows what to fix.

`no_answer_or_truncated` is decided from the sample itself (it stopped at its token budget, or
its final content holds no answer). Every other wrong answer goes to the judge with
`judge_failure.txt`, which names one reason: wrong_approach, execution_slip, misread_question
or format. A reply that names none, after retries, is `unclassified` (counted, never guessed).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable

from ramen.grading.judge import Judge

JUDGED_REASONS = ("wrong_approach", "execution_slip", "misread_question", "format")
NO_ANSWER = "no_answer_or_truncated"
UNCLASSIFIED = "unclassified"
REASONS = (*JUDGED_REASONS, NO_ANSWER, UNCLASSIFIED)
_REASON = re.compile(r"reason\s*[:：]\s*\**\s*([a-z_ ]+)", re.I)


def parse_reason(text: str | None) -> str | None:
    """The reason a failure judge names on its `reason:` line (last one wins), or None."""
    if not text:
        return None
    for found in reversed(_REASON.findall(text)):
        word = found.strip().lower().replace(" ", "_")
        for reason in JUDGED_REASONS:
            if word.startswith(reason):
                return reason
    return None


def needs_judge(row: dict) -> bool:
    """A wrong answer that has an answer to analyse."""
    return row.get("correct") is False and not without_answer(row)


def without_answer(row: dict) -> bool:
    return row.get("finish_reason") == "length" or not row.get("extracted")


class FailureJudge(Judge):
    def parse(self, content: str | None) -> dict | None:
        reason = parse_reason(content)
        return None if reason is None else {"verdict": reason, "reason": reason}


def failure_table(rows: Iterable[dict]) -> dict:
    """Counts of wrong answers by reason, overall and per category (rows carry `failure`)."""
    total: Counter = Counter()
    per_cat: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        reason = row.get("failure")
        if reason is None:
            continue
        total[reason] += 1
        per_cat[str(row.get("category") or "uncategorized")][reason] += 1
    return {
        "overall": {r: total[r] for r in REASONS},
        "by_category": {c: {r: cnt[r] for r in REASONS} for c, cnt in sorted(per_cat.items())},
    }
