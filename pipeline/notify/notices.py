"""What to tell whom about one bot commit: pure, from the commit's message (its trailers
say which priority moved and how; its body says why), the files it wrote (a customer update)
and the customer and priority documents at that commit (who holds which role)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline.i18n import N_, Audience, audience

# Ailoop-Action -> (the event people hear about, who hears it). customer: the customer's
# channel; owner: the priority's owner; approvers: the people holding the awaited roles.
# The event is the machine-readable name (webhook field `event`); EVENT_WORDS says it in
# the customer's language.
EVENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "promote": ("promoted", ("customer", "owner")),
    "complete": ("rollout completed", ("customer", "owner")),
    "resegment": ("segment changed", ("customer", "owner")),
    "rollback": ("rolled back", ("customer", "owner")),
    "withdraw": ("candidate withdrawn", ("owner",)),
    "replace": ("candidate replaced", ("owner",)),
    "blocked": ("blocked", ("owner",)),
    "hold": ("held", ("owner",)),
    "dry-run-needed": ("dry run needed", ("owner",)),
    "await-approval": ("approval requested", ("approvers",)),
    "review": ("review recorded", ("owner",)),
    "review-due": ("review due", ("owner",)),
}
UPDATE_PUBLISHED = "update published"
EVENT_WORDS = {
    "promoted": N_("{priority}: moved to the next release step"),
    "rollout completed": N_("{priority}: release completed"),
    "segment changed": N_("{priority}: the group of live work the new version handles has "
                          "changed"),
    "rolled back": N_("{priority}: pulled back to a safer step"),
    "candidate withdrawn": N_("{priority}: trial version withdrawn"),
    "candidate replaced": N_("{priority}: trial version replaced"),
    "blocked": N_("{priority}: blocked, a decision is needed"),
    "held": N_("{priority}: paused at its current step"),
    "dry run needed": N_("{priority}: a new test run is needed"),
    "approval requested": N_("{priority}: your approval is requested"),
    "review recorded": N_("{priority}: operations review recorded"),
    "review due": N_("{priority}: operations review due"),
    UPDATE_PUBLISHED: N_("{customer}: {title}"),
}
_TRAILER = re.compile(r"^(Ailoop-[A-Za-z]+): (.+)$", re.MULTILINE)


@dataclass(frozen=True)
class People:
    """Who is who at one customer, at the commit: e-mail by person id, ids by role."""

    emails: Mapping[str, str]
    roles: Mapping[str, tuple[str, ...]]
    owners: Mapping[str, str] = field(default_factory=dict)  # priority name -> owner id
    language: str = "en"  # the customer's language (`language` in customer.yaml)


@dataclass(frozen=True)
class Notice:
    id: str  # the idempotency key: the same event always has the same id
    event: str
    priority: str  # customer/priority, or the customer alone for a published update
    subject: str
    text: str
    to_channel: bool  # the customer's channel hears it
    to: tuple[str, ...] = ()  # people's e-mail addresses
    commit: str = ""
    language: str = "en"  # what subject and text are written in

    @property
    def customer(self) -> str:
        return self.priority.split("/")[0]


def notice_id(commit: str, priority: str, event: str) -> str:
    return hashlib.sha256(f"{commit}\0{priority}\0{event}".encode()).hexdigest()[:24]


def moves(message: str) -> list[tuple[str, str]]:
    """(priority, action) for each priority the commit moved, from its trailers."""
    out: list[tuple[str, str]] = []
    key = ""
    for name, value in _TRAILER.findall(message):
        if name == "Ailoop-Priority":
            key = value.strip()
        elif name == "Ailoop-Action" and key:
            out.append((key, value.strip()))
            key = ""
    return out


def reasons(message: str) -> dict[str, str]:
    """priority -> why, from the body ("- customer/priority: reason" lines, or the one
    paragraph of a review commit)."""
    found = {m.group(1): m.group(2) for m in re.finditer(
        r"^- ([a-z0-9-]+/[a-z0-9-]+): (.+)$", message, re.MULTILINE)}
    if not found:
        paragraphs = [p for p in message.split("\n\n")[1:] if not _TRAILER.search(p)]
        if paragraphs:
            found[""] = " ".join(paragraphs[0].split())
    return found


def commit_notices(commit: str, message: str, people: Mapping[str, People],
                   updates: Mapping[str, str]) -> list[Notice]:
    """The notices of one bot commit. PEOPLE: per customer; UPDATES: customer update
    files the commit wrote (path -> text), each published to its customer's channel."""
    why = reasons(message)
    out = []
    for key, action in moves(message):
        if action not in EVENTS:
            continue
        event, heard_by = EVENTS[action]
        customer, name = key.split("/", 1)
        who = people.get(customer, People({}, {}))
        a = _audience(who)
        reason = why.get(key) or why.get("", "")  # the reconciler's words, quoted as written
        to = _recipients(heard_by, name, reason, who)
        subject = a._(EVENT_WORDS[event]).format(priority=key)
        out.append(Notice(notice_id(commit, key, event), event, key, subject,
                          f"{subject}\n\n{reason}".strip(), "customer" in heard_by, to, commit,
                          a.language))
    for path, text in sorted(updates.items()):
        customer = path.split("/")[1]
        a = _audience(people.get(customer, People({}, {})))
        title = text.strip().split("\n", 1)[0].lstrip("# ").strip() or a._("Update")
        out.append(Notice(notice_id(commit, path, UPDATE_PUBLISHED), UPDATE_PUBLISHED,
                          customer, a._(EVENT_WORDS[UPDATE_PUBLISHED]).format(
                              customer=customer, title=title),
                          text, True, (), commit, a.language))
    return out


def _audience(who: People) -> Audience:
    return audience(who.language, "UTC")  # notices name no times


def _recipients(audience: tuple[str, ...], priority: str, reason: str,
                who: People) -> tuple[str, ...]:
    ids: list[str] = []
    if "owner" in audience and priority in who.owners:
        ids.append(who.owners[priority])
    if "approvers" in audience:
        for role, holders in sorted(who.roles.items()):
            if re.search(rf"(?<![\w-]){re.escape(role)}(?![\w-])", reason):
                ids.extend(holders)
    return tuple(dict.fromkeys(who.emails[i] for i in ids if who.emails.get(i)))
