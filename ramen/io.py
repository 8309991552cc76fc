"""Atomic file writes, tolerant JSONL reading and stable hashing."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ramen.errors import UserError


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the form every hash in ramen is taken over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_obj(obj: Any) -> str:
    """Stable hash of a JSON-able object (key order does not matter)."""
    return sha256_text(canonical_json(obj))


def hash_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success it is fsynced and renamed over `path`.

    A crash leaves either the old file or the new one, never a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp folder beside `path`; on success it replaces `path` (the old folder is moved
    aside first, then removed), so readers see the old folder or the new one, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "x")
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_text_atomic(
        path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    )


def write_jsonl_atomic(path: str | os.PathLike, rows: Iterable[dict]) -> int:
    """Write rows as JSONL atomically; returns the number of rows."""
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
    return n


def iter_jsonl(path: str | os.PathLike, *, tolerate_torn_tail: bool = False) -> Iterator[dict]:
    """Read JSONL rows, one line at a time (memory does not grow with the file).

    With `tolerate_torn_tail`, a half-written last line (a killed writer: no newline at its
    end) is skipped. A broken line anywhere else is a real corruption and raises ValueError
    naming the line.
    """
    for row, _ in iter_jsonl_offsets(path, tolerate_torn_tail=tolerate_torn_tail):
        yield row


def iter_jsonl_offsets(
    path: str | os.PathLike, *, tolerate_torn_tail: bool = False
) -> Iterator[tuple[dict, int]]:
    """`iter_jsonl` with the byte offset where each row's line starts (to seek back to it)."""
    path = Path(path)
    offset = 0
    with open(path, "rb") as f:
        for i, raw in enumerate(f):
            start, offset = offset, offset + len(raw)
            if not raw.strip():
                continue
            try:
                yield json.loads(raw.decode("utf-8")), start
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                if tolerate_torn_tail and not raw.endswith(b"\n"):
                    return
                raise ValueError(f"{path}:{i + 1}: not a JSON line ({e})") from None


def jsonl_records(path: str | os.PathLike) -> Iterator[tuple[dict | None, str | None, Any]]:
    """(row, None, None) for each good line of a user's JSONL file, or (None, reason, detail)
    for a broken one (invalid_utf8, invalid_json, not_an_object), so it can go to rejects."""
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield None, "invalid_utf8", {"line": line_no, "bytes": raw[:200].hex()}
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as e:
                yield None, "invalid_json", {"line": line_no, "error": str(e), "text": text[:200]}
                continue
            if not isinstance(row, dict):
                yield None, "not_an_object", {"line": line_no, "text": text[:200]}
                continue
            yield row, None, None


def chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of up to `size` items: batch work while streaming."""
    it = iter(rows)
    while batch := list(itertools.islice(it, size)):
        yield batch


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def cache_root() -> Path:
    """ramen's cache folder (`$RAMEN_CACHE`, default ~/.cache/ramen): facts worth keeping
    between runs, such as the arguments TRL's configs take."""
    return Path(os.environ.get("RAMEN_CACHE", Path.home() / ".cache" / "ramen")).expanduser()


def file_records(path: Path) -> Iterator[tuple[dict | None, str | None, Any]]:
    """(row, reject reason, raw) for each record of a user's local data file (.jsonl, .json:
    a list or {'data': [...]}, .parquet, .csv); broken lines and non-objects are rejects."""
    if path.suffix == ".jsonl":
        yield from jsonl_records(path)
        return
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if not isinstance(data, list):
            raise UserError(
                f"{path}: a .json source must hold a list of objects (or {{'data': [...]}})"
            )
        for item in data:
            yield (item, None, None) if isinstance(item, dict) else (None, "not_an_object", item)
        return
    import datasets  # slow to import: only for .parquet and .csv files

    kind = "parquet" if path.suffix == ".parquet" else "csv"
    for row in datasets.load_dataset(kind, data_files=str(path), split="train"):
        yield row, None, None
