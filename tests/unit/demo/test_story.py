"""The demo's set-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.demo.story import Story, example_root, setup


def test_a_relative_demo_folder_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ailoop demo --dir demo` from the folder it should go in: git runs in other folders,
    so a relative remote would not be found."""
    monkeypatch.chdir(tmp_path)
    said: list[str] = []
    story = Story(Path("demo"), said.append, lambda argv: 0)
    setup(story, example_root())
    assert story.base == tmp_path / "demo"
    assert (tmp_path / "demo" / "ci" / "ailoop.yaml").is_file()
