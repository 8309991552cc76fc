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

from curation.config import DedupConfig
from curation.parallel import map_chunks
from curation.text import ngram_tuples, words
from ramen.console import track
from ramen.stage import StageContext

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


def _minhash(num_perm: int):
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=SEED, hashfunc=_crc32)


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
    """Kept rows' MinHashes in an LSH index; `match` names the earliest kept twin."""

    def __init__(self, threshold: float, num_perm: int):
        from datasketch import LeanMinHash, MinHashLSH

        self.threshold, self.num_perm = threshold, num_perm
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._scheme = _minhash(num_perm).scheme
        self._lean = LeanMinHash
        self.kept_ids: list[str] = []
        self.kept_sigs: list[np.ndarray] = []

    def wrap(self, values: np.ndarray):
        """A LeanMinHash (datasketch's light form for indexes) around computed hash values."""
        return self._lean(seed=SEED, hashvalues=values, scheme=self._scheme)

    def match(self, m) -> tuple[str, float] | None:
        """(kept id, estimated Jaccard) of the earliest kept row this one duplicates, or None.
        LSH finds candidates; the signatures' agreement must reach the threshold."""
        best = None
        for key in self.lsh.query(m):
            i = int(key)
            similarity = float(np.mean(self.kept_sigs[i] == m.hashvalues))
            if similarity >= self.threshold and (best is None or i < best[0]):
                best = (i, similarity)
        return None if best is None else (self.kept_ids[best[0]], round(best[1], 4))

    def add(self, row_id: str, m) -> None:
        self.lsh.insert(str(len(self.kept_ids)), m, check_duplication=False)
        self.kept_ids.append(row_id)
        self.kept_sigs.append(m.hashvalues)


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
                m = near.wrap(values)
                twin = near.match(m)
                if twin is not None:
                    ctx.reject(
                        json.loads(line), "near_duplicate", kept_id=twin[0], similarity=twin[1]
                    )
                    continue
                near.add(row_id, m)
            exact_seen.setdefault(key, row_id)
            ctx.keep_line(line)


def dedup(ctx: StageContext) -> dict:
    """Stage `dedup`: drop exact and near-duplicate questions; the first occurrence stays."""
    cfg: DedupConfig = ctx.recipe.data.dedup
    dedup_lines(ctx, ctx.inputs["clean"] / "data.jsonl", cfg)
    return {"method": {"exact": cfg.exact, "near": cfg.near, "threshold": cfg.threshold}}
