"""The `balance` stage: downsample to target category shares.

Source labels are mapped to target categories (`category_map`, with `'*'` for every label not
listed); a row whose label reaches no target category is a reject that names the label. The
largest total that the shares allow is kept: total = min over categories of count / share, and
each category keeps round(share * total) rows (largest remainders), chosen by a seeded hash of
the problem id, so the same recipe and seed keep the same rows. Rows keep their input order.
Categories with a share but no rows are left out and the other shares renormalised (listed in
stats.json as `missing_categories`).
"""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict

from ramen.console import console, track
from ramen.curation.config import BalanceConfig
from ramen.io import sha256_text
from ramen.mix import quotas
from ramen.stage import StageContext, StageDef, dump

# The category shares of HLE's text set, as the competition harness records them
# (shared/reference/EVALUATION.md).
PRESETS: dict[str, dict[str, float]] = {
    "hle": {
        "Math": 0.41,
        "Biology/Medicine": 0.11,
        "Computer Science/AI": 0.10,
        "Physics": 0.09,
        "Humanities/Social Science": 0.09,
        "Other": 0.09,
        "Chemistry": 0.07,
        "Engineering": 0.04,
    }
}


def target_shares(cfg: BalanceConfig) -> dict[str, float]:
    shares = PRESETS[cfg.target] if cfg.target else cfg.shares
    total = sum(shares.values())
    return {k: v / total for k, v in shares.items()}


def map_category(label: str, cfg: BalanceConfig, shares: dict[str, float]) -> str | None:
    target = cfg.category_map.get(label)
    if target is None and label in shares:
        target = label
    if target is None:
        target = cfg.category_map.get("*")
    return target if target in shares else None


def _rank(seed: int, problem_id: object) -> int:
    """A seeded pseudo-random rank of a row: which rows a category keeps."""
    return int(sha256_text(f"{seed}:{problem_id}")[:16], 16)


def balance(ctx: StageContext) -> dict:
    """Stage `balance`: map labels to target categories and downsample to the target shares.

    Two passes over the input, holding one 8-byte rank per row, not the rows."""
    cfg: BalanceConfig = ctx.recipe.data.balance
    shares = target_shares(cfg)
    ranks: dict[str, array] = defaultdict(lambda: array("Q"))
    for row in track(ctx.input_rows("decontaminate"), "balance (counting)"):
        target = map_category(str(row.get("category")), cfg, shares)
        if target is not None:
            ranks[target].append(_rank(ctx.seed, row.get("id")))
    counts = {k: len(v) for k, v in ranks.items()}
    quota = quotas(counts, shares, cfg.max_total)
    cutoff = {k: sorted(v)[quota[k] - 1] for k, v in ranks.items() if quota.get(k)}
    del ranks
    after: Counter = Counter()
    for row in track(ctx.input_rows("decontaminate"), "balance"):
        ctx.count_input()
        target = map_category(str(row.get("category")), cfg, shares)
        if target is None:
            ctx.reject(row, "category_not_in_target", label=row.get("category"))
        elif (
            target not in cutoff
            or _rank(ctx.seed, row.get("id")) > cutoff[target]
            or after[target] >= quota[target]
        ):
            ctx.reject(row, "over_share", category=target)
        else:
            after[target] += 1
            ctx.keep({**row, "category": target, "source_category": row.get("category")})
    table = {
        k: {
            "target_share": round(shares[k], 4),
            "before": counts.get(k, 0),
            "after": after.get(k, 0),
            "share_after": round(after.get(k, 0) / max(1, sum(after.values())), 4),
        }
        for k in shares
    }
    _print_table(table)
    return {
        "categories": table,
        "missing_categories": sorted(k for k in shares if not counts.get(k)),
        "total_after": sum(after.values()),
    }


def _print_table(table: dict) -> None:
    from rich.table import Table

    t = Table(title="balance: rows per category", title_justify="left")
    for col in ("category", "target share", "before", "after", "share after"):
        t.add_column(col, justify="left" if col == "category" else "right")
    for k, v in table.items():
        t.add_row(
            k,
            f"{v['target_share']:.2f}",
            str(v["before"]),
            str(v["after"]),
            f"{v['share_after']:.2f}",
        )
    console.print(t)


STAGE = StageDef(
    name="balance",
    fn=balance,
    needs=("decontaminate",),
    config=lambda r: {"data.balance": dump(r.data.balance), "seed": r.seed},
    enabled=lambda r: r.data is not None and r.data.balance is not None,
    help="downsample to target category shares (the HLE preset or the recipe's)",
)
