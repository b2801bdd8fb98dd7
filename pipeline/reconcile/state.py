"""Read the repository into the plain inputs the planner needs (the imperative shell of plan).

Per priority: its spec, status, events and the evidence that matches the spec as it is now.
That part depends only on files in the priority's folder (plus ailoop.yaml), so it is cached
by the (path, mtime, size) of every file there: a no-op reconcile over thousands of
priorities stats files instead of parsing YAML and hashing datasets. Approvals and monitoring
readings are live data and are asked for only where the planner can use them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pipeline import git
from pipeline.approvals.base import ApprovalSource
from pipeline.approvals.context import people_of, person_by_email
from pipeline.approvals.governance_check import GovernanceCheck
from pipeline.approvals.requirements import HUMAN_ROLES, stage_requirements
from pipeline.cache import cache_dir, checker_fingerprint, store
from pipeline.cache.stat_index import settled_ns, stat_key
from pipeline.documents.layout import (
    CUSTOMERS,
    PROJECT_FILE,
    STATUS_FILE,
    priority_dir,
    priority_keys,
    resolve_inside,
)
from pipeline.documents.load import load_document
from pipeline.errors import AiloopError, ExternalError, InputError
from pipeline.humanreview.verdict import Setting
from pipeline.model import status as status_model
from pipeline.model.base import Model
from pipeline.model.customer import Customer, Person
from pipeline.model.priority import MonitoringGate, Priority
from pipeline.model.project import ProjectSpec
from pipeline.model.status import StatusBody
from pipeline.monitoring.base import (
    CANDIDATE,
    SERVING,
    GateReading,
    MonitoringSource,
    Variant,
    gate_name,
)
from pipeline.reconcile.plan import (
    EventView,
    EvidenceView,
    PriorityInput,
    RegressionView,
    SpecView,
    StageView,
    segment_text,
)
from pipeline.trust.evidence_chain import chain_problem, statement_path
from pipeline.trust.status import trusted_body
from pipeline.trust.written import Untrusted, untrusted_files
from pipeline.validate.run import ValidateOptions, validate
from pipeline.validate.status_check import status_bounds

if TYPE_CHECKING:
    from pipeline.documents.evidence import EvidenceSummary

_HIGH_RISK = frozenset({"high", "critical"})
_NO_STATUS = StatusBody()  # frozen, so one instance serves every priority without a status


@dataclass(frozen=True)
class Local:
    """Everything about one priority that comes from its own folder."""

    key: str
    spec: SpecView | None
    status: StatusBody | None  # None: no status.yaml yet
    problems: tuple[str, ...] = ()
    evidence_id: str | None = None  # the input fingerprint on disk
    evidence_problem: str = ""
    # The evidence file of the fingerprint on disk, as the work tree holds it (cached); who
    # wrote it decides (with_trust, never cached) whether it counts (`evidence`: what a
    # trusted bot commit wrote there) or is only shown (`unverified`: from the PR).
    matching: EvidenceView | None = None
    evidence: EvidenceView | None = None
    unverified: EvidenceView | None = None
    version: str = ""  # spec.workflow.version
    workflow_digest: str = ""  # of the workflow code on disk
    events: tuple[EventView, ...] = ()
    gates: tuple[dict[str, Any], ...] = ()  # MonitoringGate as data: cheap to unpickle
    monitoring_file: str | None = None
    monitoring_provider: str | None = None
    monitoring_prometheus: dict[str, Any] | None = None  # the priority's override, as data
    self_contained: bool = True  # every file it depends on is inside the priority folder
    # status.yaml is not what the bot wrote (pipeline.trust; the hold is in `problems`):
    # its flag follows what the bot last wrote (None: nothing), never the edited file.
    untrusted: bool = False
    last_trusted: StatusBody | None = None
    # Errors `ailoop validate` reports for this priority (not in the folder cache: policies,
    # the customer and the project settings can change them): no expansion while any stand.
    findings: tuple[str, ...] = ()
    regression: tuple[RegressionView, ...] = ()  # regression cases in the dataset on disk


@dataclass
class RepoState:
    root: str
    project: ProjectSpec
    locals: list[Local]
    roles: dict[str, dict[str, int] | None] = field(default_factory=dict)
    governance: GovernanceCheck = field(default_factory=GovernanceCheck)


def project_settings(root: str) -> ProjectSpec:
    doc, findings = load_document(root, PROJECT_FILE)
    if doc is None:
        first = findings[0].render() if findings else PROJECT_FILE
        raise InputError(f"cannot read the project settings: {first}")
    spec: ProjectSpec = doc.model.spec
    return spec


def load_repo(root: str, *, use_cache: bool = True, only: str | None = None) -> RepoState:
    """Spec, status, events and evidence of every priority (or those under `only`)."""
    project = project_settings(root)
    keys = [k for k in priority_keys(root) if only is None or k == only
            or k.startswith(only.rstrip("/") + "/")]
    cache = _LocalCache(root, project, use_cache)
    locals_ = [cache.get(key) for key in keys]
    cache.save()
    locals_ = with_trust(root, locals_, cache_dir(root) if use_cache else None)
    state = RepoState(root, project, with_findings(root, locals_, use_cache=use_cache,
                                                   only=only))
    for customer in sorted({k.split("/")[0] for k in keys}):
        state.roles[customer] = customer_roles(root, customer)
    return state


def customer_roles(root: str, customer: str) -> dict[str, int] | None:
    doc, _ = load_document(root, f"{CUSTOMERS}/{customer}/customer.yaml")
    if doc is None:
        return None
    counts: dict[str, int] = {}
    for person in doc.model.spec.people:
        for role in person.roles:
            counts[role] = counts.get(role, 0) + 1
    return counts


def with_trust(root: str, locals_: list[Local], cache: str | None = None) -> list[Local]:
    """Hold every priority whose status.yaml the bot did not write, and count only evidence
    a trusted bot commit wrote (not in the folder cache: trust depends on the history, not
    on the folder; CACHE keeps good commits). One check for every file."""
    statuses = {f"{priority_dir(local.key)}/{STATUS_FILE}": local for local in locals_}
    evidence = [path for local in locals_ if local.matching is not None
                for path in (local.matching.path, statement_path(local.matching.path))]
    found = untrusted_files(root, [*statuses, *evidence], contents=True, cache=cache)
    out: list[Local] = []
    for rel, local in statuses.items():
        if (verdict := found.get(rel)) is not None:
            local = replace(local, problems=(*local.problems, verdict.hold), untrusted=True,
                            last_trusted=trusted_body(root, rel, verdict.last_trusted))
        out.append(_evidence_trust(root, local, found))
    return out


def _evidence_trust(root: str, local: Local, found: dict[str, Untrusted]) -> Local:
    seen = local.matching
    if seen is None:
        return local
    verdict = found.get(seen.path)
    if verdict is None and statement_path(seen.path) in found:
        return replace(local, unverified=seen, evidence=None)  # its statement is not the bot's
    if verdict is None:
        return replace(local, evidence=_verified(root, local, seen))
    return replace(local, unverified=seen,
                   evidence=_trusted_view(local.key, seen.path, verdict.last_trusted))


def _verified(root: str, local: Local, seen: EvidenceView) -> EvidenceView:
    """Trusted evidence with the rest of its chain checked (what `ailoop verify` checks
    past who committed it), unless it is what is served already: nothing left to promote."""
    serving = local.status.serving if local.status is not None else None
    if serving is not None and serving.evidence_id == seen.evidence_id:
        return seen
    return replace(seen, broken=chain_problem(root, local.key, seen.path))


def _trusted_view(key: str, rel: str, raw: bytes | None) -> EvidenceView | None:
    """What a trusted bot commit last wrote at REL (a pull request rewrote it since)."""
    from pipeline.documents.evidence import parse_evidence, regressions_of, summary_of

    if raw is None:
        return None
    try:
        evidence = parse_evidence(raw)
        return _view(summary_of(evidence, rel, key), regressions_of(evidence))
    except ValueError:
        return None


def _view(s: EvidenceSummary, regression: tuple[tuple[str, bool], ...]) -> EvidenceView:
    return EvidenceView(s.evidence_id, s.passed, s.pass_rate, s.cases, s.failed, s.path,
                        regression, compared_with=s.compared_with)


def with_findings(root: str, locals_: list[Local], *, use_cache: bool = True,
                  only: str | None = None) -> list[Local]:
    """What `ailoop validate` finds, on the priorities it concerns: a change pushed to the
    default branch without a pull request never had its check run, and one invalid priority
    must hold alone, not stop the reconcile of the others. status.yaml is judged by the trust
    check and the status bounds (already in `problems`), so its findings are left out."""
    if not locals_:
        return locals_
    paths = (os.path.join(root, priority_dir(only)),) if only else ()
    report = validate(ValidateOptions(root=root, paths=paths, use_cache=use_cache))
    keys = [local.key for local in locals_]
    found: dict[str, list[str]] = {}
    for finding in report.findings:
        if finding.severity != "error" or finding.path.endswith(f"/{STATUS_FILE}"):
            continue
        for key in concerned(finding.path, keys):
            found.setdefault(key, []).append(finding.render())
    return [replace(local, findings=tuple(found[local.key])) if local.key in found else local
            for local in locals_]


def concerned(path: str, keys: list[str]) -> list[str]:
    """The priorities a file's finding holds: its own priority, every priority of its
    customer for a customer's file, and every priority for a project file (fail closed)."""
    for key in keys:
        if path.startswith(priority_dir(key) + "/"):
            return [key]
    parts = path.split("/")
    if parts[0] == CUSTOMERS and len(parts) > 2:
        return [k for k in keys if k.split("/")[0] == parts[1]]
    return list(keys)


# --- one priority -------------------------------------------------------------------------

def load_local(root: str, key: str, project: ProjectSpec) -> Local:
    status, status_problem = _status(root, key)
    problems = (status_problem,) if status_problem else ()
    doc, findings = load_document(root, f"{priority_dir(key)}/priority.yaml")
    if doc is None:
        where = findings[0].render() if findings else "priority.yaml"
        return Local(key, None, status, (*problems, f"the spec cannot be read ({where})"))
    priority: Priority = doc.model
    events, event_problems = _events(root, key)
    if status is not None:  # a value no reconciler writes is never acted on
        stages = [(s.name, s.percent) for s in priority.spec.rollout.stages]
        problems = (*problems, *status_bounds(status, stages))
    local = Local(key, spec_view(priority, project), status, (*problems, *event_problems),
                  events=events,
                  gates=tuple(g.model_dump() for g in priority.spec.monitoring.gates),
                  monitoring_file=priority.spec.monitoring.file,
                  monitoring_provider=priority.spec.monitoring.provider,
                  monitoring_prometheus=(priority.spec.monitoring.prometheus.model_dump()
                                         if priority.spec.monitoring.prometheus else None),
                  self_contained=_inside_folder(priority))
    return _with_evidence(root, key, priority, local)


def _inside_folder(priority: Priority) -> bool:
    """Whether everything the priority's evidence id is computed from is in its folder (the
    cache signs the folder only). Declared inputs are elsewhere by design."""
    if priority.spec.workflow.inputs:
        return False
    refs = [priority.spec.dry_run.dataset, priority.spec.workflow.replay or ""]
    return all(not os.path.normpath(r).startswith("..") for r in refs)


def spec_view(priority: Priority, project: ProjectSpec) -> SpecView:
    spec = priority.spec
    floor = project.min_bake_time_high_risk if spec.risk in _HIGH_RISK else timedelta(0)
    stages = tuple(StageView(s.name, s.percent, max(s.bake_time, floor),
                             tuple((r.roles, r.count)
                                   for r in stage_requirements("", priority, s.name)),
                             Setting(s.human_review.sample, s.human_review.min_agreement)
                             if s.human_review else None,
                             segment_text(s.targeting))
                   for s in spec.rollout.stages)
    cadence = spec.review.cadence if spec.review else None
    return SpecView(spec.owner, spec.rollout.target, stages,
                    tuple(gate_name(g) for g in spec.monitoring.gates),
                    spec.monitoring.reaction, cadence, spec.workflow.version)


def _status(root: str, key: str) -> tuple[StatusBody | None, str]:
    rel = f"{priority_dir(key)}/{STATUS_FILE}"
    if not os.path.lexists(os.path.join(root, rel)):
        return None, ""
    doc, findings = load_document(root, rel)
    if doc is None:
        where = findings[0].render() if findings else rel
        return None, f"status.yaml cannot be read ({where})"
    body: StatusBody = doc.model.status
    return body, ""


def _events(root: str, key: str) -> tuple[tuple[EventView, ...], tuple[str, ...]]:
    rel_dir = f"{priority_dir(key)}/events"
    try:
        names = sorted(os.listdir(os.path.join(root, rel_dir)))
    except (FileNotFoundError, NotADirectoryError):
        return (), ()
    views: list[EventView] = []
    problems: list[str] = []
    for name in names:
        if not name.endswith((".yaml", ".yml")) or name.startswith("."):
            continue
        doc, findings = load_document(root, f"{rel_dir}/{name}")
        if doc is None:
            where = findings[0].render() if findings else name
            problems.append(f"an event cannot be read ({where})")
            continue
        views.append(event_view(doc.kind, doc.model))
    return tuple(views), tuple(problems)


def event_view(kind: str, model: Any) -> EventView:
    spec = model.spec
    name = model.metadata.name
    when = spec.time.astimezone(UTC)
    if kind == "Incident":
        return EventView(kind, name, when, spec.severity, spec.resolved, spec.summary,
                         spec.reported_by)
    if kind == "Feedback":
        return EventView(kind, name, when, summary=spec.text, by=spec.author,
                         cases=tuple(spec.case_ids))
    return EventView(kind, name, when, summary=spec.reason, by=spec.requested_by)


def _with_evidence(root: str, key: str, priority: Priority, local: Local) -> Local:
    from pipeline.documents.evidence import (
        fingerprint,
        read_evidence_with_problems,
        regression_results,
    )

    local = replace(local, version=priority.spec.workflow.version)
    try:
        fp = fingerprint(root, key, priority)
    except InputError as e:
        return replace(local, evidence_problem=str(e))
    found, _problems = read_evidence_with_problems(root, key)
    matching = [s for s in found if s.evidence_id == fp.evidence_id]
    view = _view(matching[-1], regression_results(root, matching[-1].path)) if matching \
        else None
    digests = {s.evidence_id: s.fingerprint.workflow for s in found}
    return replace(local, evidence_id=fp.evidence_id, matching=view,
                   workflow_digest=fp.workflow, status=_digests_filled(local.status, digests),
                   regression=_regression_cases(root, key, priority))


def _regression_cases(root: str, key: str, priority: Priority) -> tuple[RegressionView, ...]:
    """The dataset's regression cases, with who added each (never its confirmer). A dataset
    without the word is not parsed again (the fingerprint has read it already)."""
    from pipeline.documents.dataset import case_digest, parse_dataset, regression_cases

    abs_path, rel = resolve_inside(root, priority_dir(key), priority.spec.dry_run.dataset)
    try:
        with open(abs_path, "rb") as fh:
            raw = fh.read()
    except OSError:
        return ()
    if b'"regression"' not in raw:
        return ()
    try:
        cases = regression_cases(parse_dataset(raw, rel))
    except InputError:
        return ()  # validate reports it, and holds the priority
    people = people_of(_customer(root, key.split("/")[0]))
    return tuple(RegressionView(c.id, case_digest(c), c.regression.incident if c.regression
                                else "", _authors(root, rel, c.id, people)) for c in cases)


def _customer(root: str, customer: str) -> Customer | None:
    doc, _ = load_document(root, f"{CUSTOMERS}/{customer}/customer.yaml")
    return doc.model if doc is not None and isinstance(doc.model, Customer) else None


def _authors(root: str, rel: str, case_id: str, people: list[Person]) -> tuple[str, ...]:
    """Who wrote or changed the case (every commit touching its line); "?" for a commit
    whose author is not in customer.yaml; () when git cannot tell (not committed yet)."""
    try:
        emails = git.line_authors(root, "HEAD", rel, json.dumps(case_id))
    except AiloopError:
        return ()
    found = [person_by_email(people, email) for email in emails]
    return tuple(sorted({p.id if p else "?" for p in found}))


def _digests_filled(status: StatusBody | None, digests: dict[str, str]) -> StatusBody | None:
    """A status migrated from the old format names its versions by evidence id only: the
    code digest is in that evidence's fingerprint (the version, when the spec on disk has
    the same fingerprint, is filled in by the planner)."""
    if status is None:
        return None
    changes: dict[str, Any] = {}
    for which in ("serving", "candidate"):
        held = getattr(status, which)
        if held is not None and not held.workflow_digest and held.evidence_id in digests:
            changes[which] = held.model_copy(
                update={"workflow_digest": digests[held.evidence_id]})
    return status.model_copy(update=changes) if changes else status


# --- live inputs --------------------------------------------------------------------------

MonitoringFactory = Callable[[Local], MonitoringSource | None]


def default_monitoring(root: str, project: ProjectSpec) -> MonitoringFactory:
    """The provider each priority uses: its own override, else the project's."""
    from pipeline.monitoring.file import JsonlMonitoring

    sources: dict[str, JsonlMonitoring] = {}

    def factory(local: Local) -> MonitoringSource | None:
        provider = local.monitoring_provider or project.monitoring.provider
        if provider == "prometheus":
            return _prometheus(root, project, local)
        if provider != "file":
            return None
        rel = local.monitoring_file or (project.monitoring.file.path
                                        if project.monitoring.file else None)
        if rel is None:
            return None
        path = os.path.join(root, rel)
        if path not in sources:
            sources[path] = JsonlMonitoring(path, project.monitoring.max_staleness)
        return sources[path]

    return factory


def _prometheus(root: str, project: ProjectSpec, local: Local) -> MonitoringSource | None:
    """Prometheus over HTTP; a missing URL means no source (the gates hold)."""
    import httpx

    from pipeline.model.priority import Monitoring
    from pipeline.monitoring.sources import source_for

    override = Monitoring.model_validate({"provider": "prometheus",
                                          "prometheus": local.monitoring_prometheus})
    try:
        return source_for(root, project, override, httpx.Client())
    except InputError:
        return None


def plan_inputs(state: RepoState, now: datetime, approvals: ApprovalSource,
                monitoring: MonitoringFactory, head: str = "") -> list[PriorityInput]:
    return [_input(state, local, now, approvals, monitoring, head) for local in state.locals]


def _input(state: RepoState, local: Local, now: datetime, approvals: ApprovalSource,
           monitoring: MonitoringFactory, head: str) -> PriorityInput:
    status = local.status if local.status is not None else _NO_STATUS
    inp = PriorityInput(local.key, local.spec, status, local.problems, local.evidence_id,
                        local.evidence_problem, local.evidence, local.version,
                        local.workflow_digest, unverified=local.unverified, events=local.events,
                        roles=state.roles.get(local.key.split("/")[0]), head=head,
                        findings=local.findings, regression=local.regression,
                        governance=state.governance.hold)
    if local.spec is None or local.problems:
        return inp
    if _may_promote(local, status) and not local.findings:
        inp = _with_approvals(inp, approvals)
        inp = _with_reviews(inp, state, local)
    candidate = status.candidate
    if local.gates and candidate is not None and candidate.stage is not None:
        inp = _with_readings(inp, local, candidate.stage, now, monitoring, CANDIDATE)
    elif local.gates and status.serving is not None:
        inp = _with_readings(inp, local, None, now, monitoring, SERVING)
    return inp


def _may_promote(local: Local, status: StatusBody) -> bool:
    """Only the version on disk, with passing evidence and below its target, can use
    approvals (the serving version has nothing left to approve)."""
    spec = local.spec
    if spec is None or local.evidence is None or not local.evidence.passed:
        return False
    if status.serving is not None and status.serving.evidence_id == local.evidence_id:
        return False
    candidate = status.candidate
    same = candidate is not None and candidate.evidence_id == local.evidence_id
    here = spec.index(candidate.stage) if same and candidate is not None else None
    target = spec.index(spec.target)
    return target is not None and (here is None or here <= target)


def _with_approvals(inp: PriorityInput, source: ApprovalSource) -> PriorityInput:
    try:
        return replace(inp, approvals=tuple(source.approvals(inp.key)))
    except ExternalError as e:
        return replace(inp, approvals=None, approvals_problem=str(e),
                       unreachable=(*inp.unreachable, "approvals"))


def _with_reviews(inp: PriorityInput, state: RepoState, local: Local) -> PriorityInput:
    """The human review files, read only where a stage asks for them (git and maybe
    GitHub are asked who labelled each)."""
    spec = local.spec
    if spec is None or not any(s.human_review for s in spec.stages) or \
            local.evidence is None or local.evidence_id is None:
        return inp
    from pipeline.humanreview.labels import ReviewContext, read_reviews

    roles = {s.name: tuple(dict.fromkeys(r for roles, _ in s.approvals for r in roles))
             or HUMAN_ROLES for s in spec.stages}
    # The labels are compared with the trusted run's verdicts: a file a pull request
    # rewrote since (shown as unverified) is not read for them, and the review holds.
    trusted = local.evidence.path if local.unverified is None else ""
    ctx = ReviewContext(state.root, local.key, local.evidence_id, trusted, roles,
                        state.project.approvals, os.environ)
    try:
        return replace(inp, reviews=read_reviews(ctx))
    except ExternalError as e:
        return replace(inp, reviews=None, reviews_problem=str(e),
                       unreachable=(*inp.unreachable, "reviews"))


def _share(local: Local, stage: str | None, variant: Variant) -> float | None:
    """The candidate's share of traffic the flag sets at STAGE (None when unknown)."""
    if variant != CANDIDATE or local.spec is None:
        return None
    index = local.spec.index(stage)
    return None if index is None else local.spec.stages[index].percent / 100


def _segmented(local: Local, stage: str | None) -> bool:
    """Whether STAGE has a segment: its split is then counted inside the segment only."""
    index = local.spec.index(stage) if local.spec is not None else None
    return local.spec is not None and index is not None and bool(
        local.spec.stages[index].segment)


def _with_readings(inp: PriorityInput, local: Local, stage: str | None, now: datetime,
                   factory: MonitoringFactory, variant: Variant) -> PriorityInput:
    source = factory(local)
    if source is None:
        return replace(inp, readings_problem="no monitoring provider is configured for it")
    try:
        gates = [MonitoringGate.model_validate(g) for g in local.gates]
        readings: list[GateReading] = source.readings(
            local.key, stage, gates, now, variant, _share(local, stage, variant),
            segmented=_segmented(local, stage))
    except ExternalError as e:
        return replace(inp, readings_problem=str(e),
                       unreachable=(*inp.unreachable, "monitoring"))
    return replace(inp, readings=tuple(readings))


# --- the cache ----------------------------------------------------------------------------

Signature = tuple[tuple[str, bytes, int], ...]


def folder_signature(folder: str) -> tuple[Signature, bool]:
    """(name, stat key, mode) of every file under `folder` (the stat key has the ctime and
    inode: rsync -a, tar and cp -a set an mtime back, nothing sets a ctime back), and
    whether the folder can be trusted to the signature: every file old enough (a file
    changed within the racy window may change again in the same tick) and no symlink (what
    a link leads to changes without changing the link)."""
    out: list[tuple[str, bytes, int]] = []
    newest = 0
    linked = False
    stack = [("", folder)]
    while stack:
        rel, path = stack.pop()
        try:
            entries = list(os.scandir(path))
        except OSError:
            continue
        for entry in entries:
            if entry.name == "__pycache__":
                continue
            name = f"{rel}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                stack.append((name + "/", entry.path))
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            linked = linked or entry.is_symlink()
            out.append((name, stat_key(st), st.st_mode))
            newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    out.sort()
    return tuple(out), settled_ns(newest, time.time()) and not linked


class _LocalCache:
    def __init__(self, root: str, project: ProjectSpec, enabled: bool) -> None:
        self.root = root
        self.project = project
        self.enabled = enabled
        self.path = os.path.join(cache_dir(root), "reconcile.pickle")
        self.salt = _salt(project) if enabled else ""
        # key -> the folder's signature, what its regression cases' authors were read
        # from (see _authors_context), what was loaded
        self.entries: dict[str, tuple[Signature, str, Local]] = {}
        self.dirty = False
        if enabled:
            self._read()

    def _read(self) -> None:
        data = store.load_or_none(self.path, self.salt, _records())
        entries = data.get("entries") if isinstance(data, dict) else None
        if isinstance(entries, dict):
            self.entries = entries

    def get(self, key: str) -> Local:
        if not self.enabled:
            return load_local(self.root, key, self.project)
        signature, trusted = folder_signature(os.path.join(self.root, priority_dir(key)))
        known = self.entries.get(key)
        if known is not None and known[0] == signature \
                and known[1] == self._authors_context(key, known[2]):
            return known[2]
        local = load_local(self.root, key, self.project)
        # Who wrote a regression case is read from git: unknown (not committed yet) is
        # asked again next time, never remembered.
        if trusted and local.self_contained and all(r.authors for r in local.regression):
            self.entries[key] = (signature, self._authors_context(key, local), local)
            self.dirty = True
        return local

    def _authors_context(self, key: str, local: Local) -> str:
        """What the authors of the priority's regression cases were read from, besides its
        folder: the history up to HEAD (an amended commit changes who wrote a case) and
        the customer's people (who an e-mail address belongs to). A regression case's
        author may not confirm it, so a stale "?" would let them."""
        if not local.regression:
            return ""
        customer = os.path.join(self.root, CUSTOMERS, key.split("/")[0], "customer.yaml")
        try:
            people = stat_key(os.lstat(customer)).hex()
        except OSError:
            people = "-"
        return f"{self._head}\0{people}"

    @functools.cached_property
    def _head(self) -> str:
        return git.loose_head(self.root) or git.head(self.root)

    def save(self) -> None:
        if not (self.enabled and self.dirty):
            return
        # A cache that cannot be written is skipped: the next run reads the folders again.
        store.save(self.path, self.salt, {"entries": self.entries}, _records())


def _records() -> tuple[type, ...]:
    """What the cache's entries hold besides builtin data (see pipeline.cache.store)."""
    from datetime import date, datetime, timedelta, timezone

    from pydantic_core import TzInfo

    models = tuple(v for v in vars(status_model).values()
                   if isinstance(v, type) and issubclass(v, Model))
    return (Local, SpecView, StageView, Setting, EventView, EvidenceView, RegressionView,
            *models,
            date, datetime, timedelta, timezone, TzInfo)


def _salt(project: ProjectSpec) -> str:
    digest = hashlib.sha1(checker_fingerprint().encode())
    digest.update(project.model_dump_json().encode())
    return digest.hexdigest()


