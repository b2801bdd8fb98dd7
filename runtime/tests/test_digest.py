"""The runtime hashes installed code exactly as ailoop fingerprints it."""

from __future__ import annotations

from pathlib import Path

import pytest
from ailoop_runtime import workflow_digest

from pipeline.documents.evidence import fingerprint
from pipeline.documents.load import load_priority

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("key", ["northwind-insurance/claims-intake", "helio-saas/ticket-triage",
                                 "helio-saas/refund-requests"])
def test_the_digest_is_the_fingerprints_workflow_part(key: str) -> None:
    priority = load_priority(str(ROOT), key)
    expected = fingerprint(str(ROOT), key, priority).workflow
    assert workflow_digest(str(ROOT / "customers" / key)) == expected
