"""Field paths as written in rules and messages: 'spec.rollout.stages[1].approvals'."""

from __future__ import annotations

import re

from pipeline.errors import InputError

Loc = tuple[str | int, ...]
_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]")


def parse_field_path(text: str) -> Loc:
    """'spec.rollout.stages[1].approvals' -> ('spec', 'rollout', 'stages', 1, 'approvals')."""
    out: list[str | int] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        if out and text[pos] == ".":
            pos += 1
        match = _PART.match(text, pos)
        if match is None:
            raise InputError(f"'{text}' is not a field path (write it like spec.rollout.target "
                             "or spec.rollout.stages[1].approvals)")
        out.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        pos = match.end()
    return tuple(out)
