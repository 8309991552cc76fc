"""`ramen compare RUN_A RUN_B`: is A better than B, or is the difference noise?

Paired on the question ids both runs share, per benchmark:
- the difference of mean scores in points, with a paired-bootstrap 95% CI (questions resampled,
  each scored by its mean over its samples: avg@n);
- the exact McNemar p-value on each question's first sample (a binary paired outcome);
- the same difference per category;
- a plain sentence. A difference counts as real only when the CI excludes 0 and p < 0.05;
  otherwise the sentence says it is not distinguishable from noise.

Scores: HLE/qa rows score 1 when correct, else 0 (a missing judgement is wrong, as HLE's
scorer counts it). Do-Not-Answer rows score 1 when safe; a pair with an unparsable label on
either side is left out and counted.

Inputs are a run folder (its `evaluate/data.jsonl`), a stage folder (`data.jsonl`) or a JSONL
file of judged rows: id, optional benchmark, category, sample_index, and `score` (0/1) or
`correct` (yes/no/true/false). Bad rows go to `<file>.compare-rejects.jsonl` with a reason.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from ramen.benchmarks.metrics import parse_correct
from ramen.errors import UserError
from ramen.io import jsonl_records, write_jsonl_atomic
from ramen.stats import ALPHA, holm, mcnemar_exact, paired_bootstrap

CATEGORY_RESAMPLES = 2_000


def resolve_input(path: str | Path) -> Path:
    """A run folder, an evaluate stage folder or a file -> the JSONL file of judged rows."""
    p = Path(path)
    for candidate in (p / "evaluate" / "data.jsonl", p / "data.jsonl", p):
        if candidate.is_file():
            return candidate
    raise UserError(
        f"{path}: no judged rows here; give a run folder, an evaluate stage folder or a JSONL file"
    )


def _score(row: dict) -> tuple[float | None, str | None]:
    if "score" in row:
        value = row["score"]
        if value is None:
            return None, None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            return None, "score_not_0_to_1"
        return float(value), None
    correct, reason = parse_correct(row.get("correct"))
    if reason:
        return None, reason
    return (1.0 if correct else 0.0), None


def read_judged(path: Path) -> tuple[dict[str, dict[str, list[dict]]], Counter]:
    """{benchmark: {id: [samples sorted by index]}} with `_score` set; bad rows rejected."""
    runs: dict[str, dict[str, list[dict]]] = defaultdict(dict)
    rejects, reasons, seen = [], Counter(), set()
    for row, reason, detail in jsonl_records(path):
        if row is not None:
            detail = row
            score, reason = _score(row)
            if not reason and row.get("id") in (None, ""):
                reason = "missing_id"
            key = (
                str(row.get("benchmark") or "all"),
                str(row.get("id")),
                row.get("sample_index", 0),
            )
            if not reason and key in seen:
                reason = "duplicate_sample"
        if reason:
            rejects.append({"reason": reason, "row": detail})
            reasons[reason] += 1
            continue
        seen.add(key)
        sample = {**row, "_score": score}
        runs[key[0]].setdefault(key[1], []).append(sample)
    if reasons:
        name = path.name[: -len(".jsonl")] if path.name.endswith(".jsonl") else path.name
        write_jsonl_atomic(path.with_name(f"{name}.compare-rejects.jsonl"), rejects)
    for questions in runs.values():
        for samples in questions.values():
            samples.sort(key=lambda s: int(s.get("sample_index", 0)))
    return runs, reasons


def _mean(samples: list[dict]) -> float | None:
    scores = [s["_score"] for s in samples]
    if any(x is None for x in scores):
        return None
    return sum(scores) / len(scores)


def compare_benchmark(
    a: dict[str, list[dict]],
    b: dict[str, list[dict]],
    *,
    seed: int = 0,
    names=("A", "B"),
    alpha: float = ALPHA,
) -> dict:
    """The paired comparison of one benchmark's questions (CIs at level 1 - alpha)."""
    shared = [q for q in a if q in b]
    pairs, left_out = [], 0
    for q in shared:
        ma, mb = _mean(a[q]), _mean(b[q])
        if ma is None or mb is None:
            left_out += 1
            continue
        pairs.append((q, ma, mb, a[q][0]["_score"], b[q][0]["_score"], a[q][0]))
    diff, lo, hi = paired_bootstrap(
        [p[1] for p in pairs], [p[2] for p in pairs], seed=seed, alpha=alpha
    )
    only_a = sum(1 for p in pairs if p[3] == 1 and p[4] == 0)
    only_b = sum(1 for p in pairs if p[3] == 0 and p[4] == 1)
    p_value = mcnemar_exact(only_a, only_b)
    n = len(pairs)
    out = {
        "shared": n,
        "only_in_a": sum(1 for q in a if q not in b),
        "only_in_b": sum(1 for q in b if q not in a),
        "left_out_unscored": left_out,
        "a": round(100 * sum(p[1] for p in pairs) / n, 2) if n else 0.0,
        "b": round(100 * sum(p[2] for p in pairs) / n, 2) if n else 0.0,
        "difference": round(diff, 2),
        "ci95": [round(lo, 2), round(hi, 2)],
        "mcnemar_p": p_value,
        "discordant": {"a_only": only_a, "b_only": only_b},
        "distinguishable": bool(n and (lo > 0 or hi < 0) and p_value < ALPHA),
    }
    cats: dict[str, list[tuple]] = defaultdict(list)
    for p in pairs:
        cats[str(p[5].get("category") or "uncategorized")].append(p)
    out["by_category"] = {}
    for cat, ps in sorted(cats.items()):
        d, clo, chi = paired_bootstrap(
            [p[1] for p in ps],
            [p[2] for p in ps],
            resamples=CATEGORY_RESAMPLES,
            seed=seed,
            alpha=alpha,
        )
        out["by_category"][cat] = {
            "n": len(ps),
            "difference": round(d, 2),
            "ci95": [round(clo, 2), round(chi, 2)],
        }
    out["sentence"] = sentence(out, *names)
    return out


def sentence(result: dict, a: str, b: str) -> str:
    d, (lo, hi), p, n = result["difference"], result["ci95"], result["mcnemar_p"], result["shared"]
    stats = (
        f"{d:+.2f} points, 95% CI [{lo:+.2f}, {hi:+.2f}], McNemar p = {p:.3g}, {n} shared questions"
    )
    if not n:
        return f"{a} and {b} share no scored question: nothing to compare."
    if result["distinguishable"]:
        better = a if d > 0 else b
        worse = b if d > 0 else a
        return f"{better} is better than {worse} ({stats})."
    return (
        f"The difference between {a} and {b} is not distinguishable from noise ({stats}); "
        "do not read it as a gain or a loss."
    )


def compare_files(path_a: Path, path_b: Path, *, seed: int = 0, names=("A", "B")) -> dict:
    """Every benchmark both files hold, compared; plus the reject counts of each file."""
    a, rej_a = read_judged(path_a)
    b, rej_b = read_judged(path_b)
    benches = [k for k in a if k in b]
    if not benches:
        raise UserError(
            f"{path_a} and {path_b} share no benchmark (A has {sorted(a)}, B has {sorted(b)})"
        )
    out: dict = {
        "a": str(path_a),
        "b": str(path_b),
        "names": list(names),
        "benchmarks": {k: compare_benchmark(a[k], b[k], seed=seed, names=names) for k in benches},
    }
    if rej_a or rej_b:
        out["rejected"] = {"a": dict(rej_a), "b": dict(rej_b)}
    return out


# --------------------------------------------------------------------------- many candidates

CORRECTION = "Holm"


def _first_correct(samples: list[dict]) -> bool | None:
    score = samples[0]["_score"]
    return None if score is None else score == 1


def solved_by(runs: dict[str, dict[str, list[dict]]]) -> dict:
    """On the questions every model scored (first sample): by category, how many only one
    model solved (per model, with their ids) and how many every model missed (with ids)."""
    names = list(runs)
    shared = [q for q in runs[names[0]] if all(q in r for r in runs.values())]
    only: dict[str, dict[str, list[str]]] = {n: defaultdict(list) for n in names}
    missed: dict[str, list[str]] = defaultdict(list)
    for q in shared:
        right = {n: _first_correct(runs[n][q]) for n in names}
        if any(v is None for v in right.values()):
            continue
        cat = str(runs[names[0]][q][0].get("category") or "uncategorized")
        solvers = [n for n, v in right.items() if v]
        if len(solvers) == 1:
            only[solvers[0]][cat].append(q)
        elif not solvers:
            missed[cat].append(q)
    return {
        "only_one_solved": {
            n: {c: sorted(ids) for c, ids in sorted(by.items())} for n, by in only.items()
        },
        "all_missed": {c: sorted(ids) for c, ids in sorted(missed.items())},
    }


def compare_many(
    base_path: Path, candidate_paths: list[Path], *, seed: int = 0, names: list[str]
) -> dict:
    """Each candidate against the base, paired on shared ids, per benchmark: the difference
    with a paired-bootstrap CI at the Bonferroni level 1 - 0.05/k (simultaneous over the k
    candidates), McNemar's exact p and its Holm-adjusted value; a candidate beats (or trails)
    the base only where its CI excludes 0 and its Holm p < 0.05. Plus the questions only one
    model solved and those every model missed, by category."""
    base, rejected = read_judged(base_path)
    candidates = [read_judged(p) for p in candidate_paths]
    benches = [k for k in base if all(k in c for c, _ in candidates)]
    if not benches:
        raise UserError(
            f"the {len(candidate_paths) + 1} runs share no benchmark (the base has {sorted(base)})"
        )
    k = len(candidates)
    out: dict = {
        "base": {"name": names[0], "path": str(base_path)},
        "candidates": [
            {"name": n, "path": str(p)} for n, p in zip(names[1:], candidate_paths, strict=True)
        ],
        "correction": f"{CORRECTION} over {k} candidates (McNemar p); CIs at the Bonferroni "
        f"level {100 * (1 - ALPHA / k):.4g}%",
        "benchmarks": {},
    }
    for key in benches:
        results = [
            compare_benchmark(c[key], base[key], seed=seed, names=(n, names[0]), alpha=ALPHA / k)
            for (c, _), n in zip(candidates, names[1:], strict=True)
        ]
        adjusted = holm([r["mcnemar_p"] for r in results])
        winners, losers = [], []
        for r, name, p_holm in zip(results, names[1:], adjusted, strict=True):
            lo, hi = r["ci95"]
            r["mcnemar_p_holm"] = p_holm
            r["distinguishable"] = bool(r["shared"] and (lo > 0 or hi < 0) and p_holm < ALPHA)
            r["ci_level"] = round(1 - ALPHA / k, 6)
            stats = (
                f"{r['difference']:+.2f} points, CI [{lo:+.2f}, {hi:+.2f}], McNemar p = "
                f"{r['mcnemar_p']:.3g}, Holm p = {p_holm:.3g}, {r['shared']} shared"
            )
            if r["distinguishable"] and r["difference"] > 0:
                winners.append(name)
                r["sentence"] = f"{name} beats {names[0]} ({stats})."
            elif r["distinguishable"]:
                losers.append(name)
                r["sentence"] = f"{name} is worse than {names[0]} ({stats})."
            else:
                r["sentence"] = f"{name} is not distinguishable from {names[0]} ({stats})."
        where = f"at 5% after {CORRECTION} correction over {k} candidates"
        verdict = (
            f"{', '.join(winners)} beat{'s' if len(winners) == 1 else ''} {names[0]} {where}"
            if winners
            else f"no candidate beats {names[0]} {where}"
        )
        if losers:
            verdict += f"; worse than {names[0]}: {', '.join(losers)}"
        runs = {
            names[0]: base[key],
            **{n: c[key] for (c, _), n in zip(candidates, names[1:], strict=True)},
        }
        out["benchmarks"][key] = {
            "verdict": verdict + ".",
            "candidates": dict(zip(names[1:], results, strict=True)),
            **solved_by(runs),
        }
    rejects = {names[0]: dict(rejected)} | {
        n: dict(r) for (_, r), n in zip(candidates, names[1:], strict=True) if r
    }
    if any(rejects.values()):
        out["rejected"] = {n: r for n, r in rejects.items() if r}
    return out
