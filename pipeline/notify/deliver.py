"""Send what the bot's recent commits announce, once each (at least once), and record it.

The ledger is the git notes ref refs/notes/ailoop-notify, pushed beside the branch: a note
on each bot commit lists the deliveries made for it. A run reads the commits of the last
days (signed by the bot: the message of anyone else's commit is never sent), sends every
delivery the notes lack, then adds them and pushes the notes. A crash between a send and the
push sends that notice again next time, with the same id (receivers drop duplicates); a run
with nothing new sends nothing and commits nothing.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipeline import git
from pipeline.documents.layout import CUSTOMERS, priority_dir
from pipeline.documents.load import load_document
from pipeline.errors import GitError
from pipeline.model.customer import Notification
from pipeline.model.project import NotificationSettings, ProjectSpec
from pipeline.notify.channels import (
    DeliveryError,
    post,
    send_email,
    slack_payload,
    teams_payload,
    webhook_payload,
    write_outbox,
)
from pipeline.notify.notices import Notice, People, commit_notices, moves
from pipeline.redact import process_redactor
from pipeline.trust.botkey import allowed_signers

NOTES = "refs/notes/ailoop-notify"
WINDOW = timedelta(days=7)
MAX_COMMITS = 200


@dataclass
class Delivery:
    id: str  # notice id and route: the notice's idempotency key per destination
    notice: Notice
    route: str  # channel | people


@dataclass
class Report:
    sent: list[Delivery] = field(default_factory=list)
    outbox: list[Delivery] = field(default_factory=list)
    failed: list[tuple[Delivery, str]] = field(default_factory=list)
    recorded: bool = True  # the ledger was pushed (or nothing to push)


def deliver(root: str, project: ProjectSpec, now: datetime, *, remote: str = "origin",
            push: bool = True, env: Mapping[str, str] | None = None) -> Report:
    """Send what is pending; nothing at all when the project configures no notifications."""
    env = os.environ if env is None else env
    if project.notifications is None:
        return Report()
    if push:
        git.fetch_ref(root, remote, NOTES)
    report = Report()
    done: dict[str, set[str]] = {}
    for sha, message, note in _bot_commits(root, project, now):
        already = _ledger(note)
        for delivery in deliveries(root, sha, message):
            if delivery.id in already:
                continue
            try:
                where = _send(root, project, delivery, env)
            except DeliveryError as e:
                report.failed.append((delivery, str(e)))
                continue
            (report.outbox if where == "outbox" else report.sent).append(delivery)
            done.setdefault(sha, set(already)).add(delivery.id)
    if done:
        report.recorded = _record(root, project, done, remote, push)
    return report


def deliveries(root: str, sha: str, message: str) -> list[Delivery]:
    """The deliveries one bot commit asks for, its texts redacted."""
    redact = process_redactor()
    paths = git.changed_in(root, sha)
    updates = {p: (git.read_file_at(root, sha, p) or b"").decode("utf-8", "replace")
               for p in paths if _is_update(p)}
    customers = sorted({k.split("/")[0] for k in _keys(message)} |
                       {p.split("/")[1] for p in updates})
    people = {c: _people(root, sha, c) for c in customers}
    out = []
    for notice in commit_notices(sha, message, people, updates):
        clean = Notice(notice.id, notice.event, notice.priority, redact.text(notice.subject),
                       redact.text(notice.text), notice.to_channel, notice.to, notice.commit,
                       notice.language)
        if clean.to_channel:
            out.append(Delivery(f"{clean.id}:channel", clean, "channel"))
        if clean.to:
            out.append(Delivery(f"{clean.id}:people", clean, "people"))
    return out


def send_one(root: str, project: ProjectSpec, delivery: Delivery,
             env: Mapping[str, str] | None = None) -> str:
    """Deliver one now (`ailoop notify test`); returns where it went."""
    return _send(root, project, delivery, os.environ if env is None else env)


def _send(root: str, project: ProjectSpec, delivery: Delivery, env: Mapping[str, str]) -> str:
    """Deliver one; returns where it went (channel kind, email, or outbox)."""
    notice = delivery.notice
    settings = project.notifications or NotificationSettings()
    smtp = settings.smtp
    outbox = os.path.join(root, settings.outbox)
    if delivery.route == "people":
        if smtp is None:
            write_outbox(outbox, delivery.id, notice, "people")
            return "outbox"
        send_email(smtp, notice, notice.to, env)
        return "email"
    channel = _channel(root, notice.customer)
    if channel is None or channel.channel == "none":
        write_outbox(outbox, delivery.id, notice, "channel")
        return "outbox"
    if channel.channel == "email":
        if smtp is None or not channel.target:
            write_outbox(outbox, delivery.id, notice, "channel")
            return "outbox"
        send_email(smtp, notice, (channel.target,), env)
        return "email"
    url = env.get(channel.url_env or "", "")
    if not url:
        raise DeliveryError(f"{notice.customer}: notification.urlEnv "
                            f"({channel.url_env or 'not set'}) names no URL in the environment")
    if channel.channel == "slack":
        post(url, slack_payload(notice), notice)
    elif channel.channel == "teams":
        post(url, teams_payload(notice), notice)
    else:
        secret = env.get(channel.secret_env or "", "") or None
        if channel.secret_env and secret is None:
            raise DeliveryError(f"{notice.customer}: notification.secretEnv "
                                f"({channel.secret_env}) is not set")
        post(url, webhook_payload(notice), notice, secret)
    return channel.channel


def _channel(root: str, customer: str) -> Notification | None:
    doc, _ = load_document(root, f"{CUSTOMERS}/{customer}/customer.yaml")
    if doc is None:
        return None
    channel: Notification = doc.model.spec.notification
    return channel


def _bot_commits(root: str, project: ProjectSpec, now: datetime) -> list[tuple[str, str, str]]:
    since = (now - WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        found = [c for c in git.recent_commits(root, "HEAD", MAX_COMMITS, since, NOTES)
                 if f"\n{git.TRAILER_ACTION}:" in c[1]]
    except GitError:
        return []
    signers = allowed_signers(project.bot)
    if not found or not signers:
        return []
    fd, path = tempfile.mkstemp(prefix="ailoop-allowed-signers-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(signers)
        checks = git.check_commits(root, [c[0] for c in found], path)
    finally:
        os.unlink(path)
    return [c for c in reversed(found) if checks.get(c[0]) and checks[c[0]].verdict == "G"]


def _record(root: str, project: ProjectSpec, done: dict[str, set[str]], remote: str,
            push: bool) -> bool:
    bot = project.bot
    for _ in range(3):
        for sha, ids in done.items():
            merged = ids | _ledger(git.note(root, NOTES, sha))
            git.add_note(root, NOTES, sha, json.dumps({"delivered": sorted(merged)}),
                         bot.name, bot.email)
        if not push or git.push_ref(root, remote, NOTES):
            return True
        git.fetch_ref(root, remote, NOTES)  # another run recorded meanwhile: merge, again
    return False


def _ledger(note: str) -> set[str]:
    try:
        data = json.loads(note) if note else {}
    except ValueError:
        return set()
    ids = data.get("delivered", []) if isinstance(data, dict) else []
    return {i for i in ids if isinstance(i, str)}


def _keys(message: str) -> list[str]:
    return [key for key, _ in moves(message)]


def _is_update(path: str) -> bool:
    parts = path.split("/")
    return len(parts) == 4 and parts[0] == CUSTOMERS and parts[2] == "updates" \
        and path.endswith(".md")


def _people(root: str, sha: str, customer: str) -> People:
    raw = git.read_file_at(root, sha, f"{CUSTOMERS}/{customer}/customer.yaml")
    doc = load_document(root, f"{CUSTOMERS}/{customer}/customer.yaml", raw=raw)[0] \
        if raw is not None else None
    if doc is None:
        return People({}, {})
    emails = {p.id: p.email for p in doc.model.spec.people if p.email}
    roles: dict[str, list[str]] = {}
    for person in doc.model.spec.people:
        for role in person.roles:
            roles.setdefault(role, []).append(person.id)
    return People(emails, {r: tuple(ids) for r, ids in roles.items()},
                  _owners(root, sha, customer), doc.model.spec.language)


def _owners(root: str, sha: str, customer: str) -> dict[str, str]:
    owners = {}
    for path in git.list_dir(root, sha, f"{CUSTOMERS}/{customer}"):
        name = path.rstrip("/").split("/")[-1]
        rel = f"{priority_dir(customer + '/' + name)}/priority.yaml"
        raw = git.read_file_at(root, sha, rel)
        if raw is None:
            continue
        doc, _ = load_document(root, rel, raw=raw)
        if doc is not None and doc.kind == "Priority":
            owners[name] = doc.model.spec.owner
    return owners


__all__ = ["NOTES", "Delivery", "Report", "deliver", "deliveries", "send_one"]
