"""Errors that are the user's input, not a bug: the CLI prints them in one line and exits 2."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (recipe, override, file). Printed as one line, exit code 2."""

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class RecipeError(UserError):
    """A recipe key that is missing, misspelled, mistyped or out of range."""


class StageFailed(Exception):
    """A stage's own work failed (e.g. the training processes exited non-zero). Printed as one
    line pointing at the stage's log; exit code 1."""

    exit_code = 1
