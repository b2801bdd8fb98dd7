"""The validate hook: policies, guardrails and waivers over a repository's documents.

`policy_findings` is the imperative shell: it reads the policy, waiver and project files,
builds each target document's Subject from the per-file facts, calls the pure `evaluate`
and gives each violation its file position. On a cold run validate's worker processes
judge each document while they have it parsed (see `Judge`); here only what they did not.

Results are cached (see `pipeline/validate/policy_cache.py`): the repository-wide part (project
findings, policy and waiver findings, the waivers in force) by the blobs it was read from
and the date, and each document's findings by its blob, its customer's blob and those
inputs. A fully cached run therefore imports neither pydantic nor CEL; rules are compiled
only when some document has to be judged again.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pipeline.documents.findings import Finding, format_field_path
from pipeline.documents.layout import CUSTOMERS, PROJECT_FILE
from pipeline.errors import InputError
from pipeline.validate.checks import FileResult, check_file, check_parsed
from pipeline.validate.policy_cache import Phase, PolicyCache

if TYPE_CHECKING:
    from pipeline.documents.yamlio import Loaded
    from pipeline.policy.expr import SharedContexts
    from pipeline.policy.rules import Env, PolicySet, Violation
    from pipeline.policy.waivers import ActiveWaiver

_SUBJECT_KINDS = ("Priority", "Customer")


@dataclass
class _Customers:
    """Customer facts by name, from the validate results or read on demand."""

    root: str
    results: Mapping[str, FileResult]
    seen: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    def __call__(self, name: str) -> dict[str, Any] | None:
        if name not in self.seen:
            rel = f"{CUSTOMERS}/{name}/customer.yaml"
            result = self.results.get(rel)
            if result is None:
                result = check_file(self.root, rel)
            self.seen[name] = customer_view(name, result.facts)
        return self.seen[name]


def customer_view(name: str, facts: Mapping[str, Any]) -> dict[str, Any] | None:
    """What rules see as `customer`: name, labels, people (ids) and roles (role -> ids)."""
    if facts.get("kind") != "Customer":
        return None
    return {"name": name, "labels": dict(facts.get("labels", {})),
            "people": list(facts.get("people", [])),
            "roles": {k: list(v) for k, v in facts.get("roles", {}).items()}}


def policy_findings(root: str, documents: list[str], targets: list[str],
                    results: Mapping[str, FileResult], now: datetime,
                    cache: PolicyCache | None = None, judge: Judge | None = None,
                    judged: Mapping[str, tuple[Finding, ...]] | None = None) -> list[Finding]:
    """`judge`: the run's Judge (its `now` must be `now`); `judged`: findings (before
    waivers) the workers computed for documents they checked, by path."""
    cache = cache or PolicyCache(root, documents, None, {})
    judge = judge or Judge(root, documents, now)
    judge.customers.results = results
    judged = judged or {}
    phase = cache.phase(now.date(), judge.phase)
    subjects = [(rel, key, str(kind)) for rel in targets
                if (kind := results[rel].facts.get("kind")) in _SUBJECT_KINDS
                and (key := _key(rel, str(kind)))]
    keys = {key for _, key, _ in subjects}
    out: list[Finding] = []
    if subjects or PROJECT_FILE in targets:
        out.extend(phase.project_findings)
    out.extend(f for f in phase.policy_problems if subjects or f.path in targets)
    for path, target, problems in phase.waiver_problems:
        if path in targets or any(k == target or k.startswith(target + "/") for k in keys):
            out.extend(problems)
    context = cache.context(phase, now)
    for rel, key, kind in subjects:
        found = cache.document(rel, key, context)
        if found is None:
            found = judged.get(rel)
            if found is None:
                found = tuple(judge.judge(rel, key, kind, results[rel].facts))
            cache.remember(rel, key, context, found)
        out.extend(f for f in found if not phase.waived(f.rule, key))
    return out


class Judge:
    """A document's policy findings before waivers: the guardrails that need the project
    file or the customer, and the repo rules. pydantic, the models and CEL are imported
    only here, so a fully cached run never loads them.

    validate makes one per run and calls `prepare` before its worker processes fork: each
    worker then inherits the compiled rules and judges the documents it has just parsed.
    """

    def __init__(self, root: str, documents: list[str], now: datetime) -> None:
        self.root, self.documents, self.now = root, documents, now
        self.customers = _Customers(root, {})
        self.contexts: SharedContexts | None = None  # made when first judging (imports CEL)

    @functools.cached_property
    def env(self) -> tuple[Env, list[Finding]]:
        return load_env(self.root, self.documents, self.now)

    @functools.cached_property
    def policy_set(self) -> tuple[PolicySet, list[Finding]]:
        from pipeline.policy.compiler import load_policy_set

        return load_policy_set(self.root, self.documents)

    @functools.cached_property
    def uses(self) -> frozenset[str]:
        """The variables the repo rules read (`repo` needs every document listed)."""
        uses: frozenset[str] = frozenset()
        for rule in self.policy_set[0].rules:
            uses |= rule.condition.uses
            for part in rule.message:
                if not isinstance(part, str):
                    uses |= part.uses
        return uses

    def prepare(self) -> None:
        """Read the project file and compile the rules now (before a fork)."""
        _ = self.env, self.policy_set

    def phase(self) -> Phase:
        policy_set, policy_problems = self.policy_set
        waivers, waiver_problems = load_waivers(self.root, self.documents, policy_set,
                                                self.customers, self.now.date())
        project_findings = self.env[1]
        return Phase(tuple(project_findings), tuple(policy_problems),
                     tuple((p, t, tuple(f)) for p, t, f in waiver_problems),
                     tuple((w.rule, w.target) for w in waivers), self.uses)

    def judge(self, rel: str, key: str, kind: str, facts: Mapping[str, Any]) -> list[Finding]:
        """A document whose result came from the cache has no data: it is parsed again."""
        loaded = None
        if "data" not in facts and self.policy_set[0].rules:
            result, loaded = check_parsed(self.root, rel)
            facts = result.facts
        return self._judge(rel, key, kind, facts, loaded)

    def judge_parsed(self, rel: str, result: FileResult,
                     loaded: Loaded | None) -> tuple[Finding, ...] | None:
        """The findings of a document just checked, or None when policies do not judge it."""
        kind = str(result.facts.get("kind"))
        key = _key(rel, kind) if kind in _SUBJECT_KINDS else None
        if key is None:
            return None
        return tuple(self._judge(rel, key, kind, result.facts, loaded))

    def _judge(self, rel: str, key: str, kind: str, facts: Mapping[str, Any],
               loaded: Loaded | None) -> list[Finding]:
        from pipeline.policy.engine import evaluate
        from pipeline.policy.expr import SharedContexts
        from pipeline.policy.rules import PolicySet, Subject

        env, (policy_set, _) = self.env[0], self.policy_set
        self.contexts = self.contexts or SharedContexts()
        customer = self.customers(key.split("/")[0])
        out: list[Finding] = []
        if kind == "Priority":
            out.extend(facts.get("guardrails", ()))
            out.extend(bake_time_findings(rel, facts, env))
            out.extend(owner_findings(rel, facts, customer))
        data = facts.get("data")
        if policy_set.rules and isinstance(data, dict):
            subject = Subject(key, kind, data, customer)
            violations = evaluate(subject, env, PolicySet(policy_set.rules, guardrails=False),
                                  self.contexts)
            if violations:
                out.extend(position(self.root, rel, violations, loaded))
        return out


def _key(rel: str, kind: str) -> str | None:
    parts = rel.split("/")
    if parts[0] != CUSTOMERS or len(parts) < 3:
        return None
    return f"{parts[1]}/{parts[2]}" if kind == "Priority" else parts[1]


def bake_time_findings(rel: str, facts: Mapping[str, Any], env: Env) -> list[Finding]:
    from pipeline.policy.guardrails import bake_time_message
    from pipeline.policy.rules import MIN_BAKE_TIME_HIGH_RISK

    minimum = max(env.min_bake_time_high_risk, MIN_BAKE_TIME_HIGH_RISK)
    out = []
    for i, name, seconds, line, col in facts.get("bake_times", ()):
        if seconds < minimum.total_seconds():
            message = bake_time_message(facts["risk"], name, minimum, timedelta(seconds=seconds))
            out.append(Finding(rel, line, col, f"spec.rollout.stages[{i}].bakeTime", message,
                               "guardrail/bake-time"))
    return out


def owner_findings(rel: str, facts: Mapping[str, Any],
                   customer: dict[str, Any] | None) -> list[Finding]:
    from pipeline.policy.guardrails import owner_message

    owner_at = facts.get("owner_at")
    if customer is None or not owner_at or owner_at[0] in customer["people"]:
        return []
    owner, line, col = owner_at
    return [Finding(rel, line, col, "spec.owner", owner_message(owner, customer),
                    "guardrail/owner-exists")]


def _customer_names(documents: list[str]) -> set[str]:
    """Customer names from document paths (string work: pathlib is slow over 10k paths)."""
    return {p[1] for d in documents if (p := d.split("/"))[0] == CUSTOMERS and len(p) >= 3}


def load_env(root: str, documents: list[str], now: datetime) -> tuple[Env, list[Finding]]:
    from pipeline.documents.load import load_document
    from pipeline.policy.guardrails import PROJECT_BAKE_FIELD, project_bake_time
    from pipeline.policy.rules import Env

    customers = tuple(sorted(_customer_names(documents)))
    priorities = sum(1 for d in documents if d.endswith("/priority.yaml"))
    doc, _ = load_document(root, PROJECT_FILE)
    if doc is None:  # a missing or invalid ailoop.yaml has its own findings
        return Env(now, customers=customers, priorities=priorities), []
    project = doc.model.model_dump(mode="python", by_alias=True)["spec"]
    minimum = doc.model.spec.min_bake_time_high_risk
    findings = []
    message = project_bake_time(minimum)
    if message is not None:
        findings.append(doc.finding(PROJECT_BAKE_FIELD, message, rule="guardrail/bake-time"))
    return Env(now, minimum, project, customers, priorities), findings


def load_waivers(root: str, documents: list[str], policy_set: PolicySet, customers: _Customers,
                 today: date) -> tuple[list[ActiveWaiver], list[tuple[str, str, list[Finding]]]]:
    from pipeline.documents.load import load_document
    from pipeline.policy.guardrails import BY_ID
    from pipeline.policy.waivers import check_waiver, waiver_files

    rules = frozenset(BY_ID) | policy_set.rule_ids
    targets = frozenset(_customer_names(documents)
                        | {d[len(CUSTOMERS) + 1:-len("/priority.yaml")] for d in documents
                           if d.startswith(CUSTOMERS + "/") and d.endswith("/priority.yaml")})
    active: list[ActiveWaiver] = []
    problems: list[tuple[str, str, list[Finding]]] = []
    for rel in waiver_files(documents):
        doc, load_problems = load_document(root, rel)
        if doc is None:
            problems.append((rel, "", load_problems))
            continue
        waiver, found = check_waiver(doc, rules, targets, customers, today)
        if waiver is not None:
            active.append(waiver)
        problems.append((rel, doc.model.spec.target, found))
    return active, problems


def position(root: str, rel: str, violations: list[Violation],
             loaded: Loaded | None = None) -> list[Finding]:
    """Findings at each violation's field, located in `loaded` (the document's parse) or,
    when the caller has none, in a fresh parse of the file."""
    from pipeline.documents.yamlio import read_yaml

    if loaded is None:
        try:
            loaded = read_yaml(f"{root}/{rel}", rel)
        except (InputError, OSError):  # the file changed under us: point at its top instead
            loaded = None
    out = []
    for v in violations:
        (line, col), kept = loaded.locate(v.loc) if loaded is not None else ((1, 1), v.loc)
        out.append(Finding(rel, line, col, format_field_path(kept), v.message, v.rule,
                           v.severity))
    return out
