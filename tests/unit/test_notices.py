"""What a bot commit announces, in each customer's language."""

from __future__ import annotations

import pytest

from pipeline.i18n import LANGUAGES
from pipeline.notify.notices import EVENTS, People, commit_notices

MESSAGE = """ailoop: promote acme/triage to canary (5%)

- acme/triage: shadow baked 48h; every gate passes

Ailoop-Priority: acme/triage
Ailoop-Action: promote
"""


def _people(language: str) -> dict[str, People]:
    return {"acme": People({"ann": "ann@acme.example"}, {}, {"triage": "ann"}, language)}


def test_a_promotion_for_a_german_customer_is_announced_in_german() -> None:
    [notice] = commit_notices("c0ffee", MESSAGE, _people("de"), {})
    assert notice.event == "promoted"  # the webhook's machine-readable field stays as is
    assert notice.subject == "acme/triage: zum nächsten Einführungsschritt weitergegangen"
    assert notice.text == ("acme/triage: zum nächsten Einführungsschritt weitergegangen\n\n"
                           "shadow baked 48h; every gate passes")
    assert (notice.language, notice.to) == ("de", ("ann@acme.example",))


def test_a_published_update_keeps_its_title() -> None:
    updates = {"customers/acme/updates/triage-2026-12-05.md": "# Acme: triage, Update vom 5. "
               "Dezember 2026\n\n..."}
    [notice] = commit_notices("c0ffee", "ailoop: review\n", _people("fr"), updates)
    assert notice.subject == "acme : Acme: triage, Update vom 5. Dezember 2026"
    assert notice.event == "update published" and notice.to_channel


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_event_is_announced_in_every_language(language: str) -> None:
    for action in EVENTS:
        message = MESSAGE.replace("Ailoop-Action: promote", f"Ailoop-Action: {action}")
        [notice] = commit_notices("c0ffee", message, _people(language), {})
        assert notice.subject.startswith("acme/triage") and notice.language == language


def test_a_language_without_a_catalog_is_announced_in_english() -> None:
    [notice] = commit_notices("c0ffee", MESSAGE, _people("es"), {})
    assert notice.subject == "acme/triage: moved to the next release step"
    assert notice.language == "en"


def test_a_move_to_a_new_segment_is_announced() -> None:
    message = MESSAGE.replace("Ailoop-Action: promote", "Ailoop-Action: resegment")
    [notice] = commit_notices("c0ffee", message, _people("en"), {})
    assert notice.event == "segment changed" and notice.to_channel
    assert notice.subject == ("acme/triage: the group of live work the new version handles "
                              "has changed")
