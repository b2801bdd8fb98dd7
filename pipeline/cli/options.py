"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from pipeline.errors import InputError

F = TypeVar("F", bound=Callable[..., Any])


def now_option(func: F) -> F:
    """`--now ISO`: the clock for this run (tests and replays); default the real time."""
    option = click.option("--now", "now", metavar="ISO", default=None,
                          help="Act as if it were this time (ISO 8601, e.g. 2026-11-26T14:00Z).")
    return option(func)


def parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--now: '{value}' is not an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
