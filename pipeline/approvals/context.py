"""The facts approvals are judged against: roles read from the BASE branch (so a change
cannot grant a role and use it), and the evidence id of a priority at a reviewed commit."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import replace

from pipeline import git
from pipeline.approvals.base import Approval
from pipeline.documents.evidence import Fingerprint, fingerprint
from pipeline.documents.layout import people_paths, priority_dir
from pipeline.documents.load import document_from, load_priority
from pipeline.documents.yamlio import parse_yaml
from pipeline.errors import InputError
from pipeline.model.customer import Customer, Person
from pipeline.model.priority import Priority
from pipeline.model.status import StatusBody


def customer_file(customer: str) -> str:
    return f"customers/{customer}/customer.yaml"


def _at_base(root: str, base: str, rel: str, kind: str) -> object | None:
    """The document at REL as it is at commit BASE; None when it does not exist there.
    An invalid file on the base branch is an InputError naming file, line and field."""
    text = git.show_file(root, base, rel)
    if text is None:
        return None
    doc, findings = document_from(parse_yaml(text, rel), frozenset({kind}))
    if doc is None:
        first = findings[0]
        raise InputError(f"{first.message} (on the base branch {base[:12]})", path=rel,
                         line=first.line, col=first.col)
    model: object = doc.model
    return model


def base_customer(root: str, base: str, customer: str) -> Customer | None:
    """customer.yaml as it is at commit BASE (roles are never read from the PR)."""
    model = _at_base(root, base, customer_file(customer), "Customer")
    return model if isinstance(model, Customer) else None


def base_priority(root: str, base: str, key: str) -> Priority | None:
    """priority.yaml at BASE: a pull request cannot drop the approvals it is judged by."""
    model = _at_base(root, base, f"{priority_dir(key)}/priority.yaml", "Priority")
    return model if isinstance(model, Priority) else None


def base_status(root: str, base: str, key: str) -> StatusBody | None:
    """status.yaml at BASE: a pull request cannot change where its priority stands."""
    rel = f"{priority_dir(key)}/status.yaml"
    text = git.show_file(root, base, rel)
    if text is None:
        return None
    doc, _ = document_from(parse_yaml(text, rel), frozenset({"Status"}))
    return None if doc is None else doc.model.status  # unreadable status: start over


def people_of(customer: Customer | None) -> list[Person]:
    return [] if customer is None else list(customer.spec.people)


def roles_of(people: Iterable[Person]) -> dict[str, frozenset[str]]:
    return {p.id: frozenset(p.roles) for p in people}


def person_by_login(people: Iterable[Person], login: str) -> Person | None:
    return next((p for p in people if p.github and p.github.lower() == login.lower()), None)


def person_by_email(people: Iterable[Person], email: str) -> Person | None:
    """Match a git author email, including GitHub's 'id+login@users.noreply.github.com'."""
    email = email.lower()
    for person in people:
        if person.email.lower() == email:
            return person
        noreply = email.endswith("@users.noreply.github.com")
        login = email.split("@")[0].split("+")[-1]
        if noreply and person.github and person.github.lower() == login:
            return person
    return None



def current_fingerprint(root: str, key: str) -> tuple[Priority, Fingerprint]:
    priority = load_priority(root, key)
    return priority, fingerprint(root, key, priority)


def unchanged_since(root: str, key: str, sha: str) -> bool:
    """True when the priority folder in the work tree is what it was at commit SHA (so the
    evidence id computed now is the one a review of SHA looked at). What the bot wrote
    since, the status and a trusted run's evidence, is not part of what was reviewed."""
    return git.same_content(root, sha, people_paths(key))


def change_authors(root: str, rev: str, key: str, priority: Priority,
                   people: list[Person]) -> frozenset[str]:
    """Person ids of who last changed the workflow code or the dataset of a priority."""
    folder = priority_dir(key)
    # In a git pathspec `*` also matches '/', so this covers nested modules too.
    paths = [f"{folder}/*.py", posixpath.normpath(f"{folder}/{priority.spec.dry_run.dataset}")]
    if priority.spec.workflow.replay:
        paths.append(posixpath.normpath(f"{folder}/{priority.spec.workflow.replay}"))
    last = git.last_change(root, rev, paths)
    if last is None:
        return frozenset()
    person = person_by_email(people, last[2])
    return frozenset({person.id}) if person else frozenset()


def authors_of_change(root: str, start: str, head: str,
                      people: Iterable[Person]) -> dict[str, str]:
    """Person id -> a commit of START..HEAD they wrote (matched by author e-mail). Only
    commits that change files count: approval commits change none, and a message's trailers
    never hide who wrote a change."""
    found: dict[str, str] = {}
    people = list(people)
    for commit in git.authored_commits(root, start, head):
        person = person_by_email(people, commit.email)
        if person is not None:
            found.setdefault(person.id, commit.sha)
    return found


def not_by_an_author(approval: Approval, wrote: Mapping[str, str]) -> Approval:
    """The approval, set aside when its person wrote a commit of the change."""
    sha = wrote.get(approval.person)
    if sha is None or not approval.valid:
        return approval
    return replace(approval, valid=False, reason=f"{approval.person} wrote commit {sha[:12]} "
                   "of this change and cannot approve it")
