"""Prompt files shipped with ramen (see README.md here)."""

from pathlib import Path

PROMPTS_DIR = Path(__file__).parent


def load_prompt(name_or_path: str) -> str:
    """A prompt by file name in ramen/prompts, or by path to the user's own file."""
    path = Path(name_or_path)
    if not path.is_file():
        path = PROMPTS_DIR / name_or_path
    return path.read_text(encoding="utf-8")


# What a judge prompt must contain; the judge fills them by plain replacement.
JUDGE_PLACEHOLDERS = ("{question}", "{response}", "{correct_answer}")


# The Do-Not-Answer judge sees no reference answer.
DNA_PLACEHOLDERS = ("{question}", "{response}")


def missing_placeholders(
    template: str, placeholders: tuple[str, ...] = JUDGE_PLACEHOLDERS
) -> list[str]:
    return [p for p in placeholders if p not in template]


def check_prompt_file(
    name_or_path: str, placeholders: tuple[str, ...] = JUDGE_PLACEHOLDERS
) -> None:
    """For recipe validation: the judge prompt exists and has its placeholders (ValueError)."""
    path = Path(name_or_path)
    if not path.is_file() and not (PROMPTS_DIR / name_or_path).is_file():
        shipped = ", ".join(sorted(p.name for p in PROMPTS_DIR.glob("*.txt")))
        raise ValueError(f"no prompt file '{name_or_path}'; give a path or one of: {shipped}")
    missing = missing_placeholders(load_prompt(name_or_path), placeholders)
    if missing:
        raise ValueError(f"prompt '{name_or_path}' lacks {', '.join(missing)}")


# What a problem writer's prompt must contain (curation/written.py fills them).
WRITE_PLACEHOLDERS = ("{category}", "{difficulty}", "{examples}")


def render_write_prompt(template: str, category: str, difficulty: int, examples: list[str]) -> str:
    """A writer prompt: the category, the difficulty and the seed problems, one `Problem: ...`
    line each (plain replacement, so braces elsewhere in the file are safe)."""
    lines = "\n".join(f"Problem: {' '.join(q.split())}" for q in examples)
    return (
        template.replace("{category}", category)
        .replace("{difficulty}", str(difficulty))
        .replace("{examples}", lines)
    )
