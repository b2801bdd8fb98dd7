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
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from pipeline import fsio, git
from pipeline.approvals.base import ApprovalSource
from pipeline.approvals.governance_check import (
    VERIFIED as GOVERNANCE_VERIFIED,
)
from pipeline.approvals.governance_check import (
    GovernanceCheck,
    check_default_branch,
)
from pipeline.documents.layout import CUSTOMERS, STATUS_FILE, priority_dir
from pipeline.documents.yamlio import dump_yaml
from pipeline.errors import ExternalError, GitError
from pipeline.model.project import BotIdentity, ProjectSpec
from pipeline.model.status import StatusBody
from pipeline.reconcile import flags
from pipeline.reconcile.plan import MONITORING_INCIDENT, Plan, PriorityPlan, plan
from pipeline.reconcile.shard import Shard
from pipeline.reconcile.state import (
    MonitoringFactory,
    RepoState,
    default_monitoring,
    load_repo,
    plan_inputs,
)
from pipeline.redact import process_redactor
from pipeline.trust.botkey import signing_key_path

OWNED_PATHSPECS = [f":(glob){CUSTOMERS}/*/*/{STATUS_FILE}",
                   f":(glob){CUSTOMERS}/*/{flags.FLAGS_FILE}",
                   f":(glob){CUSTOMERS}/*/updates/*",
                   f":(glob){CUSTOMERS}/*/*/events/{MONITORING_INCIDENT}*",
                   # a write killed before its rename leaves its temporary file
                   f":(glob){CUSTOMERS}/**/{fsio.TEMP_PREFIX}*"]
INCIDENT_HEADER = ("# Opened by the ailoop reconciler when monitoring rolled a candidate back. "
                   "Set resolved: true\n# once the cause is understood, or ship a fix.\n")
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
    # What every state change ends with (customer updates, lessons), written into the
    # same commit; returns the repo-relative paths it wrote. See pipeline.publish.outputs.
    tell: Callable[[str, Plan, datetime], list[str]] | None = None


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


def governance_of(root: str, project: ProjectSpec) -> GovernanceCheck:
    """The re-check that every governance change on this branch had its approvals; outside
    git there is no history to check (nothing there is trusted either)."""
    if not git.is_work_tree(root):
        return GovernanceCheck()
    return check_default_branch(root, project.approvals.source, project.bot,
                                project.approvals.github_api_url)


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
        state.governance = governance_of(root, state.project)
        src = sources or default_sources(root, state)
        mine = state if shard is None else dataclasses.replace(
            state, locals=[local for local in state.locals if shard.owns(local.key)])
        return state, plan(plan_inputs(mine, now, src.approvals, src.monitoring, head), now)
    finally:
        if was_enabled:
            gc.enable()


# --- what to write ------------------------------------------------------------------------

def status_text(key: str, body: StatusBody) -> str:
    """status.yaml's text: the one writer of status, for the reconciler and reviews."""
    doc = {"apiVersion": "ailoop.dev/v1", "kind": "Status",
           "metadata": {"name": key.split("/")[1]},
           "status": body.model_dump(by_alias=True, mode="json", exclude_none=True)}
    return dump_yaml(doc, header=STATUS_HEADER)


def status_path(key: str) -> str:
    return f"{priority_dir(key)}/{STATUS_FILE}"


def planned_writes(root: str, state: RepoState, result: Plan) -> Writes:
    writes: Writes = {}
    for p in result.changes:
        writes[status_path(p.key)] = status_text(p.key, p.status)
        writes.update(_incident_writes(root, state, p))
    writes.update(_flag_writes(root, state, result))
    return writes


def _incident_writes(root: str, state: RepoState, p: PriorityPlan) -> Writes:
    """The Incident event a monitoring rollback opens, with the readings (redacted), so its
    fix cycle ends like any incident's."""
    from pipeline.redact import detectors_only

    writes: Writes = {}
    redact = detectors_only()
    for action in p.actions:
        if action.kind != "open-incident":
            continue
        inputs = dict(action.inputs)
        name = inputs["incident"]
        doc = {"apiVersion": "ailoop.dev/v1", "kind": "Incident", "metadata": {"name": name},
               "spec": {"severity": "high", "reportedBy": state.project.bot.name,
                        "time": p.status.rollback.at.isoformat() if p.status.rollback
                        else "", "summary": redact.text(
                            f"Monitoring rolled back {p.key}: {action.reason}. Readings: "
                            f"{inputs.get('readings', '')}")}}
        rel = f"{priority_dir(p.key)}/events/{name}.yaml"
        writes[rel] = dump_yaml(doc, header=INCIDENT_HEADER)
    return writes


def _flag_writes(root: str, state: RepoState, result: Plan) -> Writes:
    after = {p.key: p.status for p in result.priorities}
    per_customer: dict[str, list[tuple[str, StatusBody]]] = {}
    held: dict[str, list[str]] = {}  # never acted on: their flags stay as they are
    for local in state.locals:
        status = after.get(local.key, local.status)  # not planned here (another shard)
        customer, name = local.key.split("/")
        per_customer.setdefault(customer, [])
        if local.untrusted:  # from what the bot last wrote, never from the edited file
            if local.last_trusted is not None:
                per_customer[customer].append((name, local.last_trusted))
        elif local.spec is None or local.problems:
            held.setdefault(customer, []).append(name)
        elif status is not None:
            per_customer[customer].append((name, status))
    writes: Writes = {}
    for customer, entries in per_customer.items():
        rel = f"{CUSTOMERS}/{customer}/{flags.FLAGS_FILE}"
        before = _read(root, rel)
        document = flags.customer_flags(entries, kept=_kept(before, held.get(customer, [])))
        text = flags.render(document)
        if before != text and (document["flags"] or before is not None):
            writes[rel] = text
    return writes


def _kept(text: str | None, names: list[str]) -> dict[str, object]:
    """The current flags of held priorities, from the flags file as committed."""
    if not names or text is None:
        return {}
    try:
        current = json.loads(text).get("flags", {})
    except (ValueError, AttributeError):
        return {}
    return {name: current[name] for name in names
            if isinstance(current, dict) and name in current}


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
    where = f"{a.to_stage} ({a.to_percent:g}%)" if a.to_stage else "no traffic"
    return {
        "promote": f"promote {p.key} to {where}",
        "complete": f"complete the rollout of {p.key} (the candidate is now serving)",
        "resegment": f"move {p.key} to the new segment of {where}",
        "rollback": f"roll back {p.key} to {where}",
        "replace": f"replace the candidate of {p.key} (its traffic returns to serving)",
        "withdraw": f"withdraw the candidate of {p.key} (back to the serving version)",
        "blocked": f"mark {p.key} blocked",
        "dry-run-needed": f"send {p.key} back to dry run",
        "await-approval": f"{p.key} awaits approval for {a.to_stage}",
    }.get(a.kind, f"record {a.kind} for {p.key}")


def status_trailers(body: StatusBody) -> list[str]:
    """Where a priority stands, as machine-readable commit trailers."""
    cand, serving = body.candidate, body.serving
    return [f"Ailoop-Evidence: {cand.evidence_id if cand else 'none'}",
            f"Ailoop-Stage: {cand.stage if cand and cand.stage else 'none'}",
            f"Ailoop-Serving: {serving.evidence_id if serving else 'none'}"]


def commit_message(changes: list[PriorityPlan], governance_verified: bool = False) -> str:
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
                     *status_trailers(p.status)]
        review = dict(p.primary.inputs).get("human_review")
        if review:  # the labels that let it in, bound to the candidate's evidence id
            trailers.append(f"Ailoop-Human-Review: {review}")
    if governance_verified:  # the window of the next governance re-check starts here
        trailers.append(GOVERNANCE_VERIFIED)
    return "\n".join([subject, "", *body, "", *trailers]) + "\n"


# --- reconcile ----------------------------------------------------------------------------

@dataclass
class Attempt:
    """One try at a state change on the current head: the files to write, the commit
    message, and what to tell people once the files are written (more paths)."""

    result: ReconcileResult
    writes: Writes
    message: str
    tell: Callable[[], list[str]] = lambda: []


def reconcile(opts: ReconcileOptions, sources: Sources | None = None) -> ReconcileResult:
    """Plan, write, commit and (optionally) push, retrying on a rejected push."""
    root = opts.root
    recovered = recover_owned_files(root) if opts.commit and git.is_work_tree(root) else []

    def attempt(head: str) -> Attempt:
        state, result = make_plan(root, opts.now, sources=sources, use_cache=opts.use_cache,
                                  head=head, shard=opts.shard)
        verified = state.governance.verified
        message = commit_message(result.changes, verified) if result.changes else \
            "ailoop: refresh flag files\n\nAiloop-Action: flags\n" + \
            (f"{GOVERNANCE_VERIFIED}\n" if verified else "")
        tell = opts.tell
        return Attempt(ReconcileResult(result, recovered=recovered),
                       planned_writes(root, state, result), message,
                       (lambda: tell(root, result, opts.now)) if tell and result.changes
                       else (lambda: []))

    return commit_state_change(opts, attempt)


def commit_state_change(opts: ReconcileOptions, attempt: Callable[[str], Attempt]
                        ) -> ReconcileResult:
    """The one path of every state change: write, commit as the bot with trailers, push;
    on a rejected push fetch, drop our own commits and try again on the new head. Outside
    git (or with commit off) the files are only written."""
    root = opts.root
    if not (opts.commit and git.is_work_tree(root)):
        step = attempt("")
        _write_all(root, step.writes)
        step.result.written = sorted(step.writes)
        return step.result
    bot = _bot(root)
    key = ""  # the bot's private key, checked before the first write
    branch = git.current_branch(root) if opts.push else ""
    for number in range(1, opts.max_attempts + 1):
        step = attempt(git.head(root))
        res = step.result
        res.attempts = number
        if step.writes and not key:
            key = signing_key_path(bot, os.environ)
        _write_all(root, step.writes)
        told = step.tell() if step.writes else []
        res.written = sorted({*step.writes, *told})
        if step.writes:
            # Commit messages quote reasons, which may quote inputs: the one redactor.
            message = process_redactor().text(step.message)
            res.commit = git.commit_paths(root, res.written, message, bot.name, bot.email,
                                          key)
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
                        "pushing); nothing was lost: run the command again")


def _write_all(root: str, writes: Writes) -> None:
    for rel, text in sorted(writes.items()):
        write_atomic(root, rel, text)


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



def _bot(root: str) -> BotIdentity:
    from pipeline.reconcile.state import project_settings

    return project_settings(root).bot
