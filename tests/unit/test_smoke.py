from __future__ import annotations

from pathlib import Path

from tests.support import run_cli


def test_example_repository_validates_clean(example: Path, capsys: object) -> None:
    result = run_cli(capsys, "-C", str(example), "validate")
    assert result.code == 0, result.out + result.err
    assert result.out.startswith("All ")
