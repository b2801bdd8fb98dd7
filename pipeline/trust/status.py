"""Whether status.yaml was written by the bot (DESIGN.md, "Trust"): the trust check of
every bot-written file (pipeline.trust.written) applied to status, and what the bot last
wrote read back as a status."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from pipeline.trust.written import STATUS_RULE, Untrusted, untrusted_files

if TYPE_CHECKING:  # pydantic and the models: only once a document is parsed
    from pipeline.model.status import StatusBody

RULE = STATUS_RULE

__all__ = ["RULE", "Untrusted", "trusted_body", "untrusted_statuses"]


def untrusted_statuses(root: str, paths: Sequence[str], *, contents: bool = False,
                       cache: str | None = None,
                       present: Collection[str] | None = None) -> dict[str, Untrusted]:
    """The untrusted ones among the status PATHS (relative to ROOT; present or not).
    With CONTENTS, each carries what the newest trusted bot commit wrote. CACHE: a folder
    that keeps the commits found good (a signature never changes), so a second run checks
    only new ones; a fresh clone has none and checks every distinct commit it finds."""
    return untrusted_files(root, paths, contents=contents, cache=cache, present=present)


def trusted_body(root: str, path: str, raw: bytes | None) -> StatusBody | None:
    """The status the bot last wrote (Untrusted.last_trusted), as the model reads it."""
    from pipeline.documents.load import load_document

    if raw is None:
        return None
    doc, _ = load_document(root, path, raw=raw)
    return doc.model.status if doc is not None and doc.kind == "Status" else None
