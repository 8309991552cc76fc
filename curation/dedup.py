"""The `dedup` stage: exact duplicates (normalised text) and near-duplicates (MinHash LSH from
`datasketch`). Rows are read in order and the first occurrence is kept, so the result is stable;
each reject names its kept twin (id and, for near-duplicates, the estimated Jaccard similarity).

Worker processes parse the rows and compute their keys (the normalised-text hash and the
MinHash signature, the CPU-bound part); LSH queries and inserts stay in order in this process.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ramen.console import track
from ramen.curation.config import DedupConfig
from ramen.curation.parallel import map_chunks
from ramen.curation.text import ngram_tuples, words
from ramen.stage import StageContext, StageDef, dump

SEED = 1


def _crc32(data: bytes) -> int:
    """A fast 32-bit hash that is the same in every process and run (Python's hash() is not)."""
    return zlib.crc32(data)


def shingles(tokens: list[str], n: int) -> set[bytes]:
    """The word n-grams of a text as bytes (the whole text when it is shorter than n)."""
    if len(tokens) < n:
        return {" ".join(tokens).encode("utf-8")}
    encoded = [t.encode("utf-8") for t in tokens]
    return {b" ".join(g) for g in ngram_tuples(encoded, n)}


def row_keys(texts: list[str], shingle: int, num_perm: int | None) -> list[tuple[str, Any]]:
    """(exact key, MinHash hash values or None) of each text. The exact key is the SHA-1 of
    the normalised text; hash values are over word `shingle`-grams (None: near dedup off)."""
    from datasketch import MinHash

    tokens = [words(t) for t in texts]
    keys = [hashlib.sha1(" ".join(t).encode("utf-8")).hexdigest() for t in tokens]
    if not num_perm:
        return [(k, None) for k in keys]
    minhashes = MinHash.bulk(
        (shingles(t, shingle) for t in tokens), num_perm=num_perm, seed=SEED, hashfunc=_crc32
    )
    return [(k, m.hashvalues) for k, m in zip(keys, minhashes, strict=True)]


_SETTINGS: dict[str, Any] = {}


def _init(shingle: int, num_perm: int | None) -> None:
    _SETTINGS.update(shingle=shingle, num_perm=num_perm)


def _dedup_chunk(lines: list[str]) -> list[tuple[str, str, str, Any]]:
    """(line, row id, exact key, MinHash values) of each row of a chunk."""
    rows = [json.loads(line) for line in lines]
    keys = row_keys([r["question"] for r in rows], _SETTINGS["shingle"], _SETTINGS["num_perm"])
    return [
        (line, str(r["id"]), key, values)
        for line, r, (key, values) in zip(lines, rows, keys, strict=True)
    ]


class NearIndex:
    """Kept rows' MinHash signatures in LSH band buckets; `match` names the earliest kept twin.

    The bands are datasketch's `MinHashLSH` bands for this threshold and num_perm (b bands of
    r values), so the candidates are the same (a test compares them). The index is leaner
    than datasketch's, which keeps every band's bytes twice per row: one 64-bit hash per band
    and row, and the signatures in one uint32 array (the whole stage: 1,550 B a row instead of
    3,848 B; `benchmarks/memory.py`, numbers in benchmarks/README.md). Python's `hash` is
    salted per process, which is fine here: the buckets live and die in this process, and
    candidates are verified on the signatures.
    """

    def __init__(self, threshold: float, num_perm: int):
        from datasketch import MinHashLSH

        self.threshold = threshold
        self.bands = MinHashLSH(threshold=threshold, num_perm=num_perm).hashranges
        self.buckets: list[dict[int, int | list[int]]] = [{} for _ in self.bands]
        self.sigs = np.zeros((1024, num_perm), dtype=np.uint32)
        self.kept_ids: list[str] = []

    def band_keys(self, values: np.ndarray) -> list[int]:
        """One hash per band of a signature (computed once, for `match` and then `add`)."""
        return [hash(values[start:end].tobytes()) for start, end in self.bands]

    def candidates(self, keys: list[int]) -> set[int]:
        """Kept rows sharing at least one band with this signature."""
        found: set[int] = set()
        for bucket, key in zip(self.buckets, keys, strict=True):
            hit = bucket.get(key)
            if hit is None:
                continue
            if isinstance(hit, int):
                found.add(hit)
            else:
                found.update(hit)
        return found

    def match(self, values: np.ndarray, keys: list[int]) -> tuple[str, float] | None:
        """(kept id, estimated Jaccard) of the earliest kept row this one duplicates, or None.
        LSH finds candidates; the signatures' agreement must reach the threshold."""
        candidates = self.candidates(keys)
        if not candidates:
            return None
        order = np.array(sorted(candidates))
        similarity = (self.sigs[order] == values).mean(axis=1)
        above = np.flatnonzero(similarity >= self.threshold)
        if not len(above):
            return None
        first = above[0]
        return self.kept_ids[order[first]], round(float(similarity[first]), 4)

    def add(self, row_id: str, values: np.ndarray, keys: list[int]) -> None:
        i = len(self.kept_ids)
        if i == len(self.sigs):
            self.sigs = np.concatenate([self.sigs, np.zeros_like(self.sigs)])
        if values.max(initial=0) > np.iinfo(np.uint32).max:
            raise ValueError("MinHash values above 32 bits: datasketch changed its hash range")
        self.sigs[i] = values
        self.kept_ids.append(row_id)
        for bucket, key in zip(self.buckets, keys, strict=True):
            hit = bucket.get(key)
            if hit is None:
                bucket[key] = i
            elif isinstance(hit, int):
                bucket[key] = [hit, i]
            else:
                hit.append(i)


def dedup_lines(ctx: StageContext, path: Path, cfg: DedupConfig) -> None:
    exact_seen: dict[str, str] = {}
    near = NearIndex(cfg.threshold, cfg.num_perm) if cfg.near else None
    chunks = map_chunks(
        path,
        _dedup_chunk,
        initializer=_init,
        initargs=(cfg.shingle, cfg.num_perm if cfg.near else None),
    )
    for chunk in track(chunks, "dedup (chunks)"):
        for line, row_id, key, values in chunk:
            ctx.count_input()
            if cfg.exact and key in exact_seen:
                ctx.reject(json.loads(line), "exact_duplicate", kept_id=exact_seen[key])
                continue
            if near is not None:
                bands = near.band_keys(values)
                twin = near.match(values, bands)
                if twin is not None:
                    ctx.reject(
                        json.loads(line), "near_duplicate", kept_id=twin[0], similarity=twin[1]
                    )
                    continue
                near.add(row_id, values, bands)
            exact_seen.setdefault(key, row_id)
            ctx.keep_line(line)


def dedup(ctx: StageContext) -> dict:
    """Stage `dedup`: drop exact and near-duplicate questions; the first occurrence stays."""
    cfg: DedupConfig = ctx.recipe.data.dedup
    dedup_lines(ctx, ctx.inputs["clean"] / "data.jsonl", cfg)
    return {"method": {"exact": cfg.exact, "near": cfg.near, "threshold": cfg.threshold}}


STAGE = StageDef(
    name="dedup",
    fn=dedup,
    needs=("clean",),
    config=lambda r: {"data.dedup": dump(r.data.dedup)},
    enabled=lambda r: r.data is not None,
    help="drop exact and near-duplicate questions (MinHash LSH); the first stays",
)
