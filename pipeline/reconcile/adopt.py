"""`ailoop adopt`: the bot vouches, in one signed commit, for the status files an ailoop
from before the bot key wrote (pipeline.trust.adopt says which). Each is rewritten by the
one status writer (so an old format migrates) with the time of adoption."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline import git
from pipeline.documents.layout import priority_keys
from pipeline.documents.load import load_status
from pipeline.reconcile.apply import (
    Attempt,
    ReconcileOptions,
    ReconcileResult,
    commit_state_change,
    status_path,
    status_text,
)
from pipeline.reconcile.plan import Plan
from pipeline.trust.adopt import Candidate, candidates


@dataclass
class Adoption:
    adopted: list[str] = field(default_factory=list)
    refused: list[Candidate] = field(default_factory=list)
    result: ReconcileResult | None = None


def adopt(opts: ReconcileOptions) -> Adoption:
    """Adopt what may be adopted (nothing at all when any file is refused: the person
    running it fixes those first, so one commit vouches for the whole repository)."""
    root = opts.root
    keys = {status_path(k): k for k in priority_keys(root)}
    found = candidates(root, list(keys))
    out = Adoption(refused=[c for c in found if c.refused])
    if out.refused or not found:
        return out

    def attempt(head: str) -> Attempt:
        writes = {}
        for c in found:
            key = keys[c.path]
            body = load_status(root, key)
            if body is not None:
                writes[c.path] = status_text(key, body.model_copy(update={"adopted": opts.now}))
        out.adopted = sorted(writes)
        return Attempt(ReconcileResult(Plan(())), writes, _message(keys, out.adopted))

    out.result = commit_state_change(opts, attempt)
    return out


def _message(keys: dict[str, str], paths: list[str]) -> str:
    n = len(paths)
    subject = f"ailoop: adopt {n} status file{'s' if n != 1 else ''} written before the bot key"
    body = [f"- {p}" for p in paths[:200]] + ([f"- ... and {n - 200} more"] if n > 200 else [])
    trailers = [f"{git.TRAILER_ACTION}: adopt",
                *(f"Ailoop-Priority: {keys[p]}" for p in paths)]
    return "\n".join([subject, "", *body, "", *trailers]) + "\n"
