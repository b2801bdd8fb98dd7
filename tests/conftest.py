from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import GitRepo, copy_example, make_repo, pin_git_env


@pytest.fixture(autouse=True)
def _isolated_git(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path_factory.mktemp("home")
    env: dict[str, str] = {}
    pin_git_env(env, home)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of the bundled example repository (no git)."""
    return copy_example(tmp_path / "example")


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    """The example in a real git repository with a bare `origin` remote."""
    return make_repo(tmp_path)


@pytest.fixture
def no_color() -> None:
    os.environ["NO_COLOR"] = "1"
