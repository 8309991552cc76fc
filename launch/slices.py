"""What a stage may read of the recipe: exactly its config.

A stage's config (launch/stages.py) is keyed by the recipe key paths it holds
(`curation.sample`, `models.strong`, `seed`), and its hash decides whether the stage reruns. So
that nothing a stage reads escapes the hash, the stage function gets the recipe through a
`RecipeView` that answers only those paths (and the sections on the way to them) and raises
`SliceError` for any other: a knob read but not hashed is a bug found by the first run that
reads it, not a stale stage skipped after a recipe change.

Keys with a space in a config are not recipe paths: the hashes of files a stage reads, and
values ramen derives from several keys (the model whose tokenizer counts lengths), which the
stage reads from its config. Some root attributes are always open: `run_dir` and `workdir`
(where the run lives), `hash` (the whole recipe's hash, a provenance stamp in cards and
reports; it decides nothing) and `plan` (what the cluster is assumed to be: it sizes how long a
process waits, the train stage's process-group timeout, never what a stage writes).
"""

from __future__ import annotations

from typing import Any

ALWAYS_OPEN = ("run_dir", "hash", "workdir", "plan")


class SliceError(RuntimeError):
    """A stage read a recipe key its config does not hold (a ramen bug, not a user's)."""


def declared_paths(config: Any) -> tuple[str, ...]:
    """The recipe key paths a stage config holds."""
    if not isinstance(config, dict):
        return ()
    return tuple(k for k in config if isinstance(k, str) and " " not in k)


def _inside(path: str, declared: str) -> bool:
    return path == declared or path.startswith((declared + ".", declared + "["))


class RecipeView:
    """The recipe as one stage may read it (see the module docstring)."""

    def __init__(self, obj: Any, paths: tuple[str, ...], stage: str, prefix: str = ""):
        self._obj, self._paths, self._stage, self._prefix = obj, paths, stage, prefix

    def _child(self, path: str, value: Any) -> Any:
        if any(_inside(path, d) for d in self._paths):
            return value
        if any(_inside(d, path) for d in self._paths):  # on the way to a declared key
            # an absent section (None) on the way is read as absent: the declared key under
            # it holds None too, so its presence is hashed
            return None if value is None else RecipeView(value, self._paths, self._stage, path)
        raise SliceError(
            f"stage '{self._stage}' read recipe key '{path}', which its config does not hold "
            "(so a change to it would not rerun the stage); add it to the stage's config in "
            "launch/stages.py"
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(self._obj, name)
        if not self._prefix and name in ALWAYS_OPEN:
            return value
        if self._unset_new_key(name, value):
            return value
        return self._child(f"{self._prefix}.{name}" if self._prefix else name, value)

    def _unset_new_key(self, name: str, value: Any) -> bool:
        """A key added to ramen after runs were made, at its default, in a section whose keys
        the config holds one by one: the hashed dump leaves it out (StrictModel.HASHED_WHEN_SET),
        and set to anything else it would be in the config, so reading it is hashed."""
        if name not in getattr(type(self._obj), "HASHED_WHEN_SET", ()):
            return False
        field = type(self._obj).model_fields[name]
        if value != field.get_default(call_default_factory=True):
            return False
        return any(d.startswith(self._prefix + ".") for d in self._paths)

    def _key(self, key: Any) -> str:
        return f"{self._prefix}.{key}" if isinstance(key, str) else f"{self._prefix}[{key}]"

    def __getitem__(self, key: Any) -> Any:
        return self._child(self._key(key), self._obj[key])

    def get(self, key: Any, default: Any = None) -> Any:
        return self[key] if key in self._obj else default

    # which keys exist (the names of the models, say) is not a value a stage computes with;
    # reading what is under a key goes through __getitem__ and is checked
    def __contains__(self, key: Any) -> bool:
        return key in self._obj

    def __iter__(self):
        return iter(self._obj)

    def __len__(self) -> int:
        return len(self._obj)

    def keys(self):
        return self._obj.keys()

    def items(self):
        return [(k, self[k]) for k in self._obj]

    def values(self):
        return [self[k] for k in self._obj]

    def __repr__(self) -> str:
        return f"RecipeView({self._prefix or 'recipe'} for stage {self._stage})"


class UndeclaredSeed:
    """`ctx.seed` of a stage whose config holds no `seed`: any use raises SliceError."""

    def __init__(self, stage: str):
        self._stage = stage

    def _refuse(self, *args: Any, **kwargs: Any):
        raise SliceError(
            f"stage '{self._stage}' used the seed, which its config does not hold; add "
            '"seed": r.seed to the stage\'s config in launch/stages.py'
        )

    __int__ = __index__ = __str__ = __format__ = __hash__ = __eq__ = __add__ = _refuse
    __radd__ = __mul__ = __rmul__ = __mod__ = __xor__ = __bool__ = __float__ = _refuse

    def __repr__(self) -> str:
        return f"UndeclaredSeed({self._stage})"
