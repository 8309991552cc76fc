"""Prompt files shipped with ramen (see README.md here)."""

from pathlib import Path

PROMPTS_DIR = Path(__file__).parent


def load_prompt(name_or_path: str) -> str:
    """A prompt by file name in ramen/prompts, or by path to the user's own file."""
    path = Path(name_or_path)
    if not path.is_file():
        path = PROMPTS_DIR / name_or_path
    return path.read_text(encoding="utf-8")
