"""HLE's official metrics, exactly as its scoring script computes them
(shared/reference/EVALUATION.md):

- n is the number of questions; a question without a judgement counts as wrong;
- accuracy = round(100 * correct / n, 2);
- Wald 95% half-width = round(1.96 * sqrt(accuracy * (100 - accuracy) / n), 2), from the
  rounded accuracy;
- calibration error: RMS over bins of beta = 100 consecutive judged items sorted by
  confidence; the last bin is stretched to the end and then left out of the sum, as upstream
  does; 100 * round(sqrt(sum), 2). Under 100 judged items there is no bin: 0.0, as the
  competition fork returns (upstream raises).

`accuracy_judged` divides by the judged items instead (the competition fork's variant),
labelled as such.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from ramen.grading.rules import vote_key
from ramen.stats import ks_for, pass_at_k

BETA = 100


def calibration_error(
    confidence: Sequence[float], correct: Sequence[bool], beta: int = BETA
) -> float:
    """RMS calibration error (confidence in [0, 1]) with upstream's binning, before scaling.
    numpy's default argsort, as upstream, so ties at a bin edge split the same way."""
    import numpy as np

    conf = np.array(confidence, dtype=float)
    corr = np.array(correct, dtype=float)
    idxs = np.argsort(conf)
    conf, corr = conf[idxs], corr[idxs]
    bins = [[i * beta, (i + 1) * beta] for i in range(len(conf) // beta)]
    if not bins:
        return 0.0
    bins[-1] = [bins[-1][0], len(conf)]
    total, err = len(conf), 0.0
    for lo, hi in bins[:-1]:  # upstream's loop stops before the stretched last bin
        size = hi - lo
        if size > 0:
            diff = np.abs(np.nanmean(conf[lo:hi]) - np.nanmean(corr[lo:hi]))
            err += size / total * np.square(diff)
    return float(np.sqrt(err))


def summary(items: Sequence[tuple[bool | None, float | None]]) -> dict:
    """Metrics of (correct or None when not judged, confidence 0-100 or None) per question."""
    n = len(items)
    judged = [(c, conf) for c, conf in items if c is not None]
    correct = sum(1 for c, _ in judged if c)
    accuracy = round(100 * correct / n, 2) if n else 0.0
    half = round(1.96 * math.sqrt(accuracy * (100 - accuracy) / n), 2) if n else 0.0
    conf = [(100.0 if x is None else float(x)) / 100 for _, x in judged]
    calib = 100 * round(calibration_error(conf, [bool(c) for c, _ in judged]), 2)
    return {
        "n": n,
        "judged": len(judged),
        "correct": correct,
        "accuracy": accuracy,
        "ci95_half_width": half,
        "calibration_error": calib,
        "accuracy_judged": round(100 * correct / len(judged), 2) if judged else 0.0,
    }


def hle_metrics(rows: Iterable[dict]) -> dict:
    """Overall and per-category metrics of judged rows (id, category, correct, confidence)."""
    items: list[tuple[bool | None, float | None]] = []
    by_cat: dict[str, list[tuple[bool | None, float | None]]] = defaultdict(list)
    for row in rows:
        item = (row.get("correct"), row.get("confidence"))
        items.append(item)
        by_cat[str(row.get("category") or "uncategorized")].append(item)
    out = summary(items)
    out["by_category"] = {k: summary(v) for k, v in sorted(by_cat.items())}
    return out


def parse_correct(value: object) -> tuple[bool | None, str | None]:
    """A row's `correct` as True/False/None (not judged), or a reject reason."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return value, None
    if isinstance(value, str) and value.strip().lower() in ("yes", "no", "true", "false"):
        return value.strip().lower() in ("yes", "true"), None
    return None, "correct_not_yes_no"


def parse_confidence(value: object) -> tuple[float | None, str | None]:
    if value is None:
        return None, None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None, "confidence_not_a_number"
    if not 0 <= value <= 100:
        return None, "confidence_out_of_range"
    return float(value), None


# --------------------------------------------------------------------------- n samples


def _rates(samples: list[dict]) -> dict:
    """Truncation, no-answer and length numbers of a list of samples."""
    count = len(samples)
    truncated = sum(1 for s in samples if s.get("finish_reason") == "length")
    no_answer = sum(1 for s in samples if not s.get("extracted"))
    tokens = [int(s.get("completion_tokens") or 0) for s in samples]
    return {
        "samples": count,
        "truncation_rate": round(100 * truncated / count, 2) if count else 0.0,
        "no_answer_rate": round(100 * no_answer / count, 2) if count else 0.0,
        "mean_completion_tokens": round(sum(tokens) / count, 1) if count else 0.0,
    }


def _sampling(questions: list[list[dict]], n: int) -> dict:

    out: dict = {"n_samples": n}
    if not questions:
        return out
    correct_counts = [sum(1 for s in q if s.get("correct") is True) for q in questions]
    out["avg@n"] = round(100 * sum(correct_counts) / (n * len(questions)), 2)
    for k in ks_for(n):
        out[f"pass@{k}"] = round(
            100 * sum(pass_at_k(n, c, k) for c in correct_counts) / len(questions), 2
        )
        winners = [majority(q, k) for q in questions]
        out[f"maj@{k}"] = round(
            100
            * sum(1 for w in winners if w is not None and w.get("correct") is True)
            / len(questions),
            2,
        )
    return out


def evaluation_metrics(samples: Iterable[dict], n: int) -> dict:
    """Metrics of one benchmark's judged samples (id, sample_index, category, correct,
    confidence, extracted, finish_reason, completion_tokens), n per question.

    The official numbers (`hle_metrics`) use each question's first sample; `sampling` adds
    avg@n, pass@k and maj@k over all n; truncation, no-answer rate and mean completion tokens
    are over all samples, overall and per category.
    """
    by_q: dict[str, list[dict]] = {}
    for s in samples:
        by_q.setdefault(str(s["id"]), []).append(s)
    questions = list(by_q.values())
    first = [min(q, key=lambda s: int(s.get("sample_index", 0))) for q in questions]
    out = hle_metrics(first)
    flat = [s for q in questions for s in q]
    out.update(_rates(flat))
    # unparsable judgements after the retries: not judged, so wrong in `accuracy`
    out["judge_errors"] = sum(1 for s in flat if s.get("verdict") == "judge_error")
    # a verifier's `invalid` (cut off, repetitive, refusing): not correct, not `incorrect` either
    out["judge_invalid"] = sum(1 for s in flat if s.get("verdict") == "invalid")
    out["sampling"] = _sampling(questions, n)
    cats: dict[str, list[list[dict]]] = defaultdict(list)
    for q in questions:
        cats[str(q[0].get("category") or "uncategorized")].append(q)
    for cat, qs in cats.items():
        out["by_category"][cat].update(_rates([s for q in qs for s in q]))
        out["by_category"][cat]["sampling"] = _sampling(qs, n)
    return out


def majority(samples: Sequence[dict], k: int) -> dict | None:
    """Self-consistency: the winning sample of a vote over the first k samples (by
    sample_index), on grader-normalised answers (`rules.vote_key`), or None when none of them
    has an answer (a sample without one does not vote). Ties go to the answer whose first vote
    came earliest (lowest sample index): deterministic, and the same for any seed."""
    first = sorted(samples, key=lambda s: int(s.get("sample_index", 0)))[:k]
    votes: dict[str, list[dict]] = {}
    for s in first:
        key = vote_key(s.get("extracted"))
        if key is not None:
            votes.setdefault(key, []).append(s)
    if not votes:
        return None
    # max() keeps the first of equal counts: dict order = order of first vote = sample order
    return max(votes.values(), key=len)[0]
