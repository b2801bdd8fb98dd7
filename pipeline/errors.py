"""The exception tree. Every message is written for the person running ailoop."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_INPUT = 2
EXIT_EXTERNAL = 3


class AiloopError(Exception):
    """Base error; `str(err)` is shown to the user as is."""

    exit_code = EXIT_INPUT


class InputError(AiloopError):
    """Bad input from the user: a file, an argument, a setting (exit 2)."""

    exit_code = EXIT_INPUT

    def __init__(self, message: str, *, path: str = "", line: int = 0, col: int = 0) -> None:
        self.path = path
        self.line = line
        self.col = col
        self.detail = message
        where = f"{path}:{line}:{col}: " if path and line else (f"{path}: " if path else "")
        super().__init__(f"{where}{message}")


class ExternalError(AiloopError):
    """An outside system failed (git remote, provider, monitoring); nothing was changed (exit 3)."""

    exit_code = EXIT_EXTERNAL


class GitError(ExternalError):
    """A git command failed."""
