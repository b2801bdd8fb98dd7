"""The customer-text catalogs are complete, current and shipped; Babel formats in the
reader's language and the project's time zone."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from pipeline.i18n import LANGUAGES, LOCALES, SOURCE_LANGUAGE, Audience, audience

TRANSLATED = [lang for lang in LANGUAGES if lang != SOURCE_LANGUAGE]
# The modules whose messages customers read (the Makefile's `catalogs` target extracts them).
SOURCES = ("pipeline/publish/update.py", "pipeline/notify/notices.py")
KEYWORDS = {"_": None, "N_": None, "n_": (1, 2)}
ROOT = Path(__file__).resolve().parents[2]


def _ids(catalog: Catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def _po(language: str) -> Catalog:
    with open(LOCALES / language / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return read_po(fh, locale=language)


def _template() -> Catalog:
    with open(LOCALES / "messages.pot", "rb") as fh:
        return read_po(fh)


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_the_template_holds_every_message_the_code_marks() -> None:
    marked = set()
    for source in SOURCES:
        for _, message, _, _ in extract_from_file("python", str(ROOT / source),
                                                  keywords=KEYWORDS):
            marked.add(message if isinstance(message, str) else message[0])
    assert marked == _ids(_template()), "run `make catalogs` and translate what is new"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_in_every_shipped_language(language: str) -> None:
    catalog = _po(language)
    assert _ids(catalog) == _ids(_template()), "run `make catalogs`"
    for message in catalog:
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        assert all(strings), f"{language}: no translation for {ids[0]!r}"
        assert not message.fuzzy, f"{language}: fuzzy translation for {ids[0]!r}"
        for text in strings:
            assert _placeholders(text) == _placeholders(ids[-1]), (language, ids[0], text)


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_shipped_mo_file_is_the_compiled_po_file(language: str) -> None:
    compiled = io.BytesIO()
    write_mo(compiled, _po(language))
    shipped = (LOCALES / language / "LC_MESSAGES" / "messages.mo").read_bytes()
    assert shipped == compiled.getvalue(), "run `make catalogs`"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_renders_in_every_shipped_language(language: str) -> None:
    reader = Audience(language, "Europe/Berlin")
    for message in _template():
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        values = {name: f"<{name}>" for name in _placeholders(ids[-1])}
        for count in (1, 2, 5):
            text = (reader._(ids[0]) if len(ids) == 1 else reader.n_(ids[0], ids[1], count))
            rendered = text.format(**values)
            if language != SOURCE_LANGUAGE and not _same_in_every_language(ids[0]):
                assert rendered != ids[0].format(**values), (language, ids[0])


def _same_in_every_language(message: str) -> bool:
    """Messages that are only placeholders and punctuation, or a loan word."""
    return message in ("{customer}: {title}", "Update") or not re.sub(
        r"\{\w+\}|[\W_]", "", message)


def test_german_in_berlin_time() -> None:
    winter = datetime(2026, 12, 5, 17, 16, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    reader = Audience("de", "Europe/Berlin")
    assert reader.moment(winter) == "5. Dezember 2026, 18:16 MEZ"
    assert reader.moment(summer) == "1. Juli 2026, 10:00 MESZ"
    assert reader.day(winter) == "5. Dezember"
    assert reader.date(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == "1. Januar 2027"
    assert reader.percent(0.925) == "92,5\xa0%"
    assert reader.money(12500.4, "EUR") == "12.500\xa0€"
    assert reader.number(1250.4) == "1.250" and reader.number(0.0123) == "0,0123"


def test_english_and_french_formats() -> None:
    when = datetime(2026, 12, 5, 17, 16, tzinfo=UTC)
    assert Audience("en", "UTC").moment(when) == "December 5, 2026, 5:16\u202fPM UTC"
    assert Audience("en").money(900, "USD") == "$900"
    french = Audience("fr", "Europe/Paris")
    assert french.date(when) == "5 décembre 2026"
    assert french.money(12500, "EUR") == "12\u202f500\xa0€"


def test_a_language_without_a_catalog_reads_english() -> None:
    reader = audience("es", "Europe/Madrid")
    assert (reader.language, reader.time_zone) == ("en", "Europe/Madrid")
    assert reader._("Blockers") == "Blockers"
