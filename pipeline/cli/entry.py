"""The console script. Before anything heavy is imported, for a `validate` run over a few
files, it gets the early checker (see pipeline.checker) and starts git for
--changed-since: both are on the critical path of such a run, and start this way a few
dozen milliseconds sooner than once click has parsed the command line."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def console() -> None:
    guess = guess_validate(sys.argv[1:])
    early = guess is not None and guess.few_files
    if guess is not None and guess.few_files:
        from pipeline.checker import Checker

        Checker.start_early()
        if guess.changed_since is not None and (root := guess.root()) is not None:
            from pipeline.git import start_changed_files_early

            start_changed_files_early(root, guess.changed_since)
    try:
        from pipeline.cli.main import main

        code = main()
    finally:
        if early:  # what validate did not take (it did not run, or wanted other) stops
            from pipeline.checker import Checker
            from pipeline.git import discard_early

            Checker.take(wanted=False)
            discard_early()
    sys.exit(code)


# Options taking a value: the global one, then validate's.
_GLOBAL_VALUED = ("-C", "--repo")
_VALIDATE_VALUED = ("--format", "--jobs", "--now")


class Guess:
    """What the raw arguments of a `validate` command say (click parses them later). Not a
    dataclass: this module is imported before anything else (dataclasses imports inspect)."""

    def __init__(self) -> None:
        self.repo: str | None = None
        self.changed_since: str | None = None
        self.paths = False

    @property
    def few_files(self) -> bool:
        return self.changed_since is not None or self.paths

    def root(self) -> str | None:
        """The repository, found as pipeline.cli.main.repo_root finds it; None when -C
        names no folder (the run then says so)."""
        from pipeline.layout import find_root

        if self.repo is None:
            return find_root(os.getcwd())
        return os.path.abspath(self.repo) if os.path.isdir(self.repo) else None


def guess_validate(argv: Sequence[str]) -> Guess | None:
    """What argv asks of `validate`, or None for another command. A guess from the raw
    arguments; a wrong one costs only time: validate takes the early checker and git
    commands only when they are what it wants, and they are stopped otherwise."""
    guess = Guess()
    args = iter(argv)
    for arg in args:
        if arg in _GLOBAL_VALUED:
            guess.repo = next(args, None)
        elif arg.startswith(("--repo=", "-C")) and arg not in ("-C", "--repo"):
            guess.repo = arg.split("=", 1)[1] if arg.startswith("--repo=") else arg[2:]
        elif not arg.startswith("-"):
            if arg != "validate":
                return None
            break
    else:
        return None
    for arg in args:
        if arg == "--changed-since":
            guess.changed_since = next(args, None)
        elif arg.startswith("--changed-since="):
            guess.changed_since = arg.split("=", 1)[1]
        elif arg in _VALIDATE_VALUED:
            next(args, None)
        elif not arg.startswith("-"):
            guess.paths = True
    return guess
