"""The `ailoop` console script: what it sets up around a command."""

from __future__ import annotations

import gc

import pytest

from pipeline.cli import main as cli_main


def test_a_command_runs_the_young_collection_rarely(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command builds much and leaves few cycles; at Python's default (a collection every
    700 allocations) collecting was about 8 % of a --changed-since run."""
    thresholds: list[tuple[int, int, int]] = []
    monkeypatch.setattr(cli_main, "main", lambda: thresholds.append(gc.get_threshold()) or 0)
    before = gc.get_threshold()
    try:
        with pytest.raises(SystemExit) as ended:
            cli_main.console()
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
    assert ended.value.code == 0
    assert thresholds[0][0] >= 20_000
