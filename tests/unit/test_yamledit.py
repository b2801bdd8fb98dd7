from __future__ import annotations

import pytest

from pipeline.documents.yamledit import NewKey, add_keys

AFTER = ("people", 0, "github")


def add(text: str, value: str = "42") -> str | None:
    return add_keys(text, "c.yaml", [NewKey(AFTER, "githubId", value)])


@pytest.mark.parametrize(("text", "expected"), [
    ("people:\n  - id: a\n    github: x  # who\n    roles: []\n",
     "people:\n  - id: a\n    github: x  # who\n    githubId: 42\n    roles: []\n"),
    ("people:\n- github: x\n  id: a\n", "people:\n- github: x\n  githubId: 42\n  id: a\n"),
    ("people:\r\n  - id: a\r\n    github: 'x'\r\n", "people:\r\n  - id: a\r\n    github: 'x'\r\n"
                                                  "    githubId: 42\r\n"),
    ("people:\n  - id: a\n    github: x", "people:\n  - id: a\n    github: x\n    githubId: 42\n"),
])
def test_a_line_is_added_below_the_key_and_nothing_else_changes(text: str,
                                                                 expected: str) -> None:
    assert add(text) == expected


@pytest.mark.parametrize("text", [
    "people:\n  - {id: a, github: x}\n",          # flow style
    "people:\n  - id: a\n    github:\n      x\n",  # the value on the next line
    "people:\n  - id: a\n    github: x\n    githubId: 7\n",  # already there
    "people:\n  - id: a\n",                        # no github key
])
def test_layouts_that_cannot_be_edited_safely_are_left_alone(text: str) -> None:
    assert add(text) is None


def test_only_plain_values_are_written() -> None:
    assert add("people:\n  - github: x\n", "1\n  evil: true") is None
