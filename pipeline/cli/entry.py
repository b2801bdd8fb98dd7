"""The console script. Before anything heavy is imported it forks the early checker for a
`validate` run (see pipeline.checker), so the checker's imports start a few dozen
milliseconds sooner: it is on the critical path of a run over a few changed files."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def console() -> None:
    early = None
    if few_files_validate(sys.argv[1:]):
        from pipeline.checker import Checker

        early = Checker.start_early()
    try:
        from pipeline.cli.main import main

        code = main()
    finally:
        if early is not None:
            early.close()  # a no-op when validate took it
    sys.exit(code)


# Options taking a value: the global one, then validate's.
_GLOBAL_VALUED = ("-C", "--repo")
_VALIDATE_VALUED = ("--format", "--jobs", "--now")


def few_files_validate(argv: Sequence[str]) -> bool:
    """Whether argv runs `validate` over a few files: with --changed-since or paths. A
    guess from the raw arguments (click parses them later); a wrong guess costs only time:
    validate takes the checker only when it wants it, and it is stopped otherwise."""
    args = iter(argv)
    for arg in args:
        if arg in _GLOBAL_VALUED:
            next(args, None)
        elif not arg.startswith("-"):
            if arg != "validate":
                return False
            break
    else:
        return False
    for arg in args:
        if arg == "--changed-since" or arg.startswith("--changed-since="):
            return True
        if arg in _VALIDATE_VALUED:
            next(args, None)
        elif not arg.startswith("-"):
            return True  # a path
    return False
