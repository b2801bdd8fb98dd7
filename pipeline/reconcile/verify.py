"""`ailoop verify C/P`: the chain behind what a priority serves and tries, link by link,
stopping at the first broken one (DESIGN.md, "Trust").

1. status     status.yaml is what a signed bot commit wrote (hand edits since reverted are
              counted, not broken: reverting is how such a hold is released);
2. for the candidate, then the serving version:
   evidence   its evidence file is there, fits the model, is about this version, passed;
   trusted    the evidence and its in-toto statement are what a signed bot commit wrote;
   statement  the statement agrees with the evidence (result, cases, digests);
   files      the files of the commit that recorded them hash to the statement's digests,
              and the status's workflow digest is the evidence's;
3. approvals  each approval the status says the candidate used is bound to its evidence and
              still held by the approval source; approval files (approvals.source file)
              prove nothing, so a promotion that relied on one is unverified;
   human review  every stage the candidate entered that asks for `humanReview` has its
              labels, written by the stage's role, bound to its evidence, agreeing enough;
4. governance every governance change on the branch had its approvals;
5. flag       the customer's flagd file serves what the status says.

The reconciler checks the same links before a promotion: status trust and governance hold
every move (state.with_trust, apply.governance_of), the evidence links hold a promotion
(trust.evidence_chain.chain_problem), the planner matches the approvals, and the flag is
written from the status.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline import git
from pipeline.approvals.base import ApprovalSource
from pipeline.approvals.governance_check import GovernanceCheck
from pipeline.cache import cache_dir
from pipeline.documents.evidence import evidence_dir, load_evidence
from pipeline.documents.layout import CUSTOMERS, STATUS_FILE, priority_dir
from pipeline.documents.load import load_status
from pipeline.errors import InputError
from pipeline.model.status import Candidate, StatusBody, Transition, Version
from pipeline.reconcile import flags
from pipeline.trust.evidence_chain import (
    files_problem,
    read_statement,
    recorded_at,
    statement_path,
    statement_problem,
)
from pipeline.trust.written import bot_at_head, bot_signed, untrusted_files

CANDIDATE, SERVING = "candidate", "serving"
FILE_SOURCE = "file:"  # pipeline.approvals.files: an approval file's source


@dataclass(frozen=True)
class Link:
    name: str  # "status", "candidate evidence", ...
    detail: str  # what was checked, or what is broken
    broken: bool = False


@dataclass(frozen=True)
class Chain:
    key: str
    links: tuple[Link, ...]

    @property
    def broken(self) -> Link | None:
        return next((link for link in self.links if link.broken), None)

    def to_json(self) -> dict[str, Any]:
        broken = self.broken
        return {"priority": self.key, "verified": broken is None,
                "broken": broken.name if broken else None,
                "links": [{"name": li.name, "ok": not li.broken, "detail": li.detail}
                          for li in self.links]}


class _Broken(Exception):
    def __init__(self, name: str, detail: str) -> None:
        super().__init__(detail)
        self.link = Link(name, detail, broken=True)


def verify(root: str, key: str, approvals: ApprovalSource,
           governance: GovernanceCheck) -> Chain:
    """Every link of KEY's chain up to the first broken one. GitError or ExternalError
    propagate (git, a signature tool or the approval source failed: nothing is known)."""
    links: list[Link] = []
    try:
        for link in _links(root, key, approvals, governance):
            links.append(link)
    except _Broken as b:
        links.append(b.link)
    return Chain(key, tuple(links))


def _links(root: str, key: str, approvals: ApprovalSource,
           governance: GovernanceCheck) -> Iterator[Link]:
    status, link = _status(root, key)
    yield link
    # A candidate not yet at a stage gets no traffic: nothing of it is tried yet.
    tried = status.candidate if status is not None and status.candidate is not None \
        and status.candidate.stage is not None else None
    if status is not None:
        for name, version in ((CANDIDATE, tried), (SERVING, status.serving)):
            if version is not None:
                yield from _version_links(root, key, name, version)
    if tried is not None:
        yield _approvals(key, tried, approvals)
        review = _human_reviews(root, key, tried, status.history if status else [])
        if review is not None:
            yield review
    if governance.hold:
        raise _Broken("governance", governance.hold)
    yield Link("governance", "every governance change on this branch had its approvals")
    yield _flag(root, key, status)


def _status(root: str, key: str) -> tuple[StatusBody | None, Link]:
    rel = f"{priority_dir(key)}/{STATUS_FILE}"
    verdict = untrusted_files(root, [rel], cache=cache_dir(root)).get(rel)
    if verdict is not None:
        raise _Broken("status", verdict.hold)
    try:
        status = load_status(root, key)
    except InputError as e:
        raise _Broken("status", str(e)) from None
    if status is None:
        return None, Link("status", "no status yet: nothing is served or tried")
    commit = recorded_at(root, rel)
    undone = _not_by_the_bot(root, rel)
    more = f"; {len(undone)} edits not by the bot were reverted since (" \
        f"{', '.join(sha[:12] for sha in undone)})" if undone else ""
    return status, Link("status", f"written by the bot in commit {commit[:12]}{more}")


def _not_by_the_bot(root: str, rel: str) -> list[str]:
    """The commits of REL's first-parent history the bot did not sign."""
    bot = bot_at_head(root)
    commits = git.first_parent_commits(root, "HEAD", rel)
    if isinstance(bot, str):
        return commits
    signed = bot_signed(root, bot, commits, cache_dir(root))
    return [sha for sha in commits if sha not in signed]


def _version_links(root: str, key: str, name: str, version: Version) -> Iterator[Link]:
    rel = f"{evidence_dir(key)}/{version.evidence_id}.json"
    if not os.path.isfile(os.path.join(root, rel)):
        raise _Broken(f"{name} evidence", f"{rel} is not in the repository")
    try:
        evidence = load_evidence(root, rel)
    except ValueError as e:
        raise _Broken(f"{name} evidence", f"{rel}: {e}") from None
    if evidence.id != version.evidence_id or evidence.priority != key or not evidence.passed:
        raise _Broken(f"{name} evidence", f"{rel} is not a passing dry run of "
                      f"{key} {version.evidence_id}")
    s = evidence.summary
    yield Link(f"{name} evidence", f"{version.evidence_id} passed "
               f"({s.cases - s.failed} of {s.cases} cases)")
    found = untrusted_files(root, [rel, statement_path(rel)], cache=cache_dir(root))
    if found:
        raise _Broken(f"{name} trusted run", next(iter(found.values())).hold)
    commit = recorded_at(root, rel)
    yield Link(f"{name} trusted run", f"committed by the bot in {commit[:12]}")
    statement = read_statement(root, rel)
    problem = statement if isinstance(statement, str) else \
        statement_problem(statement, evidence, rel)
    if problem or isinstance(statement, str):
        raise _Broken(f"{name} statement", problem)
    yield Link(f"{name} statement", "the in-toto statement agrees with the evidence")
    problem = files_problem(root, commit, statement, key)
    if not problem and version.workflow_digest \
            and version.workflow_digest != evidence.fingerprint.workflow:
        problem = (f"status.yaml's workflow digest {version.workflow_digest[:12]} is not the "
                   f"evidence's {evidence.fingerprint.workflow[:12]}")
    if problem:
        raise _Broken(f"{name} files", problem)
    yield Link(f"{name} files", f"{len(statement.get('subject', []))} files at "
               f"{commit[:12]} hash to the recorded digests")


def _approvals(key: str, candidate: Candidate, source: ApprovalSource) -> Link:
    files = [u for u in candidate.approvals_used if u.source.startswith(FILE_SOURCE)]
    if files:  # anyone who can push can commit one: it proves nothing
        raise _Broken("approvals", f"unverified: the promotion relied on approval files "
                      f"({', '.join(u.source.removeprefix(FILE_SOURCE) for u in files)}), "
                      "which any author can commit; use approvals.source github or "
                      "git-signed")
    held = [a for a in source.approvals(key) if a.valid]
    for used in candidate.approvals_used:
        found = any(a.person == used.person and a.role == used.role
                    and a.evidence_id == candidate.evidence_id
                    and a.stage in (used.stage, "*") for a in held)
        if used.evidence_id != candidate.evidence_id or not found:
            raise _Broken("approvals", f"the approval of {used.stage} by {used.person} "
                          f"({used.role}) that status.yaml records is not a valid approval of "
                          f"{candidate.evidence_id} the approval source holds")
    count = len(candidate.approvals_used)
    plural = "approval" if count == 1 else "approvals"
    return Link("approvals", f"{count} {plural} used, bound to {candidate.evidence_id}"
                if count else "none used")


def _human_reviews(root: str, key: str, candidate: Candidate,
                   history: Sequence[Transition]) -> Link | None:
    """The labels that let the candidate into each stage asking for them, judged again as
    the reconciler judged them; None when no stage it entered asks for a human review."""
    from pipeline.documents.load import load_priority
    from pipeline.humanreview.labels import ReviewContext, read_reviews, stage_roles
    from pipeline.humanreview.verdict import Setting, judge
    from pipeline.reconcile.state import project_settings

    try:
        priority = load_priority(root, key)
    except InputError as e:
        raise _Broken("human review", f"the priority cannot be read: {e}") from None
    names = [s.name for s in priority.spec.rollout.stages]
    reached = priority.spec.rollout.stages[:names.index(candidate.stage) + 1] \
        if candidate.stage in names else []
    wanted = [s for s in reached if s.human_review is not None]
    if not wanted:
        return None
    rel = f"{evidence_dir(key)}/{candidate.evidence_id}.json"
    # when this candidate entered each stage: negative feedback given since was not there
    # to be shown in the sample that let it in
    entered = {t.to_stage: t.time for t in history
               if t.action == "promote" and t.to_stage and t.version == candidate.version
               and (candidate.since is None or t.time >= candidate.since)}
    ctx = ReviewContext(root, key, candidate.evidence_id, rel, stage_roles(priority),
                        project_settings(root).approvals, os.environ, entered)
    reviews = read_reviews(ctx)
    found = []
    for stage in wanted:
        assert stage.human_review is not None
        setting = Setting(stage.human_review.sample, stage.human_review.min_agreement)
        verdict = judge(key, stage.name, setting, reviews, candidate.evidence_id)
        if not verdict.passed:
            raise _Broken("human review", verdict.reason)
        found.append(verdict.reason)
    return Link("human review", "; ".join(found))


def _flag(root: str, key: str, status: StatusBody | None) -> Link:
    customer, name = key.split("/")
    rel = f"{CUSTOMERS}/{customer}/{flags.FLAGS_FILE}"
    wanted = flags.flag(status) if status is not None else None
    served = _served(root, rel, name)
    if served != wanted:
        what = f"has no flag {name}" if served is None else \
            f"serves other traffic for {name} than status.yaml says"
        raise _Broken("flag", f"{rel} {what}; the next reconcile writes it again")
    return Link("flag", f"{rel} serves what status.yaml says" if wanted is not None
                else "no flag: nothing served")


def _served(root: str, rel: str, name: str) -> Any:
    try:
        with open(os.path.join(root, rel), "rb") as fh:
            document = json.loads(fh.read(16 * 1024 * 1024))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise _Broken("flag", f"{rel} cannot be read ({e})") from None
    found = document.get("flags") if isinstance(document, dict) else None
    return found.get(name) if isinstance(found, dict) else None
