"""`ramen env`, `ramen docs` and `ramen sources`."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ramen.console import console
from ramen.errors import UserError


def _cmd_env(args: argparse.Namespace) -> int:
    # imported when the command runs, so that `ramen --help` stays instant
    from ramen.launch.runner import package_versions

    versions = package_versions()
    for name, version in versions.items():
        console.print(f"{name:14s} {version}")
    import torch

    console.print(f"{'cpus':14s} {os.cpu_count()}")
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        console.print(f"{'memory':14s} {mem_gib:.1f} GiB")
    except (ValueError, OSError):
        pass
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            console.print(f"{'cuda:' + str(i):14s} {p.name}, {p.total_memory / 2**30:.0f} GiB")
    else:
        console.print(f"{'devices':14s} cpu only (no CUDA device)")
    return 0


def _cmd_docs(args: argparse.Namespace) -> int:
    # imported when the command runs, so that `ramen --help` stays instant
    from ramen.launch import docs

    if args.check:
        current = docs.REFERENCE.read_text(encoding="utf-8") if docs.REFERENCE.exists() else ""
        if current != docs.render():
            raise UserError(f"{docs.REFERENCE} is stale; run `ramen docs` to rewrite it")
        console.print(f"ok: {docs.REFERENCE} is up to date")
        return 0
    console.print(f"wrote {docs.write()}")
    return 0


def _cmd_sources(args: argparse.Namespace) -> int:
    """The built-in problem generators (`synthetic: sympy` sources), with their knobs."""
    # imported when the command runs, so that `ramen --help` stays instant
    import random

    from ramen.curation.generators import REGISTRY

    for name, gen in REGISTRY.items():
        if args.category and gen.category != args.category:
            continue
        console.print(f"[bold]{name}[/bold]  ({gen.category}): {gen.help}")
        for knob in gen.knobs:
            levels = "/".join(str(v) for v in knob.levels)
            console.print(
                f"    {knob.name:12s} {knob.help}; levels 1-5: {levels}; allowed {knob.lo}-{knob.hi}",
                markup=False,
            )
        knobs = gen.knob_values(args.difficulty)
        for i in range(args.examples):
            draw = gen.fn(random.Random(f"{args.seed}:{name}:{args.language}:{i}:0"), knobs)
            console.print(f"    e.g. {gen.render(draw, args.language)}", markup=False)
            console.print(f"         answer: {draw.answer}", markup=False)
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to `ramen`'s subparsers."""
    p = sub.add_parser("env", help="print package versions and devices (for bug reports)")
    p.set_defaults(func=_cmd_env)
    p = sub.add_parser("docs", help="regenerate docs/recipe-reference.md from the schema")
    p.add_argument(
        "--check", action="store_true", help="exit 2 if the file is stale instead of writing it"
    )
    p.set_defaults(func=_cmd_docs)
    p = sub.add_parser(
        "sources", help="list the SymPy problem generators (synthetic sources) and their knobs"
    )
    p.add_argument("--category", help="only this category's generators")
    p.add_argument("--examples", type=int, default=1, help="example problems per generator")
    p.add_argument("--difficulty", type=int, default=2, choices=range(1, 6), help="level 1-5")
    p.add_argument("--language", default="en", choices=["en", "ja"])
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_sources)
