"""The `synthetic: sympy` source kind: problems made by generators instead of read from a file.

    data:
      sources:
        - synthetic: sympy
          count: 2000
          generators: [algebra, calculus.limit, my_generators.py:hard_sums]
          difficulty: 3
          knobs: {equations.linear_system: {unknowns: 4}}
          languages: [en, ja]

Built-in generators live in curation/generators.py (`ramen sources` lists them with their
knobs). A name that is a category takes all of that category's generators. `FILE.py:FUNCTION`
names your own: `FUNCTION(rng: random.Random, difficulty: int) -> dict` returning at least
`question`, `answer` and `category` (strings), optionally `params` (a JSON object kept in the
row's meta). It is called once when the recipe is validated, so a wrong return value stops
the recipe with one line, before any model runs.

Problems are spread evenly over generators x languages, each drawn from its own seeded
stream (`{seed}:{generator}:{language}:{index}`): the same seed gives the same problems, and
adding a generator does not change the others'. A question drawn twice is drawn again
(a few times); a generator whose parameter space runs out makes fewer problems, counted in
stats.json (`synthetic.short`).
"""

from __future__ import annotations

import importlib.util
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ramen.curation.generators import REGISTRY, Generator
from ramen.io import hash_obj

REDRAWS = 20  # draws of one problem before its generator counts as exhausted
LICENCE = "cc0-1.0"


@dataclass(frozen=True)
class UserGenerator:
    """A `FILE.py:FUNCTION` generator from the recipe."""

    spec: str
    fn: Callable[[random.Random, int], dict]
    file_hash: str

    @property
    def name(self) -> str:
        return self.spec


def _load_user(spec: str) -> UserGenerator:
    file, _, function = spec.rpartition(":")
    path = Path(file)
    if not path.is_file():
        raise ValueError(f"generator file not found: {file} (give FILE.py:FUNCTION)")
    module_name = "ramen_user_generators_" + hash_obj([str(path.resolve())])[:12]
    loader = importlib.util.spec_from_file_location(module_name, path)
    if loader is None or loader.loader is None:
        raise ValueError(f"cannot import generator file {file}: not a Python file")
    module = importlib.util.module_from_spec(loader)
    try:
        loader.loader.exec_module(module)
    except Exception as e:  # the user's file: any error is theirs, said in one line
        raise ValueError(f"generator file {file} fails to import: {type(e).__name__}: {e}") from e
    fn = getattr(module, function, None)
    if not callable(fn):
        raise ValueError(f"generator file {file} has no function `{function}`")
    user = UserGenerator(spec, fn, hash_obj([path.read_bytes().hex()]))
    _user_row(user, random.Random(0), 1)  # once, so a wrong shape fails at validation
    return user


def _user_row(user: UserGenerator, rng: random.Random, difficulty: int) -> dict:
    try:
        out = user.fn(rng, difficulty)
    except Exception as e:
        raise ValueError(f"generator {user.spec} raised {type(e).__name__}: {e}") from e
    if not isinstance(out, dict):
        raise ValueError(f"generator {user.spec} must return a dict, got {type(out).__name__}")
    for key in ("question", "answer", "category"):
        if not isinstance(out.get(key), str) or not out[key].strip():
            raise ValueError(f"generator {user.spec} must return a non-empty string `{key}`")
    params = out.get("params", {})
    try:
        json.dumps(params)
    except TypeError as e:
        raise ValueError(f"generator {user.spec}: `params` must be JSON ({e})") from e
    return out


def resolve(names: list[str]) -> list[Generator | UserGenerator]:
    """The generators a source names, in order (empty = every built-in). Raises ValueError
    with one line for an unknown name."""
    if not names:
        return list(REGISTRY.values())
    categories = {g.category for g in REGISTRY.values()}
    out: list[Generator | UserGenerator] = []
    for name in names:
        if name in REGISTRY:
            out.append(REGISTRY[name])
        elif name in categories:
            out += [g for g in REGISTRY.values() if g.category == name]
        elif ".py:" in name:
            out.append(_load_user(name))
        else:
            raise ValueError(
                f"unknown generator `{name}`: give a name from `ramen sources`, a category "
                f"({', '.join(sorted(categories))}) or FILE.py:FUNCTION"
            )
    seen: set[str] = set()
    return [g for g in out if not (g.name in seen or seen.add(g.name))]


def check_source(src: Any) -> None:
    """Validate a synthetic source's generators and knobs (raises ValueError, one line)."""
    gens = resolve(src.generators)
    by_name = {g.name: g for g in gens if isinstance(g, Generator)}
    for name, values in src.knobs.items():
        if name not in by_name:
            raise ValueError(f"knobs for `{name}`, which this source does not use")
        knobs = {k.name: k for k in by_name[name].knobs}
        for knob, value in values.items():
            if knob not in knobs:
                raise ValueError(
                    f"{name} has no knob `{knob}` (it has: {', '.join(sorted(knobs))})"
                )
            if not knobs[knob].lo <= value <= knobs[knob].hi:
                raise ValueError(
                    f"{name}.{knob} = {value} is out of range [{knobs[knob].lo}, {knobs[knob].hi}]"
                )


def generator_files(sources: list[Any]) -> dict[str, str]:
    """The content hash of every user generator file the sources name: a changed file reruns
    the prepare stage."""
    out = {}
    for src in sources:
        if src.synthetic:
            for g in resolve(src.generators):
                if isinstance(g, UserGenerator):
                    out[g.spec] = g.file_hash
    return out


def plain(value: Any) -> Any:
    """Parameters as JSON: SymPy integers as ints, other SymPy numbers as their text."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if getattr(value, "is_Integer", False):
        return int(value)
    return str(value)


def _draw(gen: Generator | UserGenerator, rng: random.Random, src: Any, lang: str) -> dict:
    """One problem as a source row (before to_problem maps it)."""
    if isinstance(gen, UserGenerator):
        out = _user_row(gen, rng, src.difficulty)
        meta = {"params": out.get("params", {}), "template": gen.spec}
        return {
            "question": out["question"],
            "answer": out["answer"],
            "category": out["category"],
            "generator": f"python:{gen.spec}",
            "meta": meta,
        }
    knobs = gen.knob_values(src.difficulty, src.knobs.get(gen.name))
    draw = gen.fn(rng, knobs)
    return {
        "question": gen.render(draw, lang),
        "answer": draw.answer,
        "category": gen.category,
        "generator": "sympy",
        "meta": {
            "template": f"{gen.name}/{draw.variant}/{lang}",
            "params": plain(draw.params),
            "knobs": knobs,
        },
    }


def synthetic_rows(src: Any, seed: int, report: dict) -> Iterator[tuple[dict, None, None]]:
    """Rows of a synthetic source, as read_source yields them; `report` gets the counts."""
    gens = resolve(src.generators)
    combos = [(g, lang) for g in gens for lang in src.languages]
    seen: set[str] = set()
    made: dict[str, int] = {}
    short: dict[str, int] = {}
    for i in range(src.count):
        gen, lang = combos[i % len(combos)]
        index = i // len(combos)
        for attempt in range(REDRAWS):
            rng = random.Random(f"{seed}:{gen.name}:{lang}:{index}:{attempt}")
            row = _draw(gen, rng, src, lang)
            if row["question"] not in seen:
                break
        else:
            short[gen.name] = short.get(gen.name, 0) + 1
            continue
        seen.add(row["question"])
        made[gen.name] = made.get(gen.name, 0) + 1
        row["id"] = "syn-" + hash_obj([gen.name, lang, row["question"]])[:16]
        row["meta"].update({"synthetic": gen.name, "language": lang,
                            "difficulty": src.difficulty, "seed": seed})  # fmt: skip
        yield row, None, None
    report.update({"requested": src.count, "made": made, "short": short})
