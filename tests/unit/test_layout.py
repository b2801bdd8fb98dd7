from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.documents.layout import (
    customer_of,
    discover,
    expected_kinds,
    priority_of,
    resolve_inside,
)
from pipeline.errors import InputError
from tests.support import minimal_repo

EVENTS = {"Feedback", "Incident", "ReviewRequest"}


@pytest.mark.parametrize(("rel", "kinds"), [
    ("ailoop.yaml", {"Project"}),
    ("lessons.yaml", {"Lessons"}),
    ("policies/rollout.yaml", {"Policy"}),
    ("policies/rollout.yml", {"Policy"}),
    ("policies/waivers/w1.yaml", {"Waiver"}),
    ("customers/acme/customer.yaml", {"Customer"}),
    ("customers/acme/lessons.yaml", {"Lessons"}),
    ("customers/acme/triage/priority.yaml", {"Priority"}),
    ("customers/acme/triage/status.yaml", {"Status"}),
    ("customers/acme/triage/events/2026-01-01-fb.yaml", EVENTS),
    ("customers/acme/triage/events/note.yml", EVENTS),
    # not documents
    ("ailoop.yml", None),
    ("README.md", None),
    ("policies/tests/rollout.yaml", None),
    ("policies/waivers/old/w.yaml", None),
    ("policies/a/b/c.yaml", None),
    ("customers/acme.yaml", None),
    ("customers/acme/notes.yaml", None),
    ("customers/acme/triage/dataset.jsonl", None),
    ("customers/acme/triage/other.yaml", None),
    ("customers/acme/triage/evidence/ev-1.json", None),
    ("customers/acme/triage/events/sub/x.yaml", None),
    ("customers/acme/triage/fixtures/x.yaml", None),
    ("other/ailoop.yaml", None),
])
def test_expected_kinds_table(rel: str, kinds: set[str] | None) -> None:
    assert expected_kinds(rel) == (frozenset(kinds) if kinds is not None else None)


@pytest.mark.parametrize(("rel", "customer", "priority"), [
    ("customers/acme/customer.yaml", "acme", None),
    ("customers/acme/triage/priority.yaml", "acme", "acme/triage"),
    ("customers/acme/triage/events/x.yaml", "acme", "acme/triage"),
    ("customers/acme", None, None),
    ("policies/p.yaml", None, None),
    ("ailoop.yaml", None, None),
])
def test_customer_and_priority_of_a_path(rel: str, customer: str | None,
                                         priority: str | None) -> None:
    assert (customer_of(rel), priority_of(rel)) == (customer, priority)


def test_discover_finds_documents_only(tmp_path: Path) -> None:
    root = minimal_repo(tmp_path / "repo")
    for rel in ("lessons.yaml", "policies/p.yaml", "policies/waivers/w.yaml",
                "policies/tests/t.yaml", "customers/acme/triage/events/e.yaml",
                "customers/acme/triage/events/deep/e.yaml", "customers/acme/.hidden/x.yaml",
                "customers/.git/customer.yaml", "customers/acme/triage/status.yaml",
                "customers/acme/triage/notes.yaml"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x: 1\n")
    (root / "customers/acme/linked").symlink_to(root / "customers/acme/triage")
    assert discover(str(root)) == [
        "ailoop.yaml",
        "customers/acme/customer.yaml",
        "customers/acme/triage/events/e.yaml",
        "customers/acme/triage/priority.yaml",
        "customers/acme/triage/status.yaml",
        "lessons.yaml",
        "policies/p.yaml",
        "policies/waivers/w.yaml",
    ]


def test_discover_on_an_empty_folder(tmp_path: Path) -> None:
    assert discover(str(tmp_path)) == []


def test_resolve_inside_returns_absolute_and_relative_paths(tmp_path: Path) -> None:
    root = minimal_repo(tmp_path / "repo")
    real_root = os.path.realpath(root)
    base = "customers/acme/triage"
    assert resolve_inside(str(root), base, "dataset.jsonl") == (
        f"{real_root}/{base}/dataset.jsonl", f"{base}/dataset.jsonl")
    assert resolve_inside(str(root), base, "./data/../dataset.jsonl")[1] == (
        f"{base}/dataset.jsonl")
    assert resolve_inside(str(root), base, "../../acme/customer.yaml")[1] == (
        "customers/acme/customer.yaml")
    assert resolve_inside(str(root), base, "missing.csv")[1] == f"{base}/missing.csv"


@pytest.mark.parametrize(("ref", "message"), [
    ("", "path '' must be relative to the priority folder"),
    ("/etc/passwd", "path '/etc/passwd' must be relative to the priority folder"),
    ("\\\\server\\share", "path '\\\\server\\share' must be relative to the priority folder"),
    ("C:\\data.csv", "path 'C:\\data.csv' must be relative to the priority folder"),
    ("../../../../x.jsonl", "path '../../../../x.jsonl' leaves the repository"),
    ("a/../../../../../x", "path 'a/../../../../../x' leaves the repository"),
])
def test_resolve_inside_refuses_paths_that_leave(ref: str, message: str,
                                                 tmp_path: Path) -> None:
    root = minimal_repo(tmp_path / "repo")
    with pytest.raises(InputError) as caught:
        resolve_inside(str(root), "customers/acme/triage", ref)
    assert str(caught.value) == message


def test_resolve_inside_refuses_symlinks_that_leave(tmp_path: Path) -> None:
    root = minimal_repo(tmp_path / "repo")
    (tmp_path / "secret.jsonl").write_text("{}\n")
    folder = root / "customers/acme/triage"
    (folder / "link.jsonl").symlink_to(tmp_path / "secret.jsonl")
    (folder / "dir").symlink_to(tmp_path)
    (folder / "inner.jsonl").symlink_to(folder / "dataset.jsonl")
    for ref in ("link.jsonl", "dir/secret.jsonl"):
        with pytest.raises(InputError) as caught:
            resolve_inside(str(root), "customers/acme/triage", ref)
        assert str(caught.value) == f"path '{ref}' is a symlink that leaves the repository"
    real, rel = resolve_inside(str(root), "customers/acme/triage", "inner.jsonl")
    assert real == os.path.realpath(folder / "dataset.jsonl")
    assert rel == "customers/acme/triage/inner.jsonl"


def test_resolve_inside_works_when_the_root_is_a_symlink(tmp_path: Path) -> None:
    root = minimal_repo(tmp_path / "repo")
    (tmp_path / "alias").symlink_to(root)
    assert resolve_inside(str(tmp_path / "alias"), "customers/acme/triage",
                          "dataset.jsonl")[1] == "customers/acme/triage/dataset.jsonl"
