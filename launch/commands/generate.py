"""`ramen generate`: sample answers to a JSONL of questions (resumable, shardable)."""

from __future__ import annotations

import argparse
from typing import Any

from ramen.console import console
from ramen.errors import UserError
from ramen.launch.commands.models import engine_args, engine_overrides, model_from_cli


def _sampling(args: argparse.Namespace) -> Any:
    """--temperature, --top-p, --max-tokens and the knobs (--top-k, --min-p, ...) checked by
    the recipe's own sampling model (ramen/inference/sampling_params.py Sampling)."""
    # imported when the command runs, so that `ramen --help` stays instant
    from pydantic import ValidationError

    from ramen.inference.sampling_params import KNOBS, Sampling

    given = {
        k: getattr(args, k)
        for k in ("temperature", "top_p", "max_tokens", *KNOBS)
        if getattr(args, k, None) is not None
    }
    try:
        return Sampling(**given)
    except ValidationError as err:
        first = err.errors()[0]
        flag = "--" + str(first["loc"][0]).replace("_", "-")
        value = given.get(first["loc"][0])
        raise UserError(f"{value} is out of range: {first['msg']}", where=flag) from None


def _cmd_generate(args: argparse.Namespace) -> int:
    # imported when the command runs, so that `ramen --help` stays instant
    from pathlib import Path

    from ramen.evaluation.commands import generate_file, merge_file
    from ramen.inference.store import Shard

    output = Path(args.output)
    if args.merge:
        n = merge_file(Path(args.input), output, args.n)
        console.print(f"merged {n} samples into {output}")
        return 0
    if not args.model:
        raise UserError(
            "needs --model: tiny:NAME, a model folder, a hub id, or a name in --recipe",
            where="--model",
        )
    if args.n < 1:
        raise UserError(
            f"{args.n} is out of range: samples per problem are at least 1", where="--n"
        )
    sampling = _sampling(args)
    shard = Shard.parse(args.shard)  # a bad --shard fails before a model is resolved or built
    spec, path, name = model_from_cli(args.model, args, "--model", **engine_overrides(args))
    stats = generate_file(
        spec,
        path,
        name,
        Path(args.input),
        output,
        n=args.n,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        max_tokens=sampling.max_tokens,
        seed=args.seed,
        shard=shard,
        system_prompt=args.system_prompt,
        force=args.force,
        knobs=sampling.knobs(),
    )
    console.print(
        f"generated {stats['generated']} samples now, {stats['resumed']} were already done"
        + (f"; rejected input rows: {stats['rejected']}" if stats["rejected"] else "")
    )
    if "written" in stats:
        console.print(f"wrote {stats['written']} samples to {output}")
    else:
        console.print(
            f"shard {args.shard} done; when every shard is, run `ramen generate --merge "
            f"--input {args.input} --output {args.output} --n {args.n}`"
        )
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to `ramen`'s subparsers."""
    p = sub.add_parser(
        "generate",
        help="sample n answers per question of a JSONL with vLLM (resumable, shardable)",
        description="Sample answers with the maximal completion budget. Input rows need `id` and "
        "`question`. Samples are stored as they finish in OUTPUT's .parts folder: a rerun after "
        "a kill resumes where it stopped.",
    )
    p.add_argument("--model", help="tiny:NAME, a model folder, a hub id, or a name in --recipe")
    p.add_argument("--input", required=True, help="JSONL of problems (id, question, ...)")
    p.add_argument("--output", required=True, help="JSONL of samples, written when complete")
    p.add_argument("--n", type=int, default=1, help="samples per question (default 1)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--top-k", type=int, help="default: the model's generation_config, else off")
    p.add_argument("--min-p", type=float, help="default: the model's generation_config, else 0")
    p.add_argument(
        "--repetition-penalty", type=float, help="default: the model's generation_config, else 1"
    )
    p.add_argument(
        "--presence-penalty", type=float, help="default: the model's generation_config, else 0"
    )
    p.add_argument(
        "--frequency-penalty", type=float, help="default: the model's generation_config, else 0"
    )
    p.add_argument(
        "--max-tokens", type=int, help="cap on completion tokens (default: all the context leaves)"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="run seed; each sample's seed derives from it"
    )
    p.add_argument("--shard", default="0/1", help="I/K: generate shard I of K (then --merge)")
    p.add_argument("--merge", action="store_true", help="merge finished shards into --output")
    p.add_argument("--system-prompt", help="system message put before each question")
    p.add_argument("--recipe", help="take --model from this recipe's models:")
    p.add_argument("--force", action="store_true", help="discard parts made with other settings")
    engine_args(p)
    p.set_defaults(func=_cmd_generate)
