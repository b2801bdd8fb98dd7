from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.github_fake import FakeGitHub
from tests.support import (
    BotKey,
    GitRepo,
    commit_evidence,
    copy_example,
    make_repo,
    pin_git_env,
    use_bot_key,
)


@pytest.fixture(scope="session", autouse=True)
def bot_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotKey]:
    """The bot's key pair, made once: repos made by tests/support.py list its public half in
    ailoop.yaml, and AILOOP_BOT_SIGNING_KEY names its private half (for module fixtures
    too, which run before the function fixtures below)."""
    from pipeline.trust.botkey import generate_key_pair

    private = tmp_path_factory.mktemp("bot-key") / "ailoop-bot"
    key = BotKey(private, generate_key_pair(str(private)))
    use_bot_key(key)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AILOOP_BOT_SIGNING_KEY", str(private))
        yield key


@pytest.fixture(autouse=True)
def _isolated_git(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
    bot_key: BotKey,
) -> None:
    home = tmp_path_factory.mktemp("home")
    env: dict[str, str] = {}
    pin_git_env(env, home)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AILOOP_BOT_SIGNING_KEY", str(bot_key.private))
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))


@pytest.fixture(autouse=True)
def _fresh_fingerprint() -> Iterator[None]:
    """The cache's fingerprint is computed once per process from the environment (PATH,
    AILOOP_FLAGD_CORE_DIR, ...), which tests change: each test computes its own, as an
    ailoop process started with that test's environment would."""
    from pipeline.cache import checker_fingerprint

    checker_fingerprint.cache_clear()
    yield
    checker_fingerprint.cache_clear()


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


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    """Real ed25519 keys (ssh-keygen) for ann, raj and mallory."""
    from tests.acceptance.approvals_support import keygen

    folder = tmp_path / "keys"
    folder.mkdir()
    return {name: keygen(folder, name) for name in ("ann", "raj", "mallory")}


@pytest.fixture
def signed_repo(tmp_path: Path, keys: dict[str, Path]) -> GitRepo:
    """The approvals repo with ann's and raj's signing keys and passing evidence."""
    from tests.acceptance.approvals_support import approvals_repo, customer_yaml, write_evidence

    repo = approvals_repo(tmp_path, customer_yaml(keys["ann"], keys["raj"]))
    write_evidence(repo.work)
    commit_evidence(repo.work)
    return repo


@pytest.fixture
def github_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    """The GitHub REST stand-in on 127.0.0.1, with the environment pointing at it."""
    from tests.acceptance.github_fake import REPO, TOKEN, serve

    with serve(FakeGitHub()) as running:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
        monkeypatch.setenv("GITHUB_API_URL", running.url)
        yield running
