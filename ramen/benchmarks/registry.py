"""The benchmark kinds a recipe can evaluate (`evaluation.benchmarks[].name`), each behind the
interface of `evaluation.benchmarks.BenchmarkKind`. A new kind is a class and a line here."""

from __future__ import annotations

from ramen.benchmarks.answers import HLE, QA
from ramen.benchmarks.dna import DO_NOT_ANSWER
from ramen.benchmarks.kind import BenchmarkKind

KINDS: dict[str, BenchmarkKind] = {k.name: k for k in (HLE, DO_NOT_ANSWER, QA)}
