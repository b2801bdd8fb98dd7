"""Fixtures several acceptance modules share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.providers.chat_server import ChatServer


@pytest.fixture
def chat(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatServer]:
    """The stand-in chat server the judge tests grade with; the judge's key is set."""
    monkeypatch.setenv("TEST_JUDGE_KEY", "sk-judge-secret")
    server = ChatServer().start()
    yield server
    server.stop()
