"""`ramen metrics`, `compare` and `export`: numbers and models out of finished runs."""

from __future__ import annotations

import argparse
from typing import Any

from ramen.console import console, err_console
from ramen.errors import UserError
from ramen.io import write_json_atomic


def _cmd_metrics(args: argparse.Namespace) -> int:
    # imported when the command runs, so that `ramen --help` stays instant
    import json
    from collections import Counter
    from pathlib import Path

    from ramen.benchmarks.metrics import hle_metrics, parse_confidence, parse_correct
    from ramen.evaluation.commands import sidecar
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
    # imported when the command runs, so that `ramen --help` stays instant
    import json

    from ramen.evaluation.compare import compare_files, resolve_input

    if len(args.runs) < 2:
        raise UserError("give two runs (A B), or a base and candidates (BASE CAND1 CAND2 ...)")
    names = args.names.split(",") if args.names else list(args.runs)
    if len(names) != len(args.runs):
        raise UserError(
            f"give {len(args.runs)} names separated by commas, one per run", where="--names"
        )
    if len(args.runs) > 2:
        return _compare_many(args, names)
    a, b = resolve_input(args.runs[0]), resolve_input(args.runs[1])
    result = compare_files(a, b, seed=args.seed, names=(names[0], names[1]))
    if args.output:
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


def _compare_many(args: argparse.Namespace, names: list[str]) -> int:
    # imported when the command runs, so that `ramen --help` stays instant
    import json

    from ramen.evaluation.compare import compare_many, resolve_input

    paths = [resolve_input(r) for r in args.runs]
    result = compare_many(paths[0], paths[1:], seed=args.seed, names=names)
    if args.output:
        write_json_atomic(args.output, result)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    console.print(f"base {names[0]}; {result['correction']}", markup=False, highlight=False)
    for key, r in result["benchmarks"].items():
        console.print(f"[bold]{key}[/]: {r['verdict']}")
        for c in r["candidates"].values():
            console.print(f"  {c['sentence']}", markup=False, highlight=False)
        for name, by in r["only_one_solved"].items():
            counts = ", ".join(f"{cat} {len(ids)}" for cat, ids in by.items()) or "none"
            console.print(f"  only {name} solved: {counts}", markup=False, highlight=False)
        missed = ", ".join(f"{cat} {len(ids)}" for cat, ids in r["all_missed"].items()) or "none"
        console.print(f"  every model missed: {missed}", markup=False, highlight=False)
    for name, counts in result.get("rejected", {}).items():
        err_console.print(f"{name}: rejected rows {counts} (see the .compare-rejects.jsonl file)")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    # imported when the command runs, so that `ramen --help` stays instant
    from pathlib import Path

    from ramen.export import adapter_base, merge_lora

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


def register(sub: Any) -> None:
    """Add this module's commands to `ramen`'s subparsers."""
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
        help="paired comparison of two judged runs (A against B), or of several candidates "
        "against a base (BASE CAND1 CAND2 ..., Holm-corrected): difference with a bootstrap CI, "
        "McNemar exact p, per category, and whether it is distinguishable from noise",
    )
    p.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="run folders, evaluate stage folders or judged JSONL files: A B, or BASE CAND...",
    )
    p.add_argument("--names", help="display names, one per run: 'A,B' (default: the paths)")
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
