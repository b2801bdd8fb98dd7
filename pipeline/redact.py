"""The one redactor: personal data and secrets never leave the process. Every text ailoop
writes or prints that may quote an input goes through here (evidence, JUnit, the in-toto
statement, outputs, updates, the PR comment, lessons, the dashboard, commit messages, logs).

Redacted are the values of the fields the dataset marks as personal
(spec.inputData.redaction.fields), the values of the secrets a workflow or provider is
given, and what the detectors find: e-mail addresses, phone numbers, IBANs (only when the
mod-97 check holds) and card numbers (only when Luhn holds), which a priority may choose
among, and always, whatever its settings, credentials: GitHub, OpenAI-style and Slack
tokens, AWS access keys, JWTs, PEM private keys and bearer headers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # every command loads this module; most never build a priority's redactor
    from pipeline.documents.dataset import Case
    from pipeline.model.priority import Priority

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}(?:[ ]?[A-Za-z0-9]){11,30}")
_CARD = re.compile(r"(?<![0-9])[2-6](?:[ -]?[0-9]){12,18}(?![0-9])")  # issuers: 2-6
_PHONE = re.compile(
    r"(?<![\w+])(?:(?:\+|00)[1-9][0-9 ().\-/]{5,20}[0-9]"  # +49 171 1234567
    r"|\(?0[1-9][0-9]{0,4}\)?[ \-/]?[0-9][0-9 \-]{3,14}[0-9]"  # 0171 1234567, 030/1234567
    r"|\(?[2-9][0-9]{2}\)?[ .\-][0-9]{3}[ .\-][0-9]{4})(?!\w)"  # (555) 123-4567
)
_SHORT_LITERAL = 3  # values this short only match as whole words
# Credentials, by the shape their issuers document.
_TOKENS: tuple[re.Pattern[str], ...] = (
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
               re.DOTALL),
    re.compile(r"(?<![\w-])(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
    re.compile(r"(?<![\w-])sk-[A-Za-z0-9][A-Za-z0-9_-]{15,}"),
    re.compile(r"(?<![\w-])xox[abposr]-[A-Za-z0-9-]{10,}"),
    re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])"),
    re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}"),
)
_BEARER = re.compile(r"(?i)\b(bearer|authorization:\s*(?:token|basic))(\s+)"
                     r"([A-Za-z0-9._~+/=-]{8,})")
SECRET_NAMES = ("TOKEN", "SECRET", "KEY", "PASSWORD", "CREDENTIAL", "PASS")
MIN_SECRET = 8  # shorter environment values are too likely to be ordinary words


def iban_valid(text: str) -> bool:
    """An IBAN by its country's registered length and structure, and its check digits.
    The checksum alone passes one random string in 97: "cf348e6eecdb landed" was one."""
    from stdnum import iban

    compact = text.replace(" ", "").upper()
    if not (15 <= len(compact) <= 34 and compact[:2].isalpha() and compact[2:4].isdigit()):
        return False
    return bool(iban.is_valid(compact))


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _redact_iban(match: re.Match[str]) -> str:
    text = match.group(0)
    # The pattern is greedy and may swallow the next word; try shorter ends too.
    for end in range(len(text), 14, -1):
        if text[end - 1] != " " and iban_valid(text[:end]):
            return "[redacted:iban]" + text[end:]
    return text


def _redact_card(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = re.sub(r"[ -]", "", text)
    return "[redacted:card]" if 13 <= len(digits) <= 19 and luhn_valid(digits) else text


_BARE_PHONE_MIN = 9  # a number written with no separator: trunk 0 and area code at least


def _redact_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(ch.isdigit() for ch in text)
    # Seven bare digits are as likely a short commit id ("0695066") as a phone number, and
    # no national number with its area code is that short.
    low = _BARE_PHONE_MIN if text.isdigit() else 7
    return "[redacted:phone]" if low <= digits <= 15 else text


_DETECTORS: dict[str, tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = {
    "iban": (_IBAN, _redact_iban),
    "card": (_CARD, _redact_card),
    "email": (_EMAIL, lambda m: "[redacted:email]"),
    "phone": (_PHONE, _redact_phone),
}
ALL_DETECTORS = ("email", "phone", "iban", "card")


class Redactor(NamedTuple):
    literals: re.Pattern[str] | None
    labels: dict[str, str]  # lower-cased literal -> field name
    detectors: tuple[str, ...]

    def text(self, value: str) -> str:
        if self.literals is not None:
            value = self.literals.sub(self._literal, value)
        return self.detect(value)

    def detect(self, value: str) -> str:
        """Only the detectors (for identifiers, which are not personal field values)."""
        value = redact_credentials(value)
        for name in ("iban", "card", "email", "phone"):
            if name in self.detectors:
                pattern, replace = _DETECTORS[name]
                value = pattern.sub(replace, value)
        return value

    def _literal(self, match: re.Match[str]) -> str:
        return f"[redacted:{self.labels.get(match.group(0).lower(), 'personal')}]"

    def deep(self, value: Any) -> Any:
        """Redact every string (keys too) inside JSON-like data."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.deep(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.deep(v) for v in value]
        return value


def _leaves(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(value=v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def _field_value(data: dict[str, Any], dotted: str) -> Any:
    current: Any = data
    for part in dotted.split("."):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def personal_values(cases: Iterable[Case], fields: Iterable[str]) -> dict[str, str]:
    """Lower-cased personal values found in the dataset -> the field they came from."""
    out: dict[str, str] = {}
    wanted = list(fields)
    for case in cases:
        for name in wanted:
            for text in _leaves(_field_value(case.input, name)):
                if text.strip():
                    out.setdefault(text.strip().lower(), name.rsplit(".", 1)[-1])
    return out


def _literal_pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    parts = []
    for value in sorted(values, key=len, reverse=True):
        escaped = re.escape(value)
        parts.append(rf"(?<!\w){escaped}(?!\w)" if len(value) <= _SHORT_LITERAL else escaped)
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def build_redactor(cases: Iterable[Case], fields: Iterable[str],
                   detectors: Iterable[str] = ALL_DETECTORS,
                   secrets: Iterable[str] = (), public: Iterable[str] = ()) -> Redactor:
    """PUBLIC: texts the team wrote in the open (pipeline.redact.public_texts); a dataset
    value found whole in one of them is not personal, and masking it would garble titles."""
    texts = [t.lower() for t in public if t]
    labels = {value: field for value, field in personal_values(cases, fields).items()
              if not any(re.search(rf"(?<!\w){re.escape(value)}(?!\w)", t) for t in texts)}
    for secret in secrets:
        if secret:
            labels[secret.lower()] = "secret"
    return Redactor(_literal_pattern(labels), labels, tuple(detectors))


def priority_redactor(priority: Priority, cases: Iterable[Case],
                      secrets: Iterable[str] = ()) -> Redactor:
    """The redactor of a priority: its dataset's personal fields and its detectors."""
    redaction = priority.spec.input_data.redaction
    fields = redaction.fields if redaction else []
    detect = redaction.detect if redaction else list(ALL_DETECTORS)
    return build_redactor(cases, fields, detect, secrets, public_texts(priority))


def public_texts(priority: Priority) -> tuple[str, ...]:
    """What the team wrote about a priority in its committed spec: its name (as words),
    description and goal. A message "refund" in the dataset of `refund-requests` is then
    not masked in the update's title "Refund requests"."""
    meta = priority.metadata
    return (meta.name.replace("-", " "), meta.description or "", priority.spec.goal)


def detectors_only(secrets: Iterable[str] = ()) -> Redactor:
    """For messages written before the dataset could be read (and everything the CLI
    prints): the detectors, plus the values of `secrets`."""
    labels = {s.lower(): "secret" for s in secrets if len(s) >= MIN_SECRET}
    return Redactor(_literal_pattern(labels), labels, ALL_DETECTORS)


def redact_credentials(text: str) -> str:
    for pattern in _TOKENS:
        text = pattern.sub("[redacted:secret]", text)
    return _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted:secret]", text)


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """The values of environment variables named like secrets (GITHUB_TOKEN, API keys,
    passwords), long enough not to be ordinary words."""
    return [value for name, value in environ.items()
            if len(value) >= MIN_SECRET and any(part in name.upper() for part in SECRET_NAMES)]


# Environment variables that hold no secret and whose values are ordinary text.
_PLAIN_ENV = frozenset({"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
                        "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "TERM", "HOSTNAME",
                        "VIRTUAL_ENV", "SHLVL", "COLUMNS", "LINES", "_"})


def handed_values(environ: Mapping[str, str]) -> list[str]:
    """The values of the environment a workflow or provider is handed: each may be a
    secret (8 characters or more), but for the variables that never hold one."""
    return [value for name, value in environ.items() if len(value) >= MIN_SECRET
            and name not in _PLAIN_ENV and not name.startswith(("LC_", "PYTHON", "XDG_",
                                                                  "GIT_", "PYTEST"))]


def process_redactor() -> Redactor:
    """What every output of this process goes through: detectors and the secrets it
    holds in its environment."""
    import os

    return detectors_only(secret_values(os.environ))
