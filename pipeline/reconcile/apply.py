"""Apply a plan: write status and flags, commit with trailers, push; replan when pushed over.

One reconcile makes at most one commit (all priorities that changed, plus their customers'
flag files), with one group of trailers per priority. A no-op writes nothing and commits
nothing. Files the reconciler owns (status.yaml, flags.flagd.json) that are dirty when it
starts were left by a run that died before committing: they are put back to HEAD and
recomputed, never committed as they are; other edits in the work tree are never touched.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline import fsio, git
from pipeline.approvals.base import ApprovalSource
from pipeline.documents.layout import CUSTOMERS, priority_dir
from pipeline.documents.yamlio import dump_yaml
from pipeline.errors import ExternalError, GitError, InputError
from pipeline.model.status import StatusBody, TerminalState
from pipeline.reconcile import flags
from pipeline.reconcile.plan import Plan, PriorityPlan, plan
from pipeline.reconcile.shard import Shard
from pipeline.reconcile.state import (
    STATUS_FILE,
    MonitoringFactory,
    RepoState,
    default_monitoring,
    load_repo,
    plan_inputs,
)

OWNED_PATHSPECS = [f":(glob){CUSTOMERS}/*/*/{STATUS_FILE}",
                   f":(glob){CUSTOMERS}/*/{flags.FLAGS_FILE}",
                   f":(glob){CUSTOMERS}/*/updates/*",
                   # a write killed before its rename leaves its temporary file
                   f":(glob){CUSTOMERS}/**/{fsio.TEMP_PREFIX}*"]
STATUS_HEADER = ("# Written by the ailoop reconciler (`ailoop reconcile`); do not edit: "
                 "changes are overwritten.\n")
Writes = dict[str, str]  # repo-relative path -> new content


@dataclass(frozen=True)
class Sources:
    approvals: ApprovalSource
    monitoring: MonitoringFactory


@dataclass(frozen=True)
class ReconcileOptions:
    root: str
    now: datetime
    push: bool = False
    commit: bool = True
    remote: str = "origin"
    max_attempts: int = 5
    use_cache: bool = True
    sleep: Callable[[float], None] = time.sleep
    shard: Shard | None = None


@dataclass
class ReconcileResult:
    plan: Plan
    written: list[str] = field(default_factory=list)
    commit: str = ""
    pushed: bool = False
    attempts: int = 1
    recovered: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.written or self.commit or self.pushed)


def default_sources(root: str, state: RepoState) -> Sources:
    from pipeline.approvals import source_for

    return Sources(source_for(root, state.project.approvals),
                   default_monitoring(root, state.project))


def make_plan(root: str, now: datetime, *, sources: Sources | None = None,
              use_cache: bool = True, only: str | None = None,
              head: str = "", shard: Shard | None = None) -> tuple[RepoState, Plan]:
    """Read the repository and plan; no writes. With a shard, only its priorities are
    planned; the state still holds every priority (flag files list them all)."""
    # Tens of thousands of long-lived small objects and no cycles worth collecting: the
    # cyclic GC would rescan them again and again (seconds on 10,000 priorities).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        state = load_repo(root, use_cache=use_cache, only=only)
        src = sources or default_sources(root, state)
        mine = state if shard is None else dataclasses.replace(
            state, locals=[local for local in state.locals if shard.owns(local.key)])
        return state, plan(plan_inputs(mine, now, src.approvals, src.monitoring, head), now)
    finally:
        if was_enabled:
            gc.enable()


# --- what to write ------------------------------------------------------------------------

def status_text(key: str, body: StatusBody) -> str:
    doc = {"apiVersion": "ailoop.dev/v1", "kind": "Status",
           "metadata": {"name": key.split("/")[1]},
           "status": body.model_dump(by_alias=True, mode="json", exclude_none=True)}
    return dump_yaml(doc, header=STATUS_HEADER)


def planned_writes(root: str, state: RepoState, result: Plan) -> Writes:
    writes: Writes = {}
    for p in result.changes:
        writes[f"{priority_dir(p.key)}/{STATUS_FILE}"] = status_text(p.key, p.status)
    writes.update(_flag_writes(root, state, result))
    return writes


def _flag_writes(root: str, state: RepoState, result: Plan) -> Writes:
    after = {p.key: p.status for p in result.priorities}
    per_customer: dict[str, list[tuple[str, str, float]]] = {}
    for local in state.locals:
        status = after.get(local.key, local.status)  # not planned here (another shard)
        if local.spec is None or status is None or status.stage is None:
            continue  # only priorities that entered the rollout get a flag
        customer, name = local.key.split("/")
        per_customer.setdefault(customer, []).append(
            (name, local.spec.workflow_version, status.percent))
    writes: Writes = {}
    for customer, entries in per_customer.items():
        rel = f"{CUSTOMERS}/{customer}/{flags.FLAGS_FILE}"
        text = flags.render(flags.customer_flags(entries))
        if _read(root, rel) != text:
            writes[rel] = text
    return writes


def _read(root: str, rel: str) -> str | None:
    try:
        with open(os.path.join(root, rel), encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError):
        return None


def write_atomic(root: str, rel: str, text: str) -> None:
    try:
        fsio.write_atomic(os.path.join(root, rel), text)
    except OSError as e:  # disk full, read-only tree: nothing half-written, nothing committed
        raise ExternalError(f"cannot write {rel}: {e.strerror or e}; nothing was "
                            "committed (the next run rewrites it)") from None


# --- commit messages ----------------------------------------------------------------------

def summary_line(p: PriorityPlan) -> str:
    a = p.primary
    where = f"{a.to_stage} ({a.to_percent:g}%)"
    return {
        "promote": f"promote {p.key} to {where}",
        "rollback": f"roll back {p.key} to {where}",
        "blocked": f"mark {p.key} blocked",
        "dry-run-needed": f"send {p.key} back to dry run",
        "await-approval": f"{p.key} awaits approval for {a.to_stage}",
    }.get(a.kind, f"record {a.kind} for {p.key}")


def commit_message(changes: list[PriorityPlan]) -> str:
    if len(changes) == 1:
        subject = f"ailoop: {summary_line(changes[0])}"
    else:
        kinds: dict[str, int] = {}
        for p in changes:
            kinds[p.primary.kind] = kinds.get(p.primary.kind, 0) + 1
        counts = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        subject = f"ailoop: reconcile {len(changes)} priorities ({counts})"
    body = [f"- {p.key}: {p.primary.reason}" for p in changes[:200]]
    if len(changes) > 200:
        body.append(f"- ... and {len(changes) - 200} more")
    trailers: list[str] = []
    for p in changes:
        trailers += [f"Ailoop-Priority: {p.key}", f"{git.TRAILER_ACTION}: {p.primary.kind}",
                     f"Ailoop-Evidence: {p.status.evidence_id or 'none'}",
                     f"Ailoop-Stage: {p.status.stage or 'none'}"]
    return "\n".join([subject, "", *body, "", *trailers]) + "\n"


# --- reconcile ----------------------------------------------------------------------------

def reconcile(opts: ReconcileOptions, sources: Sources | None = None) -> ReconcileResult:
    """Plan, write, commit and (optionally) push, retrying on a rejected push."""
    root = opts.root
    in_git = opts.commit and git.is_work_tree(root)
    recovered = recover_owned_files(root) if in_git else []

    def attempt(head: str) -> tuple[ReconcileResult, Writes, str]:
        state, result = make_plan(root, opts.now, sources=sources, use_cache=opts.use_cache,
                                  head=head, shard=opts.shard)
        writes = planned_writes(root, state, result)
        return ReconcileResult(result, recovered=recovered), writes, \
            commit_message(result.changes) if result.changes else \
            "ailoop: refresh flag files\n\nAiloop-Action: flags\n"

    if not in_git:
        res, writes, _msg = attempt("")
        for rel, text in sorted(writes.items()):
            write_atomic(root, rel, text)
        res.written = sorted(writes)
        return res
    return _write_commit_push(opts, attempt)


def _write_commit_push(opts: ReconcileOptions,
                       attempt: Callable[[str], tuple[ReconcileResult, Writes, str]]
                       ) -> ReconcileResult:
    root = opts.root
    bot = _bot(root)
    branch = git.current_branch(root) if opts.push else ""
    for number in range(1, opts.max_attempts + 1):
        res, writes, message = attempt(git.head(root))
        res.attempts = number
        for rel, text in sorted(writes.items()):
            write_atomic(root, rel, text)
        told = loop_outputs(root, res.plan, opts.now) if res.plan.changes else []
        res.written = sorted({*writes, *told})
        if writes:
            res.commit = git.commit_paths(root, res.written, message, *bot)
        if not opts.push:
            return res
        upstream = f"refs/remotes/{opts.remote}/{branch}"
        if not _has_unpushed(root, upstream):
            return res
        if git.push(root, opts.remote, branch):
            res.pushed = True
            return res
        _drop_own_commits(root, opts.remote, branch)
        opts.sleep(random.uniform(0.05, 0.3) * number)  # jitter: let the winner settle
    raise ExternalError(f"the push was rejected {opts.max_attempts} times (others kept "
                        "pushing); nothing was lost: run `ailoop reconcile --push` again")


def _has_unpushed(root: str, upstream: str) -> bool:
    try:
        return bool(git.unpushed(root, upstream))
    except GitError:
        return True  # no remote-tracking ref yet: try the push


def _drop_own_commits(root: str, remote: str, branch: str) -> None:
    """After a rejected push: fetch, and drop our un-pushed commits to replan on the new
    head. A human's un-pushed commit is never dropped: we stop instead."""
    upstream = git.fetch(root, remote, branch)
    mine = git.unpushed(root, upstream)
    if any(not own for _sha, own in mine):
        raise ExternalError("the push was rejected and this branch has un-pushed commits "
                            "that are not the reconciler's; pull and push them first")
    git.reset_keep(root, upstream)


def recover_owned_files(root: str) -> list[str]:
    """Undo reconciler-owned files a killed run left uncommitted (they are recomputed)."""
    found = git.dirty_paths(root, OWNED_PATHSPECS)
    git.restore_paths(root, [p for p, in_head in found if in_head])
    fresh = [p for p, in_head in found if not in_head]
    git.forget_paths(root, fresh)
    for path in fresh:
        if os.path.lexists(os.path.join(root, path)):
            os.unlink(os.path.join(root, path))
    return [p for p, _ in found]



def _bot(root: str) -> tuple[str, str]:
    from pipeline.reconcile.state import project_settings

    bot = project_settings(root).bot
    return bot.name, bot.email


# --- the review hook ----------------------------------------------------------------------

def record_review(root: str, key: str, now: datetime, next_check: datetime, reason: str,
                  *, push: bool = False, remote: str = "origin") -> ReconcileResult:
    """Record a healthy operations review (called by `ailoop review`) through the same
    write/commit/push path: terminal healthy-review, next check, feedback consumed."""
    def attempt(head: str) -> tuple[ReconcileResult, Writes, str]:
        state = load_repo(root, only=key)
        local = next((x for x in state.locals if x.key == key), None)
        if local is None:
            raise InputError(f"no priority {key}")
        before = local.status or StatusBody()
        after = reviewed(before, [e.id for e in local.events if e.kind == "ReviewRequest"],
                         now, next_check, reason)
        rel = f"{priority_dir(key)}/{STATUS_FILE}"
        writes = {} if after == before else {rel: status_text(key, after)}
        message = (f"ailoop: record healthy review of {key}\n\n{reason}\n\n"
                   f"Ailoop-Priority: {key}\n{git.TRAILER_ACTION}: review\n"
                   f"Ailoop-Evidence: {after.evidence_id or 'none'}\n"
                   f"Ailoop-Stage: {after.stage or 'none'}\n")
        return ReconcileResult(Plan(())), writes, message

    if not git.is_work_tree(root):
        res, writes, _ = attempt("")
        for rel, text in writes.items():
            write_atomic(root, rel, text)
        res.written = sorted(writes)
        return res
    return _write_commit_push(ReconcileOptions(root, now, push=push, remote=remote), attempt)


def reviewed(status: StatusBody, requests: list[str], now: datetime, next_check: datetime,
             reason: str) -> StatusBody:
    """The status after a healthy review (pure)."""
    terminal = TerminalState.model_validate({"state": "healthy-review", "at": now,
                                             "reason": reason, "nextCheck": next_check})
    processed = [*status.processed_events,
                 *(r for r in requests if r not in status.processed_events)]
    return status.model_copy(update={"terminal": terminal, "last_review": now,
                                     "next_review": next_check, "pending_feedback": [],
                                     "processed_events": processed})


def plan_as_json(result: Plan) -> list[dict[str, Any]]:
    return [{"priority": p.key, "changed": p.changed, "phase": p.status.phase,
             "stage": p.status.stage, "percent": p.status.percent,
             "actions": [a.as_dict() for a in p.actions]} for p in result.priorities]


# --- telling people -----------------------------------------------------------------------

def loop_outputs(root: str, result: Plan, now: datetime) -> list[str]:
    """What every state change ends with: the customer update of each changed priority,
    and lessons from incidents that were fixed. Returns the repo-relative paths written."""
    from pipeline.errors import AiloopError
    from pipeline.publish.publisher import publish_update

    written: list[str] = []
    for p in result.changes:
        try:
            published = publish_update(root, p.key, now)
        except AiloopError:
            continue  # a priority whose spec cannot be read gets its update once fixed
        if published.path:
            written.append(os.path.relpath(published.path, root).replace(os.sep, "/"))
    written += _incident_lessons(root, result, now)
    return written


def _incident_lessons(root: str, result: Plan, now: datetime) -> list[str]:
    """Lessons from resolved incidents, in the customer's lessons file, but only when that
    file has no uncommitted human edits (a reconcile never commits those)."""
    from pipeline.lessons.memory import incident_lessons, lessons_path

    written: list[str] = []
    for p in result.changes:
        names = [dict(a.inputs)["incident"] for a in p.actions
                 if a.kind == "release" and "incident" in dict(a.inputs)]
        if not names:
            continue
        customer = p.key.split("/", 1)[0]
        rel = lessons_path(customer)
        if git.is_work_tree(root) and git.dirty_paths(root, [rel]):
            continue
        if incident_lessons(root, p.key, names, now):
            written.append(rel)
    return written
