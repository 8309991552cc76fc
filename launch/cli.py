"""The `ramen` command line: validate, run, env, docs."""

from __future__ import annotations

import argparse
import os
import sys

from ramen.console import console, err_console
from ramen.errors import UserError


def _cmd_validate(args: argparse.Namespace) -> int:
    from launch.recipe import load_recipe
    from launch.stages import STAGES, pending_sections

    recipe = load_recipe(args.recipe, args.overrides)
    stages = [s.name for s in STAGES if s.enabled(recipe)]
    console.print(
        f"ok: {args.recipe} is a valid recipe '{recipe.name}' (hash {recipe.hash()[:12]})"
    )
    console.print(f"stages: {', '.join(stages) or 'none'}")
    for note in pending_sections(recipe):
        console.print(f"not run by this version yet: {note}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from launch.recipe import load_recipe
    from launch.runner import Runner
    from launch.stages import STAGES, pending_sections

    recipe = load_recipe(args.recipe, args.overrides)
    split = lambda s: [x.strip() for x in s.split(",") if x.strip()] if s else []  # noqa: E731
    runner = Runner(recipe, STAGES)
    outcome = runner.run(only=split(args.stages), force=split(args.force))
    ran = [k for k, v in outcome.items() if v == "ran"]
    skipped = [k for k, v in outcome.items() if v == "skipped"]
    console.print(
        f"[bold]done[/]: ran {', '.join(ran) or 'nothing'}; skipped {', '.join(skipped) or 'nothing'}"
    )
    for note in pending_sections(recipe):
        console.print(f"[yellow]note[/]: not run by this version yet: {note}")
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    from launch.runner import package_versions

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
    from launch import docs

    if args.check:
        current = docs.REFERENCE.read_text(encoding="utf-8") if docs.REFERENCE.exists() else ""
        if current != docs.render():
            raise UserError(f"{docs.REFERENCE} is stale; run `ramen docs` to rewrite it")
        console.print(f"ok: {docs.REFERENCE} is up to date")
        return 0
    console.print(f"wrote {docs.write()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ramen",
        description="One recipe YAML to a whole post-training run: curation, SFT/DPO, evaluation.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("validate", help="check a recipe without running anything")
    p.add_argument("recipe", help="path to the recipe YAML")
    p.add_argument(
        "overrides", nargs="*", help="key.path=value overrides, e.g. curation.sample.n=8"
    )
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("run", help="run a recipe's stages (finished stages are skipped)")
    p.add_argument("recipe", help="path to the recipe YAML")
    p.add_argument(
        "overrides", nargs="*", help="key.path=value overrides, e.g. curation.sample.n=8"
    )
    p.add_argument("--stages", default="", help="comma-separated stages to run (default: all)")
    p.add_argument("--force", default="", help="comma-separated stages to rerun even if done")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("env", help="print package versions and devices (for bug reports)")
    p.set_defaults(func=_cmd_env)

    p = sub.add_parser("docs", help="regenerate docs/recipe-reference.md from the schema")
    p.add_argument(
        "--check", action="store_true", help="exit 2 if the file is stale instead of writing it"
    )
    p.set_defaults(func=_cmd_docs)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        err_console.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
        return e.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
