"""The `ramen` command line: validate, run, env, docs."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ramen.console import console, err_console
from ramen.errors import StageFailed, UserError


def _cmd_validate(args: argparse.Namespace) -> int:
    from launch.recipe import load_recipe
    from launch.stages import STAGES

    recipe = load_recipe(args.recipe, args.overrides)
    stages = [s.name for s in STAGES if s.enabled(recipe)]
    console.print(
        f"ok: {args.recipe} is a valid recipe '{recipe.name}' (hash {recipe.hash()[:12]})"
    )
    console.print(f"stages: {', '.join(stages) or 'none'}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from launch.recipe import load_recipe
    from launch.runner import Runner
    from launch.stages import STAGES

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
    outcome = runner.run(only=split(args.stages), force=split(args.force))
    ran = [k for k, v in outcome.items() if v == "ran"]
    skipped = [k for k, v in outcome.items() if v == "skipped"]
    console.print(
        f"[bold]done[/]: ran {', '.join(ran) or 'nothing'}; skipped {', '.join(skipped) or 'nothing'}"
    )
    return 0


def _cmd_launch(args: argparse.Namespace) -> int:
    from launch.launcher import launch
    from launch.recipe import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    backend = args.backend or recipe.launch.backend
    return launch(recipe, args.recipe, args.overrides, backend=backend, dry_run=args.dry_run)


def _cmd_status(args: argparse.Namespace) -> int:
    from pathlib import Path

    from launch.launcher import print_status

    run = Path(args.run)
    if run.is_file():  # a recipe: its run folder
        from launch.recipe import load_recipe

        run = load_recipe(run).run_dir
    return print_status(run, as_json=args.json)


def _cmd_metrics(args: argparse.Namespace) -> int:
    import json
    from collections import Counter
    from pathlib import Path

    from evaluation.commands import sidecar
    from evaluation.metrics import hle_metrics, parse_confidence, parse_correct
    from ramen.io import jsonl_records, write_jsonl_atomic

    path = Path(args.input)
    if not path.is_file():
        raise UserError(f"no such file: {path}", where="--input")
    rows, rejects, reasons, seen = [], [], Counter(), set()
    for row, reason, detail in jsonl_records(path):
        if row is not None:
            detail = row
            correct, reason = parse_correct(row.get("correct"))
            confidence, why = parse_confidence(row.get("confidence"))
            reason = reason or why
            if not reason and row.get("id") in (None, ""):
                reason = "missing_id"
            if not reason and str(row["id"]) in seen:
                reason = "duplicate_id"
        if reason:
            rejects.append({"reason": reason, "row": detail})
            reasons[reason] += 1
            continue
        seen.add(str(row["id"]))
        rows.append({**row, "correct": correct, "confidence": confidence})
    result = hle_metrics(rows)
    if reasons:
        rejects_path = sidecar(path, "metrics-rejects.jsonl")
        write_jsonl_atomic(rejects_path, rejects)
        result["rejected"] = dict(sorted(reasons.items()))
        err_console.print(
            f"{sum(reasons.values())} rows rejected ({', '.join(f'{k}: {v}' for k, v in sorted(reasons.items()))}); see {rejects_path}"
        )
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    console.print(
        f"n {result['n']}  accuracy {result['accuracy']:.2f} +- {result['ci95_half_width']:.2f} "
        f"(Wald 95%, missing = wrong)  accuracy over judged {result['accuracy_judged']:.2f} "
        f"({result['judged']} judged)  calibration error {result['calibration_error']:.1f}"
    )
    for cat, m in result["by_category"].items():
        console.print(
            f"  {cat:28s} n {m['n']:5d}  accuracy {m['accuracy']:6.2f} +- {m['ci95_half_width']:.2f}"
        )
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    import json

    from evaluation.compare import compare_files, resolve_input

    a, b = resolve_input(args.run_a), resolve_input(args.run_b)
    names = (args.names or f"{args.run_a},{args.run_b}").split(",")
    if len(names) != 2:
        raise UserError("give two names separated by a comma", where="--names")
    result = compare_files(a, b, seed=args.seed, names=(names[0], names[1]))
    if args.output:
        from ramen.io import write_json_atomic

        write_json_atomic(args.output, result)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    for key, r in result["benchmarks"].items():
        console.print(
            f"[bold]{key}[/]: {names[0]} {r['a']:.2f} vs {names[1]} {r['b']:.2f} on {r['shared']} "
            f"shared questions (only in A {r['only_in_a']}, only in B {r['only_in_b']}, "
            f"left out {r['left_out_unscored']})"
        )
        console.print(f"  {r['sentence']}")
        for cat, c in r["by_category"].items():
            console.print(
                f"  {cat:28s} n {c['n']:5d}  {c['difference']:+7.2f}  "
                f"[{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}]"
            )
    for side, counts in result.get("rejected", {}).items():
        if counts:
            err_console.print(
                f"{side}: rejected rows {counts} (see the .compare-rejects.jsonl file)"
            )
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from training.export import adapter_base, merge_lora

    adapter = Path(args.adapter)
    if (adapter / "model" / "adapter_config.json").is_file():  # a train stage folder
        adapter = adapter / "model"
    base = args.base or adapter_base(adapter)
    if args.base is None and not Path(base).exists() and base.startswith(("/", ".")):
        raise UserError(
            f"the adapter's base model '{base}' is not on this machine; pass --base PATH",
            where="--base",
        )
    out = merge_lora(adapter, Path(args.output), base, dtype=args.dtype)
    console.print(f"wrote {out}: {base} + LoRA {adapter}, merged (loads in vLLM without PEFT)")
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


def _model_from_cli(model: str, args: argparse.Namespace, role: str, **overrides):
    """(spec, resolved path, name) for a model named on the command line: a name under the
    `--recipe`'s models, `tiny:NAME`, a local folder or a hub id."""
    import json
    from pathlib import Path

    from pydantic import ValidationError

    from launch.stages import resolve_model_path
    from ramen.spec import ModelSpec

    overrides = {k: v for k, v in overrides.items() if v is not None}
    if getattr(args, "recipe", None):
        from launch.recipe import load_recipe

        recipe = load_recipe(args.recipe, [])
        if model not in recipe.models:
            raise UserError(
                f"no model '{model}' under models: in {args.recipe}; known: "
                + ", ".join(sorted(recipe.models)),
                where=role,
            )
        data = recipe.models[model].model_dump()
        engine = {**data.pop("engine"), **overrides.pop("engine", {})}
        spec = ModelSpec(**{**data, **overrides, "engine": engine})
        return spec, resolve_model_path(model, spec.path), model
    try:
        spec = ModelSpec(path=model, **overrides)
    except ValidationError as e:
        raise UserError(e.errors()[0]["msg"], where=role) from None
    path = resolve_model_path(role.lstrip("-"), spec.path)
    if "max_model_len" not in overrides:
        # Serve the model's own context, up to 32k, when nothing says otherwise.
        config = Path(path) / "config.json"
        if config.is_file():
            own = json.loads(config.read_text()).get("max_position_embeddings")
            if isinstance(own, int):
                spec = spec.model_copy(update={"max_model_len": min(own, 32768)})
    if spec.path.startswith("tiny:") and "dtype" not in overrides:
        spec = spec.model_copy(update={"dtype": "float32"})  # the tiny family is float32
    return spec, path, Path(model).name if Path(model).exists() else model


def _engine_overrides(args: argparse.Namespace, prefix: str = "") -> dict:
    get = lambda k: getattr(args, prefix + k, None)  # noqa: E731
    engine = {
        "backend": get("backend"),
        "max_num_seqs": get("max_num_seqs"),
        "length_retries": get("length_retries"),
        "concurrency": get("concurrency"),
    }
    engine = {k: v for k, v in engine.items() if v is not None}
    thinking = get("thinking")
    return {
        "max_model_len": get("max_model_len"),
        "dtype": get("dtype"),
        "enable_thinking": None if thinking is None else thinking == "on",
        **({"engine": engine} if engine else {}),
    }


def _sampling(args: argparse.Namespace) -> Any:
    """--temperature, --top-p, --max-tokens and the knobs (--top-k, --min-p, ...) checked by
    the recipe's own sampling model (evaluation/sampling_params.py Sampling)."""
    from pydantic import ValidationError

    from evaluation.sampling_params import KNOBS, Sampling

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
    from pathlib import Path

    from evaluation.commands import generate_file, merge_file
    from evaluation.store import Shard

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
    spec, path, name = _model_from_cli(args.model, args, "--model", **_engine_overrides(args))
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


def _cmd_grade(args: argparse.Namespace) -> int:
    import contextlib
    from pathlib import Path

    from rich.table import Table

    from evaluation.commands import grade_file
    from evaluation.grading import score_audit

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
            from evaluation.engine import LazyEngine, open_engine

            overrides = _engine_overrides(args, "judge_")
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
                _model_from_cli(args.judge, args, "--judge", **overrides)
                if args.judge
                else _endpoint_spec(args, overrides)
            )
            log_dir = Path(args.output).parent
            engine = LazyEngine(
                lambda: open_engine(spec, path, judge_name, seed=args.seed, log_dir=log_dir),
                judge_name,
            )
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
    from ramen.spec import ModelSpec

    if not args.judge_model:
        raise UserError(
            "--judge-url needs --judge-model (the model name at the endpoint)",
            where="--judge-model",
        )
    overrides = {k: v for k, v in overrides.items() if v is not None}
    spec = ModelSpec(path=args.judge_model, **overrides)
    return spec, args.judge_model, args.judge_model


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


def _engine_args(p: argparse.ArgumentParser, prefix: str = "") -> None:
    g = p.add_argument_group(f"{prefix or 'model '}engine")
    g.add_argument(
        f"--{prefix}backend",
        choices=["offline", "serve"],
        help="offline vLLM (default) or a vllm serve on loopback",
    )
    g.add_argument(
        f"--{prefix}max-model-len",
        type=int,
        help="context length (default: the model's, up to 32768)",
    )
    g.add_argument(f"--{prefix}dtype", choices=["auto", "float32", "bfloat16", "float16"])
    g.add_argument(
        f"--{prefix}thinking", choices=["on", "off"], help="enable_thinking for the chat template"
    )
    g.add_argument(f"--{prefix}max-num-seqs", type=int, help="vLLM sequences per batch")
    g.add_argument(
        f"--{prefix}length-retries",
        type=int,
        help="re-requests of a sample cut by the length limit",
    )
    g.add_argument(f"--{prefix}concurrency", type=int, help="requests in flight to a server")


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
    _engine_args(p)
    p.set_defaults(func=_cmd_generate)

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
    _engine_args(p, "judge-")
    p.set_defaults(func=_cmd_grade)

    p = sub.add_parser(
        "metrics",
        help="HLE's official metrics (accuracy, Wald CI, calibration error, per category) of "
        "judged rows",
    )
    p.add_argument(
        "--input",
        required=True,
        help="JSONL with id, category, correct (yes/no or true/false; null = not judged) and "
        "confidence (0-100)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_metrics)

    p = sub.add_parser(
        "compare",
        help="paired comparison of two judged runs: difference with a bootstrap CI, McNemar "
        "exact p, per category, and whether it is distinguishable from noise",
    )
    p.add_argument("run_a", help="run folder, evaluate stage folder or judged JSONL file (A)")
    p.add_argument("run_b", help="the same for B")
    p.add_argument("--names", help="display names 'A,B' (default: the paths)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--output", help="also write the result JSON to this file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser(
        "export", help="merge a LoRA adapter into its base model (a folder vLLM loads)"
    )
    p.add_argument(
        "adapter", help="the adapter folder, or a train stage folder (runs/<name>/train)"
    )
    p.add_argument("--output", required=True, help="folder to write the merged model to")
    p.add_argument(
        "--base", help="base model path or hub id (default: the one the adapter records)"
    )
    p.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "float32", "bfloat16", "float16"],
        help="weights dtype of the merged model",
    )
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("env", help="print package versions and devices (for bug reports)")
    p.set_defaults(func=_cmd_env)

    p = sub.add_parser("docs", help="regenerate docs/recipe-reference.md from the schema")
    p.add_argument(
        "--check", action="store_true", help="exit 2 if the file is stale instead of writing it"
    )
    p.set_defaults(func=_cmd_docs)
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
