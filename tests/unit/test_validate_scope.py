"""Which folders a `--changed-since` run without a stored walk lists (a fresh CI clone)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.documents.layout import discover, scan_dir
from pipeline.validate.run import affected_documents
from pipeline.validate.scope import documents_touched


def _tree(root: Path) -> Path:
    files = [
        "ailoop.yaml", "lessons.yaml", "policies/rules.yaml", "policies/waivers/w.yaml",
        "customers/acme/customer.yaml", "customers/acme/lessons.yaml",
        "customers/acme/triage/priority.yaml", "customers/acme/triage/status.yaml",
        "customers/acme/triage/events/fb.yaml", "customers/acme/triage/dataset.jsonl",
        "customers/acme/billing/priority.yaml",
        "customers/globex/customer.yaml", "customers/globex/intake/priority.yaml",
        "customers/globex/claims/priority.yaml",
    ]
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x: 1\n", encoding="utf-8")
    return root


def _listed(root: Path, changed: list[str]) -> tuple[list[str] | None, set[str]]:
    scanned: set[str] = set()

    def scan(path: str) -> list[tuple[str, bool]]:
        scanned.add(str(Path(path).relative_to(root)))
        return scan_dir(path)

    return documents_touched(str(root), changed, scan), scanned


@pytest.mark.parametrize("changed", [
    ["customers/acme/triage/priority.yaml"],
    ["customers/acme/triage/dataset.jsonl", "customers/globex/claims/priority.yaml"],
    ["customers/acme/triage/events/fb.yaml"],
    ["customers/acme/customer.yaml"],
    ["customers/acme/lessons.yaml", "lessons.yaml"],
    ["customers/globex/new/priority.yaml"],  # an untracked priority
    ["customers/acme/triage"],  # a deleted folder
    ["README.md"],
    [],
])
def test_the_touched_documents_hold_every_affected_one(tmp_path: Path,
                                                       changed: list[str]) -> None:
    root = _tree(tmp_path)
    everything = discover(str(root))
    listed, _ = _listed(root, changed)
    assert listed is not None and set(listed) <= set(everything)
    assert affected_documents(listed, changed) == affected_documents(everything, changed)
    repo_level = [d for d in everything if not (d.startswith("customers/")
                                                and d.count("/") >= 3)]
    assert set(repo_level) <= set(listed)  # what policies, waivers and the project read


def test_only_the_folders_the_changes_touch_are_listed(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    _, scanned = _listed(root, ["customers/acme/triage/priority.yaml"])
    assert "customers/acme/triage" in scanned and "customers/acme/triage/events" in scanned
    assert not scanned & {"customers/acme/billing", "customers/globex/intake",
                          "customers/globex/claims"}
    _, scanned = _listed(root, ["customers/globex/customer.yaml"])
    assert {"customers/globex/intake", "customers/globex/claims"} <= scanned
    assert not scanned & {"customers/acme/triage", "customers/acme/billing"}


@pytest.mark.parametrize("changed", [["ailoop.yaml"], ["policies/rules.yaml"],
                                     ["policies/waivers/w.yaml"]])
def test_a_change_every_document_depends_on_lists_nothing(tmp_path: Path,
                                                          changed: list[str]) -> None:
    assert _listed(_tree(tmp_path), changed) == (None, set())
