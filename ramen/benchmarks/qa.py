"""Any question-answer or maths set (`qa`): a local file or a hub dataset id (`path`, with
`split`), its columns mapped by `fields`; rules first, the judge for what they leave
undecided; metrics as HLE's."""

from __future__ import annotations

from ramen.benchmarks.answers import AnswerBenchmark
from ramen.benchmarks.kind import register


@register
class Qa(AnswerBenchmark):
    name = "qa"
    needs_path = True
    path_may_be_hub_id = True
