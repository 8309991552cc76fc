"""Generate docs/recipe-reference.md from the recipe's pydantic field descriptions."""

from __future__ import annotations

import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from ramen.benchmarks import KINDS
from ramen.benchmarks.spec import BenchmarkSpec
from ramen.io import write_text_atomic
from ramen.launch.recipe import Recipe, unwrap

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "recipe-reference.md"


def _type_name(annotation) -> str:
    text = str(annotation) if not isinstance(annotation, type) else annotation.__name__
    for prefix in (
        "typing.",
        "ramen.curation.config.",
        "ramen.training.config.",
        "ramen.evaluation.config.",
        "ramen.benchmarks.spec.",
        "ramen.launch.config.",
        "ramen.spec.",
    ):
        text = text.replace(prefix, "")
    return text.replace("NoneType", "null").replace("|", "\\|")


def _default(field) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "**required**"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        return "(section defaults)"
    return f"`{value!r}`".replace("|", "\\|") if value is not None else "`null`"


def _submodel(annotation) -> type[BaseModel] | None:
    for t in unwrap(annotation):
        origin = typing.get_origin(t)
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
        if origin in (list, dict):
            inner = typing.get_args(t)[-1]
            for u in unwrap(inner):
                if isinstance(u, type) and issubclass(u, BaseModel):
                    return u
    return None


def _walk(
    model: type[BaseModel], prefix: str, out: list[str], sections: list[tuple[str, type[BaseModel]]]
) -> None:
    for name, field in model.model_fields.items():
        if (field.json_schema_extra or {}).get("hidden"):
            continue
        key = f"{prefix}{name}"
        sub = _submodel(field.annotation)
        out.append(
            f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} | {field.description or ''} |"
        )
        if sub is not None:
            origin = typing.get_origin(unwrap(field.annotation)[0])
            marker = "[]" if origin is list else ("\\<name\\>" if origin is dict else "")
            sections.append((f"{key}{'.' + marker if marker else ''}", sub))


def render() -> str:
    lines = [
        "# Recipe reference",
        "",
        "Generated from the field descriptions in the code (`ramen docs` rewrites it; a test fails",
        "when it is stale). Unknown keys are errors. Override any key on the command line:",
        "`ramen run recipes/tiny.yaml curation.sample.n=8`.",
        "",
    ]
    queue: list[tuple[str, type[BaseModel]]] = [("", Recipe)]
    while queue:
        title, model = queue.pop(0)
        lines += [f"## `{title}`" if title else "## top level", ""]
        lines += ["| key | type | default | description |", "| --- | --- | --- | --- |"]
        found: list[tuple[str, type[BaseModel]]] = []
        _walk(model, f"{title}." if title else "", lines, found)
        lines.append("")
        if model is BenchmarkSpec:
            lines += _kind_options(title)
        queue.extend(found)
    return "\n".join(lines)


def _kind_options(title: str) -> list[str]:
    """Each registered benchmark kind's own options, written beside the common keys."""
    out = []
    for name, k in sorted(KINDS.items()):
        if not k.Options.model_fields:
            continue
        out += [f"### `{title}` options of `{name}`", ""]
        out += ["| key | type | default | description |", "| --- | --- | --- | --- |"]
        _walk(k.Options, f"{title}.", out, [])
        out.append("")
    return out


def write(path: Path = REFERENCE) -> Path:

    write_text_atomic(path, render())
    return path
