"""The `ailoop` console script: what it sets up around a command."""

from __future__ import annotations

import gc
import subprocess
import sys

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


# Imported only by the code that uses them: together about 80 ms, paid by every validate
# and reconcile run that imported them at the top (httpx brings rich with it).
_CALLED_WHEN_NEEDED = ("httpx", "rich", "babel", "difflib")


def test_validate_and_reconcile_import_no_client_formatter_or_spellchecker() -> None:
    """Neither a validate run nor a no-op reconcile talks to a server, formats a date for a
    customer or suggests a spelling: they must not pay for importing what does."""
    code = ("import sys\n"
            "import pipeline.cli.main, pipeline.cli.validate, pipeline.cli.reconcile\n"
            "import pipeline.validate.run, pipeline.validate.policies, pipeline.policy.compiler\n"
            "import pipeline.reconcile.apply, pipeline.model.project, pipeline.trust.status\n"
            f"print(sorted(m for m in {_CALLED_WHEN_NEEDED!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
