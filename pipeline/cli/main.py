"""The `ailoop` command: parses arguments, calls the core, maps errors to exit codes."""

from __future__ import annotations

import contextlib
import gc
import importlib
import io
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

import click

from pipeline import __version__
from pipeline.errors import EXIT_INPUT, AiloopError

EXIT_INTERNAL = 4

# verb -> module under pipeline.cli; imported only when the verb runs (keeps --help fast).
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("scaffold", "Scaffold a new ailoop GitOps repository."),
    "new": ("scaffold", "Add a customer or a priority from a template."),
    "validate": ("validate", "Check documents against schemas, policies and cross-references."),
    "schemas": ("schemas", "Write (or --check) the JSON Schemas in schemas/."),
    "policy": ("policy", "Test and explain the policies (rules as code)."),
    "dataset": ("dataset", "Add a regression case from an incident or a production trace."),
    "dry-run": ("dryrun", "Evaluate a priority's workflow on its dataset and write evidence."),
    "evidence": ("evidence", "Commit a trusted dry run's evidence as the bot."),
    "verify": ("verify", "Check the chain behind a priority: evidence, files, approvals, flag."),
    "plan": ("plan", "Show what the reconciler would do for every priority, and why."),
    "reconcile": ("reconcile", "Apply the plan: advance, hold or roll back; commit and push."),
    "status": ("status", "Where every priority stands."),
    "adopt": ("adopt", "Sign, as the bot, status files written before the bot key."),
    "approve": ("approve", "Record a signed git-native approval for a stage."),
    "sample": ("sample", "Draw a candidate's outputs for people to label (human review)."),
    "gate": ("gate", "Evaluate the approval gates a pull request touches."),
    "comment": ("comment", "Post or update the pull request's ailoop comment."),
    "notify": ("notify", "Send pending notifications, or a test message."),
    "people": ("people", "Look up people's GitHub account ids (githubId)."),
    "review": ("review", "Run the scheduled operations review of a priority."),
    "update": ("update", "Write the customer-facing update for a priority."),
    "lessons": ("lessons", "Add to and search the shared lessons memory."),
    "site": ("site", "Build the static dashboard."),
    "demo": ("demo", "Run the whole loop on the bundled example, offline."),
}
_CLI_DIR = os.path.dirname(__file__)


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if _available(name))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS or not _available(cmd_name):
            return None
        module = importlib.import_module(f"pipeline.cli.{COMMANDS[cmd_name][0]}")
        command = getattr(module, cmd_name.replace("-", "_") + "_command")
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _available(name: str) -> bool:
    return os.path.exists(os.path.join(_CLI_DIR, COMMANDS[name][0] + ".py"))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Exit codes: 0 ok; 1 findings or a gate blocks; 2 usage or input error; "
                    "3 an external system failed (nothing was changed); 4 internal error.")
@click.option("-C", "--repo", "repo", type=click.Path(file_okay=False),
              help="Repository root (default: the nearest parent folder with ailoop.yaml).")
@click.version_option(__version__, prog_name="ailoop")
@click.pass_context
def cli(ctx: click.Context, repo: str | None) -> None:
    """ailoop carries each customer AI priority from request to a proven production
    outcome, with git as the source of truth and pull requests as the approval gates."""
    ctx.obj = {"repo": repo}




def repo_root(ctx: click.Context) -> str:
    repo: str | None = (ctx.find_root().obj or {}).get("repo")
    if repo:
        if not os.path.isdir(repo):
            raise AiloopError(f"repository folder does not exist: {repo}")
        return os.path.abspath(repo)
    from pipeline.documents.layout import find_root  # not needed by --help

    return find_root(os.getcwd())


def _without_secrets(text: str) -> str:
    """The crash log may be attached to a bug report: the one redactor, as for output."""
    from pipeline.redact import process_redactor

    return process_redactor().text(text)


class _Redacting(io.TextIOBase):
    """stdout or stderr through the one redactor: nothing personal or secret that an input
    or an exception quotes reaches the terminal or a CI log."""

    def __init__(self, stream: TextIO, redact: Callable[[str], str]) -> None:
        self.stream, self.redact = stream, redact

    def write(self, text: str) -> int:
        self.stream.write(self.redact(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", "utf-8") or "utf-8"


@contextlib.contextmanager
def _redacted_output() -> Iterator[None]:
    from pipeline.redact import process_redactor

    redact = process_redactor().text
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Redacting(out, redact), _Redacting(err, redact)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err


def _crash_log(exc: BaseException) -> str:
    import tempfile  # only after a crash: every command's start-up pays for its imports
    import traceback

    try:
        fd, path = tempfile.mkstemp(prefix=f"ailoop-crash-{int(time.time())}-", suffix=".log")
        with os.fdopen(fd, "w") as fh:
            fh.write(_without_secrets("".join(traceback.format_exception(exc))))
    except OSError as e:  # a full disk must not turn into a traceback on the terminal
        return f"nowhere: the crash log could not be written ({e.strerror or e})"
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (the console script and the tests call this)."""
    if list(sys.argv[1:] if argv is None else argv)[:1] in (["--help"], ["-h"]):
        return _main(argv)  # nothing to redact; keeps `ailoop --help` fast
    with _redacted_output():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    try:
        result: Any = cli.main(args=list(argv) if argv is not None else None,
                               prog_name="ailoop", standalone_mode=False)
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.ClickException as e:
        e.show()
        return EXIT_INPUT
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return EXIT_INPUT
    except AiloopError as e:
        click.echo(f"error: {e}", err=True)
        return e.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except Exception as e:  # the one boundary for bugs: no traceback on the terminal
        click.echo(f"internal error: {type(e).__name__}. Details were written to {_crash_log(e)}",
                   err=True)
        return EXIT_INTERNAL
    return int(result or 0)


def console() -> None:
    """The `ailoop` console script."""
    # A command is a short process that builds much and leaves few cycles behind, yet the
    # young collection would run every 700 allocations: about 8 % of a --changed-since
    # run's time, importing pydantic and building the models' validators (see
    # _start_worker for the workers of a big run).
    gc.set_threshold(20_000, 50, 100)
    code = main()
    # The process ends here: its last garbage collection need not scan everything the
    # run built (on a --changed-since run of a big repository, ~8 % of its CPU time).
    gc.freeze()
    raise SystemExit(code)
