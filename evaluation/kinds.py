"""The benchmark kinds a recipe can evaluate (`evaluation.benchmarks[].name`), each behind the
interface of `evaluation.benchmarks.BenchmarkKind`. A new kind is a class and a line here."""

from __future__ import annotations

from ramen.evaluation.answers import HLE, QA
from ramen.evaluation.benchmarks import BenchmarkKind
from ramen.evaluation.dna import DO_NOT_ANSWER

KINDS: dict[str, BenchmarkKind] = {k.name: k for k in (HLE, DO_NOT_ANSWER, QA)}
