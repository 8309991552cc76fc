"""The `ramen` command line. Each command's parser sits beside its handler in
`launch/commands/` (pipeline: validate, run, launch, status; generate; grade; results: metrics,
compare, export; tools: env, docs); this module assembles them and runs one."""

from __future__ import annotations

import argparse
import os
import sys

from ramen.console import err_console
from ramen.errors import StageFailed, UserError
from ramen.launch.commands import generate, grade, pipeline, results, tools

COMMANDS = (pipeline, generate, grade, results, tools)  # in `ramen --help` order


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ramen",
        description="One recipe YAML to a whole post-training run: curation, SFT/DPO, evaluation.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMANDS:
        module.register(sub)
    return parser


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with `key.path=value` overrides allowed anywhere after the recipe
    (`ramen run R --stages a,b k=v` as well as `ramen run R k=v --stages a,b`): argparse stops
    a positional list at the first option, so overrides after options come back unparsed."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest:
        if not hasattr(args, "overrides") or any(a.startswith("-") or "=" not in a for a in rest):
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        args.overrides = [*args.overrides, *rest]
    return args


def main(argv: list[str] | None = None) -> int:
    # vLLM's per-request INFO lines drown ramen's own output; set VLLM_LOGGING_LEVEL=INFO to see them.
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    args = parse(argv)
    if getattr(args, "verbose", False):
        os.environ["RAMEN_VERBOSE"] = "1"  # read by ramen.console, inherited by child commands
    try:
        return args.func(args)
    except (UserError, StageFailed) as e:
        err_console.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
        return e.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
