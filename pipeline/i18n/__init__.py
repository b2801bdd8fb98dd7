"""The customer's language and the project's time zone, for everything a customer reads.

Texts are gettext messages; the catalogs (`locales/messages.pot`, one `.po` per language
and its compiled `.mo`, `make catalogs`) ship inside the package. English is the source
language: it has no catalog. Dates, numbers, percentages and money are formatted by Babel
for the language, and times are shown in the project's time zone.
"""

from __future__ import annotations

import gettext
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Babel is imported by the methods that format (about 5 ms): the models import this
# module for known_time_zone, and most commands format nothing.

LOCALES = Path(__file__).parent / "locales"
DOMAIN = "messages"
SOURCE_LANGUAGE = "en"
# Every language a customer can read; a test renders each and fails on a missing message.
LANGUAGES = ("de", "en", "fr")


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; it is translated where used."""
    return message


def shipped(language: str) -> bool:
    return language in LANGUAGES


def known_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


class Audience(NamedTuple):
    """Who reads a text: its language (one of LANGUAGES) and the time zone it is shown in."""

    language: str = SOURCE_LANGUAGE
    time_zone: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def _(self, message: str) -> str:
        return _translations(self.language).gettext(message)

    def n_(self, singular: str, plural: str, count: int) -> str:
        return _translations(self.language).ngettext(singular, plural, count)

    def local(self, when: datetime) -> datetime:
        aware = when if when.tzinfo else when.replace(tzinfo=UTC)
        return aware.astimezone(self.zone)

    def day(self, when: datetime) -> str:
        """'5 December', '5. Dezember'."""
        from babel.dates import format_skeleton

        return format_skeleton("MMMMd", self.local(when), locale=self.language)

    def date(self, when: datetime) -> str:
        """'December 5, 2026', '5. Dezember 2026'."""
        from babel.dates import format_date

        return format_date(self.local(when), "long", locale=self.language)

    def short_date(self, when: datetime) -> str:
        from babel.dates import format_date

        return format_date(self.local(when), "short", locale=self.language)

    def moment(self, when: datetime) -> str:
        """Date and time with the zone: '5. Dezember 2026 um 18:16 MEZ'."""
        from babel import Locale
        from babel.dates import format_datetime, format_time

        local = self.local(when)
        time = (format_time(local, "short", locale=self.language) + " "
                + format_datetime(local, "z", locale=self.language))
        pattern = str(Locale.parse(self.language).datetime_formats["long"])
        return pattern.replace("{1}", self.date(local)).replace("{0}", time)

    def percent(self, fraction: float) -> str:
        """0.925 -> '92.5%', '92,5 %' (at most one decimal)."""
        from babel.numbers import format_percent

        return format_percent(round(fraction, 3), locale=self.language,
                              decimal_quantization=False)

    def number(self, value: float) -> str:
        """Up to three significant digits below 10, whole numbers above: 0.123, 1.5, 1,250."""
        from babel.numbers import format_decimal

        if abs(value) < 10:
            return format_decimal(float(f"{value:.3g}"), "#,##0.######", locale=self.language)
        return format_decimal(round(value), locale=self.language)

    def money(self, value: float, currency: str) -> str:
        """Whole units in the language's currency pattern: '€12,500', '12.500 €'."""
        from babel import Locale
        from babel.numbers import parse_pattern

        pattern = parse_pattern(Locale.parse(self.language).currency_formats["standard"].pattern)
        pattern.frac_prec = (0, 0)
        return str(pattern.apply(round(value), Locale.parse(self.language), currency=currency,
                                 currency_digits=False))


@cache
def _translations(language: str) -> gettext.NullTranslations:
    if language == SOURCE_LANGUAGE or not shipped(language):
        return gettext.NullTranslations()
    with open(LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.mo", "rb") as fh:
        return gettext.GNUTranslations(fh)


def audience(language: str, time_zone: str) -> Audience:
    """The audience for a customer's language and the project's zone; a language without a
    catalog reads English (validation warns about it)."""
    return Audience(language if shipped(language) else SOURCE_LANGUAGE,
                    time_zone if known_time_zone(time_zone) else "UTC")
