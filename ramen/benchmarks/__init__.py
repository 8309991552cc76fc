"""Benchmark kinds: what a benchmark is (kind.py: the interface and the registry), one
module per kind (hle.py, qa.py, dna.py), what they share (answers.py, metrics.py, plots.py),
and a benchmark entry of the recipe (spec.py).

Importing the package imports each of its modules, so every kind module registers itself:
adding a kind is adding its module."""

from __future__ import annotations

import importlib
import pkgutil

from ramen.benchmarks.kind import KINDS, BenchmarkKind, hub_kinds, kind, register

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["KINDS", "BenchmarkKind", "hub_kinds", "kind", "register"]
