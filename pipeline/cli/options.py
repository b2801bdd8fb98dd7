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
        return datetime.now(UTC).replace(microsecond=0)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--now: '{value}' is not an ISO 8601 time") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def shard_option(func: F) -> F:
    """`--shard I/N`: only the priorities this CI runner owns (stable jump hashing)."""
    option = click.option("--shard", "shard", metavar="I/N", default=None,
                          help="Only the priorities of shard I of N (e.g. 2/4), for CI "
                               "matrices; a priority's shard depends only on its name.")
    return option(func)


def select_priorities(root: str, keys: tuple[str, ...], *, changed_since: str | None = None,
                      every: bool = False, shard: str | None = None) -> list[str]:
    """The priorities a command acts on: named keys, those touched since a ref, or all;
    then narrowed to one shard. Unknown keys are input errors naming what exists."""
    from pipeline.documents.layout import priority_keys, priority_of, unknown_priority
    from pipeline.reconcile.shard import parse_shard

    known = priority_keys(root)
    chosen: list[str] = []
    for key in keys:
        key = key.strip("/")
        if key not in known:
            raise unknown_priority(root, key)
        chosen.append(key)
    if changed_since is not None:
        from pipeline.git import changed_files

        touched = {k for path in changed_files(root, changed_since) if (k := priority_of(path))}
        chosen += [k for k in known if k in touched]
    if every:
        chosen += known
    selected = sorted(set(chosen))
    if shard is not None:
        part = parse_shard(shard)
        selected = [k for k in selected if part.owns(k)]
    return selected
