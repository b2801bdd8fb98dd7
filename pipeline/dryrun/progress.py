"""Progress: a rich bar on a terminal, a plain line every 10% in CI and in logs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class Reporter(Protocol):
    def advance(self, passed: bool) -> None: ...

    def close(self) -> None: ...


class Silent:
    def advance(self, passed: bool) -> None:
        return None

    def close(self) -> None:
        return None


class PlainLines:
    """No case ids or outputs: only counts, so nothing personal can be printed."""

    def __init__(self, total: int, write: Callable[[str], None], label: str,
                 unit: str = "cases") -> None:
        self.total, self.write, self.label, self.unit = total, write, label, unit
        self.done = self.failed = 0
        self.next_step = 1

    def advance(self, passed: bool) -> None:
        self.done += 1
        self.failed += not passed
        if self.done * 10 >= self.next_step * self.total or self.done == self.total:
            self.write(f"{self.label}: {self.done}/{self.total} {self.unit} ({self.failed} failed)")
            self.next_step = self.done * 10 // max(self.total, 1) + 1

    def close(self) -> None:
        return None


class Bar:
    def __init__(self, total: int, stream: TextIO, label: str) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("{task.fields[failed]} failed"),
                                 TimeElapsedColumn(), console=Console(file=stream),
                                 transient=True)
        self.task = self.progress.add_task(label, total=total, failed=0)
        self.failed = 0
        self.progress.start()

    def advance(self, passed: bool) -> None:
        self.failed += not passed
        self.progress.update(self.task, advance=1, failed=self.failed)

    def close(self) -> None:
        self.progress.stop()


def make_reporter(total: int, stream: TextIO, env: Mapping[str, str], label: str,
                  quiet: bool = False, unit: str = "cases") -> Reporter:
    if quiet or total == 0:
        return Silent()
    in_ci = bool(env.get("CI") or env.get("GITHUB_ACTIONS"))
    if stream.isatty() and not in_ci and env.get("TERM") != "dumb":
        return Bar(total, stream, label)
    return PlainLines(total, lambda line: print(line, file=stream, flush=True), label, unit)
