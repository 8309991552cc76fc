"""What `ramen generate` and `ramen grade` share: a model named on the command line, and
its engine options."""

from __future__ import annotations

import argparse

from ramen.errors import UserError


def model_from_cli(model: str, args: argparse.Namespace, role: str, **overrides):
    """(spec, resolved path, name) for a model named on the command line: a name under the
    `--recipe`'s models, `tiny:NAME`, a local folder or a hub id."""
    # imported when the command runs, so that `ramen --help` stays instant
    import json
    from pathlib import Path

    from pydantic import ValidationError

    from ramen.launch.models import resolve_model_path
    from ramen.spec import ModelSpec

    overrides = {k: v for k, v in overrides.items() if v is not None}
    if getattr(args, "recipe", None):
        from ramen.launch.recipe import load_recipe  # the recipe schema: only when one is given

        recipe = load_recipe(args.recipe, [])
        if model not in recipe.models:
            raise UserError(
                f"no model '{model}' under models: in {args.recipe}; known: "
                + ", ".join(sorted(recipe.models)),
                where=role,
            )
        data = recipe.models[model].model_dump()
        engine = {**data.pop("engine"), **overrides.pop("engine", {})}
        spec = ModelSpec(**{**data, **overrides, "engine": engine})
        return spec, resolve_model_path(model, spec.path), model
    try:
        spec = ModelSpec(path=model, **overrides)
    except ValidationError as e:
        raise UserError(e.errors()[0]["msg"], where=role) from None
    path = resolve_model_path(role.lstrip("-"), spec.path)
    if "max_model_len" not in overrides:
        # Serve the model's own context, up to 32k, when nothing says otherwise.
        config = Path(path) / "config.json"
        if config.is_file():
            own = json.loads(config.read_text()).get("max_position_embeddings")
            if isinstance(own, int):
                spec = spec.model_copy(update={"max_model_len": min(own, 32768)})
    if spec.path.startswith("tiny:") and "dtype" not in overrides:
        spec = spec.model_copy(update={"dtype": "float32"})  # the tiny family is float32
    return spec, path, Path(model).name if Path(model).exists() else model


def engine_overrides(args: argparse.Namespace, prefix: str = "") -> dict:
    get = lambda k: getattr(args, prefix + k, None)  # noqa: E731
    engine = {
        "backend": get("backend"),
        "max_num_seqs": get("max_num_seqs"),
        "length_retries": get("length_retries"),
        "concurrency": get("concurrency"),
    }
    engine = {k: v for k, v in engine.items() if v is not None}
    thinking = get("thinking")
    return {
        "max_model_len": get("max_model_len"),
        "dtype": get("dtype"),
        "enable_thinking": None if thinking is None else thinking == "on",
        **({"engine": engine} if engine else {}),
    }


def engine_args(p: argparse.ArgumentParser, prefix: str = "") -> None:
    g = p.add_argument_group(f"{prefix or 'model '}engine")
    g.add_argument(
        f"--{prefix}backend",
        choices=["offline", "serve"],
        help="offline vLLM (default) or a vllm serve on loopback",
    )
    g.add_argument(
        f"--{prefix}max-model-len",
        type=int,
        help="context length (default: the model's, up to 32768)",
    )
    g.add_argument(f"--{prefix}dtype", choices=["auto", "float32", "bfloat16", "float16"])
    g.add_argument(
        f"--{prefix}thinking", choices=["on", "off"], help="enable_thinking for the chat template"
    )
    g.add_argument(f"--{prefix}max-num-seqs", type=int, help="vLLM sequences per batch")
    g.add_argument(
        f"--{prefix}length-retries",
        type=int,
        help="re-requests of a sample cut by the length limit",
    )
    g.add_argument(f"--{prefix}concurrency", type=int, help="requests in flight to a server")
