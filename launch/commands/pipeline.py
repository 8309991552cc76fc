"""`ramen validate`, `run`, `launch` and `status`: a recipe's stages."""

from __future__ import annotations

import argparse
from typing import Any

from ramen.console import console
from ramen.errors import RecipeError


def _cmd_validate(args: argparse.Namespace) -> int:
    # imported when the command runs, so that `ramen --help` stays instant
    from ramen.launch.recipe import load_recipe
    from ramen.launch.stages import STAGES

    recipe = load_recipe(args.recipe, args.overrides)
    _gate(recipe, STAGES)
    _check_engine_args(recipe)
    stages = [s.name for s in STAGES if s.enabled(recipe)]
    console.print(
        f"ok: {args.recipe} is a valid recipe '{recipe.name}' (hash {recipe.hash()[:12]})"
    )
    console.print(f"stages: {', '.join(stages) or 'none'}")
    return 0


def _check_engine_args(recipe) -> None:
    """vLLM's own parser on every model's `engine.args` (their names were checked at load)."""
    from ramen.inference.server import check_engine_values  # imports vLLM: only when asked

    for name, spec in recipe.models.items():
        problem = check_engine_values(spec.engine.args)
        if problem:
            raise RecipeError(f"models.{name}.engine.args: vLLM says: {problem}")


def _cmd_run(args: argparse.Namespace) -> int:
    # imported when the command runs, so that `ramen --help` stays instant
    from ramen.launch.recipe import load_recipe
    from ramen.launch.runner import Runner
    from ramen.launch.stages import STAGES

    recipe = load_recipe(args.recipe, args.overrides)
    split = lambda s: [x.strip() for x in s.split(",") if x.strip()] if s else []  # noqa: E731
    runner = Runner(recipe, STAGES, recipe_path=args.recipe)
    if args.dry_run:
        for stage, decision in runner.dry_run(only=split(args.stages), force=split(args.force)):
            console.print(
                f"{stage}: run ({decision.why})" if decision.run else f"{stage}: skip",
                markup=False,
                highlight=False,
            )
        return 0
    if args.ahead:
        names = split(args.stages) or [s.name for s in runner.plan if s.ahead is not None]
        runner.ahead(names)
        return 0
    outcome = runner.run(only=split(args.stages), force=split(args.force))
    ran = [k for k, v in outcome.items() if v == "ran"]
    skipped = [k for k, v in outcome.items() if v == "skipped"]
    console.print(
        f"[bold]done[/]: ran {', '.join(ran) or 'nothing'}; skipped {', '.join(skipped) or 'nothing'}"
    )
    return 0


def _cmd_launch(args: argparse.Namespace) -> int:
    # imported when the command runs, so that `ramen --help` stays instant
    from ramen.launch.launcher import launch
    from ramen.launch.recipe import load_recipe
    from ramen.launch.stages import STAGES

    recipe = load_recipe(args.recipe, args.overrides)
    _gate(recipe, STAGES)
    backend = args.backend or recipe.launch.backend
    return launch(recipe, args.recipe, args.overrides, backend=backend, dry_run=args.dry_run)


def _gate(recipe: Any, stages: list) -> None:
    """A GPU recipe whose stages cannot fit its allocation is a bad recipe (exit 2)."""
    # planning imports torch and transformers: only for a recipe with GPUs to fit
    from ramen.planning.plan import gate

    for warning in gate(recipe, stages):
        console.print(f"[yellow]warning[/] {warning.where}: {warning.message}")


def _cmd_plan(args: argparse.Namespace) -> int:
    # imported when the command runs, so that `ramen --help` stays instant
    import json

    from ramen.launch.recipe import load_recipe
    from ramen.launch.stages import STAGES
    from ramen.planning.plan import plan, render

    recipe = load_recipe(args.recipe, args.overrides)
    result = plan(recipe, STAGES)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        console.print(render(result))
    return 2 if result.errors() else 0


def _cmd_status(args: argparse.Namespace) -> int:
    # imported when the command runs, so that `ramen --help` stays instant
    from pathlib import Path

    from ramen.launch.launcher import print_status

    run = Path(args.run)
    if run.is_file():  # a recipe: its run folder
        from ramen.launch.recipe import load_recipe  # the recipe schema: only for a recipe

        run = load_recipe(run).run_dir
    return print_status(run, as_json=args.json)


def register(sub: Any) -> None:
    """Add this module's commands to `ramen`'s subparsers."""
    p = sub.add_parser("validate", help="check a recipe without running anything")
    p.add_argument("recipe", help="path to the recipe YAML")
    p.add_argument(
        "overrides", nargs="*", help="key.path=value overrides, e.g. curation.sample.n=8"
    )
    p.set_defaults(func=_cmd_validate)
    p = sub.add_parser(
        "plan",
        help="plan every stage at the real models' shapes on the recipe's launch allocation: "
        "memory per GPU and node, disk, tokens, time (exit 2 when a stage cannot fit)",
    )
    p.add_argument("recipe", help="path to the recipe YAML")
    p.add_argument("overrides", nargs="*", help="key.path=value overrides, e.g. launch.nodes=6")
    p.add_argument("--json", action="store_true", help="the plan as JSON")
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("run", help="run a recipe's stages (finished stages are skipped)")
    p.add_argument("recipe", help="path to the recipe YAML")
    p.add_argument(
        "overrides", nargs="*", help="key.path=value overrides, e.g. curation.sample.n=8"
    )
    p.add_argument("--stages", default="", help="comma-separated stages to run (default: all)")
    p.add_argument("--force", default="", help="comma-separated stages to rerun even if done")
    p.add_argument(
        "--ahead",
        action="store_true",
        help="do only the part of the stages that needs no GPU, now, for the stage to take when "
        "it runs (a train stage: its data rendered and tokenized); a SLURM launch runs this as a "
        "CPU job before each GPU train job",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="change nothing; print each stage as `skip` or `run (why)`: the recipe keys that "
        "changed, or the input stage that reruns",
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="show library output (vLLM, DeepSpeed, warnings) on the terminal too; by default "
        "it goes to each stage's logs/stage.log",
    )
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser(
        "launch",
        help="run the stages as SLURM jobs chained by dependencies (or as local processes)",
        description="Render one sbatch script per stage into runs/<name>/launch/ and submit them "
        "with --dependency=afterok (backend slurm), or run each stage as its own process here "
        "(backend local). Finished, unchanged stages are not submitted again.",
    )
    p.add_argument("recipe", help="path to the recipe YAML")
    p.add_argument(
        "overrides", nargs="*", help="key.path=value overrides, e.g. launch.partition=gpu-long"
    )
    p.add_argument(
        "--backend", choices=["local", "slurm"], help="default: the recipe's launch.backend"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="write and print the scripts; submit nothing"
    )
    p.set_defaults(func=_cmd_launch)
    p = sub.add_parser(
        "status", help="each stage of a run: done, running, pending, failed or not started"
    )
    p.add_argument("run", help="run folder (runs/<name>) or the recipe YAML")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=_cmd_status)
