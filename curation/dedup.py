"""The `dedup` stage: exact duplicates (normalised text) and near-duplicates (MinHash LSH from
`datasketch`). Rows are read in order and the first occurrence is kept, so the result is stable;
each reject names its kept twin (id and, for near-duplicates, the estimated Jaccard similarity).

MinHash signatures are computed in worker processes (hashing shingles is the CPU-bound part);
LSH queries and inserts stay in order in this process.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import zlib
from collections.abc import Iterator

import numpy as np

from curation.config import DedupConfig
from curation.text import ngrams, normalize, words
from ramen.console import track
from ramen.io import chunks
from ramen.stage import StageContext

BATCH = 4096
SEED = 1


def _crc32(data: bytes) -> int:
    """A fast 32-bit hash that is the same in every process and run (Python's hash() is not)."""
    return zlib.crc32(data)


def shingles(text: str, n: int) -> set[bytes]:
    tokens = words(text)
    grams = set(ngrams(tokens, n)) if len(tokens) >= n else {" ".join(tokens)}
    return {g.encode("utf-8") for g in grams}


def _minhash(num_perm: int):
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=SEED, hashfunc=_crc32)


def signatures(texts: list[str], shingle: int, num_perm: int) -> list[np.ndarray]:
    """MinHash hash values of each text (word `shingle`-grams)."""
    from datasketch import MinHash

    base = _minhash(num_perm)
    out = []
    for text in texts:
        m = MinHash(
            num_perm=num_perm, hashfunc=_crc32, permutations=base.permutations, scheme=base.scheme
        )
        m.update_batch(shingles(text, shingle))
        out.append(m.hashvalues)
    return out


def _signatures_job(args: tuple[list[str], int, int]) -> list[np.ndarray]:
    return signatures(*args)


def _workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def exact_key(text: str) -> str:
    return hashlib.sha1(normalize(text).encode("utf-8")).hexdigest()


class NearIndex:
    """Kept rows' MinHashes in an LSH index; `match` names the earliest kept twin."""

    def __init__(self, threshold: float, num_perm: int):
        from datasketch import MinHash, MinHashLSH

        self.threshold, self.num_perm = threshold, num_perm
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._base = _minhash(num_perm)
        self._minhash_cls = MinHash
        self.kept_ids: list[str] = []
        self.kept_sigs: list[np.ndarray] = []

    def _wrap(self, values: np.ndarray):
        return self._minhash_cls(
            num_perm=self.num_perm,
            hashvalues=values,
            hashfunc=_crc32,
            permutations=self._base.permutations,
            scheme=self._base.scheme,
        )

    def match(self, values: np.ndarray) -> tuple[str, float] | None:
        """(kept id, estimated Jaccard) of the earliest kept row this one duplicates, or None."""
        m = self._wrap(values)
        best = None
        for key in self.lsh.query(m):
            i = int(key)
            similarity = float(np.mean(self.kept_sigs[i] == values))
            if similarity >= self.threshold and (best is None or i < best[0]):
                best = (i, similarity)
        return None if best is None else (self.kept_ids[best[0]], round(best[1], 4))

    def add(self, row_id: str, values: np.ndarray) -> None:
        self.lsh.insert(str(len(self.kept_ids)), self._wrap(values))
        self.kept_ids.append(row_id)
        self.kept_sigs.append(values.astype(np.uint32, copy=False))


def dedup_rows(ctx: StageContext, rows: Iterator[dict], cfg: DedupConfig) -> dict:
    exact_seen: dict[str, str] = {}
    near = NearIndex(cfg.threshold, cfg.num_perm) if cfg.near else None
    pool = None
    try:
        for batch in chunks(rows, BATCH):
            texts = [r["question"] for r in batch]
            sigs: list[np.ndarray | None] = [None] * len(batch)
            if near is not None:
                if pool is None and len(batch) == BATCH and _workers() > 1:
                    pool = concurrent.futures.ProcessPoolExecutor(_workers())
                if pool is not None:
                    step = -(-len(texts) // _workers())
                    jobs = [
                        (texts[i : i + step], cfg.shingle, cfg.num_perm)
                        for i in range(0, len(texts), step)
                    ]
                    sigs = [s for part in pool.map(_signatures_job, jobs) for s in part]
                else:
                    sigs = signatures(texts, cfg.shingle, cfg.num_perm)
            for row, text, sig in zip(batch, texts, sigs, strict=True):
                ctx.count_input()
                key = exact_key(text)
                if cfg.exact and key in exact_seen:
                    ctx.reject(row, "exact_duplicate", kept_id=exact_seen[key])
                    continue
                if near is not None and sig is not None:
                    twin = near.match(sig)
                    if twin is not None:
                        ctx.reject(row, "near_duplicate", kept_id=twin[0], similarity=twin[1])
                        continue
                    near.add(str(row["id"]), sig)
                exact_seen.setdefault(key, str(row["id"]))
                ctx.keep(row)
    finally:
        if pool is not None:
            pool.shutdown()
    return {}


def dedup(ctx: StageContext) -> dict:
    """Stage `dedup`: drop exact and near-duplicate questions; the first occurrence stays."""
    cfg: DedupConfig = ctx.recipe.data.dedup
    rows = track(ctx.input_rows("clean"), "dedup")
    dedup_rows(ctx, iter(rows), cfg)
    return {"method": {"exact": cfg.exact, "near": cfg.near, "threshold": cfg.threshold}}
