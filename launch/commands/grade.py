"""`ramen grade`: grade a JSONL of answers, rules first, then an LLM judge."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ramen.console import console
from ramen.errors import UserError
from ramen.launch.commands.models import engine_args, engine_overrides, model_from_cli


def _cmd_grade(args: argparse.Namespace) -> int:
    # imported when the command runs, so that `ramen --help` stays instant
    import contextlib
    from pathlib import Path

    from rich.table import Table

    from ramen.evaluation.commands import grade_file
    from ramen.grading.audit import score_audit

    if args.score_audit:
        s = score_audit(Path(args.score_audit))
        kappa = "undefined (one class only)" if s["kappa"] is None else f"{s['kappa']:.3f}"
        console.print(
            f"labelled {s['labelled']} (unlabelled {s['unlabelled']}): agreement "
            f"{100 * s['agreement']:.1f}%, Cohen's kappa {kappa}; judge said correct where the "
            f"label says incorrect: {s['judge_said_correct_human_incorrect']}, the reverse: "
            f"{s['judge_said_incorrect_human_correct']}"
        )
        return 0
    if not args.input or not args.output:
        raise UserError("needs --input and --output (or --score-audit FILE)", where="ramen grade")
    if args.no_judge and (args.judge or args.judge_url):
        raise UserError("--no-judge and --judge/--judge-url exclude each other", where="--no-judge")
    prompt = None
    if args.judge_prompt:
        p = Path(args.judge_prompt)
        if not p.is_file():
            raise UserError(f"no such file: {p}", where="--judge-prompt")
        prompt = p.read_text(encoding="utf-8")
    with contextlib.ExitStack() as stack:
        engine, judge_name, judge_format = None, None, "hle"
        if args.judge or args.judge_url:
            from ramen.inference.engine import LazyEngine  # only when a judge is named

            overrides = engine_overrides(args, "judge_")
            if overrides["enable_thinking"] is None:
                overrides["enable_thinking"] = False  # the judge sees and writes no reasoning
            overrides["judge_format"] = args.judge_format
            if args.judge_url:
                overrides["engine"] = {
                    **overrides.get("engine", {}),
                    "backend": "endpoint",
                    "url": args.judge_url,
                    "api_key_env": args.api_key_env,
                }
            spec, path, judge_name = (
                model_from_cli(args.judge, args, "--judge", **overrides)
                if args.judge
                else _endpoint_spec(args, overrides)
            )
            log_dir = Path(args.output).parent
            engine = LazyEngine.of(spec, path, judge_name, seed=args.seed, log_dir=log_dir)
            stack.callback(engine.close)
            judge_format = spec.judge_format
        stats = grade_file(
            Path(args.input),
            Path(args.output),
            judge_engine=engine,
            judge_name=judge_name,
            mode="all" if args.judge_all else "undecided",
            prompt=prompt,
            judge_format=judge_format,
            retries=args.judge_retries,
            workers=args.workers,
            audit=args.audit,
            seed=args.seed,
            force=args.force,
        )
    table = Table(title=f"graded {stats['rows']} rows -> {args.output}", title_justify="left")
    table.add_column("verdict")
    table.add_column("rows", justify="right")
    for verdict, n in stats["verdicts"].items():
        table.add_row(verdict, str(n))
    for reason, n in stats["rejected"].items():
        table.add_row(f"rejected: {reason}", str(n))
    console.print(table)
    console.print("decided by: " + ", ".join(f"{k} {v}" for k, v in stats["methods"].items()))
    undecided = stats["verdicts"].get("undecided", 0)
    if undecided and engine is None:
        console.print(f"{undecided} rows are undecided by rules; pass --judge MODEL to judge them")
    if stats["verdicts"].get("judge_error"):
        console.print(
            f"[yellow]{stats['verdicts']['judge_error']} judge_error rows[/]: the judge's reply "
            "could not be parsed after retries (not counted as incorrect)"
        )
    if "audit_file" in stats:
        console.print(
            f"wrote {stats['audit_rows']} rows to label in {stats['audit_file']}; fill "
            f"`human_label`, then run `ramen grade --score-audit {stats['audit_file']}`"
        )
    return 0


def _endpoint_spec(args: argparse.Namespace, overrides: dict):
    # imported when the command runs, so that `ramen --help` stays instant
    from ramen.spec import ModelSpec

    if not args.judge_model:
        raise UserError(
            "--judge-url needs --judge-model (the model name at the endpoint)",
            where="--judge-model",
        )
    overrides = {k: v for k, v in overrides.items() if v is not None}
    spec = ModelSpec(path=args.judge_model, **overrides)
    return spec, args.judge_model, args.judge_model


def register(sub: Any) -> None:
    """Add this module's commands to `ramen`'s subparsers."""
    p = sub.add_parser(
        "grade",
        help="grade a JSONL of answers: rules first, then an LLM judge",
        description="Input rows: id, question, answer, answer_type, response (or Sample rows "
        "from `ramen generate`). Output: the rows plus verdict, method, extracted.",
    )
    p.add_argument("--input", help="JSONL of responses to grade")
    p.add_argument("--output", help="graded JSONL")
    p.add_argument("--no-judge", action="store_true", help="rules only (undecided stays undecided)")
    p.add_argument(
        "--judge", help="judge model: tiny:judge, a folder, a hub id, or a name in --recipe"
    )
    p.add_argument("--judge-url", help="OpenAI-compatible endpoint of an already running judge")
    p.add_argument("--judge-model", help="model name at --judge-url")
    p.add_argument("--api-key-env", help="environment variable holding --judge-url's API key")
    p.add_argument(
        "--judge-all", action="store_true", help="judge every answer, not only undecided ones"
    )
    p.add_argument(
        "--judge-prompt",
        help="prompt file with {question}, {response}, {correct_answer} (default: the one of "
        "--judge-format)",
    )
    p.add_argument(
        "--judge-format",
        choices=["hle", "verdict", "abc"],
        help="the judge's reply: hle = four fields (default), verdict = Correct/Incorrect, "
        "abc = A correct / B incorrect / C invalid",
    )
    p.add_argument(
        "--judge-retries", type=int, default=2, help="re-requests of an unparsable judgement"
    )
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes for rule grading"
    )
    p.add_argument(
        "--audit", type=int, default=0, metavar="N", help="write N judged rows to label by hand"
    )
    p.add_argument(
        "--score-audit",
        metavar="FILE",
        help="report judge/human agreement of a labelled audit file",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--recipe", help="take --judge from this recipe's models:")
    p.add_argument(
        "--force", action="store_true", help="discard judge parts made with other settings"
    )
    engine_args(p, "judge-")
    p.set_defaults(func=_cmd_grade)
