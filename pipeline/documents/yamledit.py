"""Add keys to a YAML file a person wrote, keeping everything else as it is (comments,
order, quoting, blank lines). The YAML writer (dump_yaml) would rewrite the whole file, so
this inserts lines instead, next to a key the parser located, and then proves the edit:
the result must parse to the old data plus exactly the new keys. When the layout does not
allow a line to be added (flow style, a value over several lines), nothing is edited."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pipeline.documents.yamlio import Loaded, parse_yaml
from pipeline.errors import InputError
from pipeline.model.scalars import PlainScalar

_BLOCK_KEY_PREFIX = re.compile(r"[ ]*(?:-[ ]+)*")  # indentation, and list dashes
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9][-A-Za-z0-9._]*")


@dataclass(frozen=True)
class NewKey:
    after: tuple[str | int, ...]  # path of an existing key in a block mapping
    key: str
    value: str  # a plain scalar, written as is


def add_keys(text: str, path: str, additions: list[NewKey]) -> str | None:
    """TEXT with each new key on its own line after its `after` key (same indentation);
    None when that cannot be done safely."""
    if any(not _PLAIN_VALUE.fullmatch(a.value) or not _PLAIN_VALUE.fullmatch(a.key)
           for a in additions):
        return None
    lines = text.splitlines(keepends=True)
    inserts: dict[int, str] = {}
    loaded = parse_yaml(text, path)
    for addition in additions:
        spot = _insertion(loaded, lines, addition)
        if spot is None:
            return None
        inserts[spot[0]] = inserts.get(spot[0], "") + spot[1]
    edited = "".join(line + inserts.get(i, "") for i, line in enumerate(lines))
    return edited if _proves(text, edited, path, additions) else None


def _insertion(loaded: Loaded, lines: list[str], addition: NewKey) -> tuple[int, str] | None:
    """(index of the line to insert after, the line to insert)."""
    if not _exists(loaded.data, addition.after):
        return None
    key_line, key_col = loaded.locate(addition.after, at_key=True)[0]
    if loaded.position(addition.after)[0] != key_line:  # the value starts on another line
        return None
    line = lines[key_line - 1]
    if not _BLOCK_KEY_PREFIX.fullmatch(line[:key_col - 1]):
        return None
    newline = "\r\n" if line.endswith("\r\n") else "\n"
    lead = "" if line.endswith("\n") else newline
    return key_line - 1, f"{lead}{' ' * (key_col - 1)}{addition.key}: {addition.value}{newline}"


def _exists(data: Any, path: tuple[str | int, ...]) -> bool:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return False
    return True


def _proves(old: str, new: str, path: str, additions: list[NewKey]) -> bool:
    """NEW parses to OLD's data plus the new keys, and nothing else."""
    expected = parse_yaml(old, path).data
    for addition in additions:
        parent = expected
        for part in addition.after[:-1]:
            parent = parent[part]
        if not isinstance(parent, dict) or addition.key in parent:
            return False
        parent[addition.key] = PlainScalar(addition.value)
    try:
        return bool(parse_yaml(new, path).data == expected)
    except InputError:
        return False
