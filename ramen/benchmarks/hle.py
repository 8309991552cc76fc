"""Humanity's Last Exam (`hle`): `cais/hle`, split test, its text-only questions, under HLE's
official system prompt; every answer judged, as HLE's harness does; HLE's official metrics
(accuracy, calibration error) and `<key>.judged.jsonl` for `ramen metrics`."""

from __future__ import annotations

from ramen.benchmarks.answers import AnswerBenchmark
from ramen.benchmarks.kind import register


@register
class Hle(AnswerBenchmark):
    name = "hle"
    hub = {"path": "cais/hle", "split": "test"}
    default_system_prompt = "hle_system.txt"
    rules_first = False

    def reject_reason(self, row: dict) -> str | None:
        return "image_question" if row.get("image") else None  # the text-only set
