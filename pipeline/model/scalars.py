"""Plain YAML scalars and their typing: the parser (pipeline.documents.yamlio) keeps every
unquoted scalar as its text, and the model decides its type, by the YAML 1.2 core schema
where a field takes free-form data. So YAML 1.1 surprises (`no` -> False, `010` -> 8) never
happen behind a string field."""

from __future__ import annotations

import math
import re
from typing import Any

_INT_RE = re.compile(r"[-+]?[0-9]+\Z")
_OCT_RE = re.compile(r"0o[0-7]+\Z")
_HEX_RE = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT_RE = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_INF_RE = re.compile(r"[-+]?\.(inf|Inf|INF)\Z")
_NAN_RE = re.compile(r"\.(nan|NaN|NAN)\Z")


class PlainScalar(str):
    """An unquoted scalar. Its text is kept; `typed()` applies YAML 1.2 core rules."""

    __slots__ = ()


def typed(value: Any) -> Any:
    """Convert plain scalars, recursively, by YAML 1.2 core schema (for free-form data)."""
    if isinstance(value, PlainScalar):
        return core_scalar(str(value))
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return value


def core_scalar(text: str) -> Any:
    if text.isdigit() and text.isascii():  # most numbers in a document: read at once
        return int(text)
    first = text[:1]
    if first.isalpha() and first not in "tTfF":  # a word: no rule below can match
        return text
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT_RE.match(text):
        return int(text, 10)
    if _OCT_RE.match(text):
        return int(text[2:], 8)
    if _HEX_RE.match(text):
        return int(text[2:], 16)
    if _FLOAT_RE.match(text):
        return float(text)
    if _INF_RE.match(text) or _NAN_RE.match(text):
        return float(text.replace(".inf", "inf").replace(".Inf", "inf").replace(".INF", "inf")
                     .replace(".nan", "nan").replace(".NaN", "nan").replace(".NAN", "nan"))
    return text


_TRUE, _FALSE = ("true", "True", "TRUE"), ("false", "False", "FALSE")


def yaml_bool(value: Any) -> Any:
    """Only YAML's own true and false are booleans: `no`, `off`, `n`, `'false'` or `0` are
    not silently turned into False."""
    if isinstance(value, bool):
        return value
    if isinstance(value, PlainScalar) and value in _TRUE + _FALSE:
        return value in _TRUE
    raise ValueError(f"must be true or false, not {_shown(value)}")


def yaml_number(value: Any) -> Any:
    """A number written as a number: `5`, `0.25`, not the text `'5'` or `5%`."""
    if isinstance(value, PlainScalar):  # what the parser gives: checked first
        number = core_scalar(value)
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError(f"must be a finite number, not {_shown(value)}")
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            return number
        raise ValueError(f"must be a number, not {_shown(value)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        raise ValueError(f"must be a number, not the text '{value}' (remove the quotes)")
    raise ValueError(f"must be a number, not {_shown(value)}")


def _shown(value: Any) -> str:
    if isinstance(value, PlainScalar):
        return f"'{value}'" + (" (YAML 1.1 spelling; write true or false)"
                               if value.lower() in ("yes", "no", "on", "off", "y", "n")
                               else "")
    if isinstance(value, str):
        return f"the text '{value}' (remove the quotes)"
    return f"{type(value).__name__} {value!r}"
