"""The tiny model family, shipped in the repository: recipes name its members `tiny:weak`,
`tiny:strong`, `tiny:judge`, `tiny:writer` and `tiny:lax`.

Every member is a folder under `tiny_family/` (weights, tokenizer, chat template, generation
config, the member's build facts in `ramen_tiny.json`), and `tiny_family/family.json` lists
the builder version, the hash of the data the family was built from, the validation scores
the build measured and the sha256 of every file. Resolving a member checks its files against
those hashes, so a model folder that changed (an edit, a bad checkout, a partial copy) is
an error, never a silently different model. Nothing here trains or downloads:
`python -m ramen.testing.tiny_build` rebuilds the family (docs/contributing.md).

This module imports nothing heavy (no torch), so resolving a member costs milliseconds.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from ramen.io import canonical_json, hash_file, sha256_text
from ramen.spec import TINY_NAMES as NAMES

FAMILY_DIR = Path(__file__).parent / "tiny_family"
# Another family folder (a rebuild under trial: `python -m ramen.testing.tiny_build --out DIR`,
# then RAMEN_TINY_FAMILY=DIR make test), checked the same way.
FAMILY_ENV = "RAMEN_TINY_FAMILY"
METADATA = "family.json"
REBUILD = "python -m ramen.testing.tiny_build"


class TinyFamilyError(Exception):
    """The shipped family is missing a file or a file differs from its recorded hash."""


def member_files(folder: Path) -> dict[str, str]:
    """sha256 of every file under a member's folder, keyed by its path inside the folder."""
    return {
        p.relative_to(folder).as_posix(): hash_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def read_metadata(root: Path = FAMILY_DIR) -> dict:
    path = root / METADATA
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TinyFamilyError(
            f"the tiny family has no {path}; restore it (`git checkout -- {root}`) or rebuild "
            f"it ({REBUILD})"
        ) from None


def verify(name: str, root: Path = FAMILY_DIR) -> Path:
    """The folder of member `name` under `root`, after checking that its files are exactly
    the ones family.json lists (same names, same sha256)."""
    if name not in NAMES:
        raise ValueError(f"unknown tiny model '{name}'; known: {', '.join(NAMES)}")
    meta = read_metadata(root)
    want = meta["members"].get(name, {}).get("files")
    folder = root / name
    if not want:
        raise TinyFamilyError(
            f"{root / METADATA} lists no files for tiny:{name}; rebuild ({REBUILD})"
        )
    have = member_files(folder) if folder.is_dir() else {}
    for rel, digest in sorted(want.items()):
        if rel not in have:
            raise TinyFamilyError(
                f"tiny:{name} lacks {folder / rel}; restore it (`git checkout -- {folder}`)"
            )
        if have[rel] != digest:
            raise TinyFamilyError(
                f"{folder / rel} differs from the sha256 in {root / METADATA}; restore it "
                f"(`git checkout -- {folder}`) or rebuild the family ({REBUILD})"
            )
    extra = sorted(set(have) - set(want))
    if extra:
        raise TinyFamilyError(
            f"tiny:{name} has files {root / METADATA} does not list: {', '.join(extra)} "
            f"(remove them, or rebuild the family: {REBUILD})"
        )
    return folder


def family_root() -> Path:
    """The family in use: the shipped one, or the folder $RAMEN_TINY_FAMILY names."""
    return Path(os.environ.get(FAMILY_ENV) or FAMILY_DIR).resolve()


@functools.cache
def _verified(name: str, root: Path) -> Path:
    return verify(name, root)


def model_path(name: str) -> Path:
    """The folder of tiny member `name`, its files checked once per process."""
    return _verified(name, family_root())


def members_digest(names: list[str] | set[str]) -> str:
    """sha256 of the recorded file hashes of the members `names`: what a stage's config records,
    so a rebuilt member reruns the stages that use it, and a member added to the family reruns
    nothing."""
    root = family_root()
    members = read_metadata(root)["members"]  # a missing family.json is named with its fix
    return sha256_text(canonical_json({n: members.get(n, {}).get("files") for n in sorted(names)}))
