"""Shared building blocks for every kind: the base model, durations, names, metadata."""

import functools
import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from pipeline.model.scalars import typed, yaml_bool, yaml_number

API_VERSION = "ailoop.dev/v1"
# Booleans and numbers as YAML 1.2 writes them, nothing looser (see model/scalars.py).
Bool = Annotated[bool, BeforeValidator(yaml_bool)]
Int = Annotated[int, BeforeValidator(yaml_number)]
Float = Annotated[float, BeforeValidator(yaml_number)]


class Model(BaseModel):
    """Strict about unknown fields, camelCase in YAML, snake_case in Python."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        use_enum_values=True,
        # Build validators on first use, not at import: most runs parse few kinds or none.
        defer_build=True,
    )


_DURATION_RE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?\Z")
DURATION_PATTERN = r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"


def parse_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    return _duration(str(value).strip())


@functools.lru_cache(maxsize=1024)
def _duration(text: str) -> timedelta:
    # A repository repeats a few durations (24h, 30m) in every priority: a timedelta is
    # immutable, so each is parsed once per process (a cold run reads thousands).
    match = _DURATION_RE.match(text)
    if not text or match is None:
        raise ValueError(f"'{text}' is not a duration; write it like 30m, 24h, 7d or 1d12h")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def format_duration(value: timedelta) -> str:
    total = int(value.total_seconds())
    if total == 0:
        return "0s"
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, total = divmod(total, size)
        if n:
            out += f"{n}{unit}"
    return out


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN,
                    "description": "A duration such as 30m, 24h, 7d or 1d12h."}),
]

Name = Annotated[
    str,
    Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63,
          description="Lower-case letters, digits and dashes; starts and ends alphanumeric."),
]

# Free-form data (JSON Schemas, expected values): plain scalars become YAML 1.2 types.
JsonValue = Annotated[Any, BeforeValidator(typed)]
JsonObject = Annotated[dict[str, Any], BeforeValidator(typed)]

Role = Literal[
    "customer-owner",
    "customer-reviewer",
    "ai-lead",
    "risk-officer",
    "policy-owner",
    "engineer",
    "operations",
]
ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]

Comparison = Literal[">=", ">", "<=", "<", "=="]


def compare(value: float, comparison: str, threshold: float) -> bool:
    """Apply a Comparison; NaN never satisfies anything."""
    if value != value:  # NaN
        return False
    return {
        ">=": value >= threshold,
        ">": value > threshold,
        "<=": value <= threshold,
        "<": value < threshold,
        "==": value == threshold,
    }[comparison]


class Metadata(Model):
    name: Name
    labels: dict[str, str] = Field(default_factory=dict)
    description: str = ""
