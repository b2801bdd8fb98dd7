"""The validate hook: policies, guardrails and waivers over a repository's documents.

`policy_findings` is the imperative shell: it reads the policy, waiver and project files,
builds each target document's Subject from the per-file facts, calls the pure `evaluate`
and gives each violation its file position (re-reading only files that have one).

Results are cached (see `pipeline/policy/cached.py`): the repository-wide part (project
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

from pipeline.checks import FileResult, check_file
from pipeline.errors import InputError
from pipeline.findings import Finding, format_field_path
from pipeline.layout import CUSTOMERS, PROJECT_FILE
from pipeline.policy.cached import Phase, PolicyCache

if TYPE_CHECKING:
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
                    cache: PolicyCache | None = None) -> list[Finding]:
    cache = cache or PolicyCache(root, documents, None, {})
    customers = _Customers(root, results)
    heavy = _Heavy(root, documents, now, customers)
    phase = cache.phase(now.date(), heavy.phase)
    judged = [(rel, key, str(kind)) for rel in targets
              if (kind := results[rel].facts.get("kind")) in _SUBJECT_KINDS
              and (key := _key(rel, str(kind)))]
    keys = {key for _, key, _ in judged}
    out: list[Finding] = []
    if judged or PROJECT_FILE in targets:
        out.extend(phase.project_findings)
    out.extend(f for f in phase.policy_problems if judged or f.path in targets)
    for path, target, problems in phase.waiver_problems:
        if path in targets or any(k == target or k.startswith(target + "/") for k in keys):
            out.extend(problems)
    context = cache.context(phase, now)
    for rel, key, kind in judged:
        found = cache.document(rel, key, context)
        if found is None:
            found = tuple(heavy.judge(rel, key, kind, results[rel].facts))
            cache.remember(rel, key, context, found)
        out.extend(f for f in found if not phase.waived(f.rule, key))
    return out


class _Heavy:
    """The work behind a cache miss; pydantic, the models and CEL are imported only here."""

    def __init__(self, root: str, documents: list[str], now: datetime,
                 customers: _Customers) -> None:
        self.root, self.documents, self.now, self.customers = root, documents, now, customers

    @functools.cached_property
    def env(self) -> tuple[Env, list[Finding]]:
        return load_env(self.root, self.documents, self.now)

    @functools.cached_property
    def policy_set(self) -> tuple[PolicySet, list[Finding]]:
        from pipeline.policy.compiler import load_policy_set

        return load_policy_set(self.root, self.documents)

    def phase(self) -> Phase:
        policy_set, policy_problems = self.policy_set
        waivers, waiver_problems = load_waivers(self.root, self.documents, policy_set,
                                                self.customers, self.now.date())
        project_findings = self.env[1]
        uses: frozenset[str] = frozenset()
        for rule in policy_set.rules:
            uses |= rule.condition.uses
            for part in rule.message:
                if not isinstance(part, str):
                    uses |= part.uses
        return Phase(tuple(project_findings), tuple(policy_problems),
                     tuple((p, t, tuple(f)) for p, t, f in waiver_problems),
                     tuple((w.rule, w.target) for w in waivers), uses)

    def judge(self, rel: str, key: str, kind: str, facts: Mapping[str, Any]) -> list[Finding]:
        if "data" not in facts and self.policy_set[0].rules:
            facts = check_file(self.root, rel).facts  # the cache keeps no document data
        return _judge(self.root, rel, key, kind, facts, self.env[0], self.policy_set[0],
                      self.customers)


def _key(rel: str, kind: str) -> str | None:
    parts = rel.split("/")
    if parts[0] != CUSTOMERS or len(parts) < 3:
        return None
    return f"{parts[1]}/{parts[2]}" if kind == "Priority" else parts[1]


def _judge(root: str, rel: str, key: str, kind: str, facts: Mapping[str, Any], env: Env,
           policy_set: PolicySet, customers: _Customers) -> list[Finding]:
    from pipeline.policy.data import open_data
    from pipeline.policy.engine import evaluate
    from pipeline.policy.rules import PolicySet, Subject

    customer = customers(key.split("/")[0])
    out: list[Finding] = []
    if kind == "Priority":
        out.extend(facts.get("guardrails", ()))
        out.extend(bake_time_findings(rel, facts, env))
        out.extend(owner_findings(rel, facts, customer))
    if policy_set.rules:
        data = open_data(facts.get("data"))
        if data is not None:
            subject = Subject(key, kind, data, customer)
            violations = evaluate(subject, env, PolicySet(policy_set.rules, guardrails=False))
            if violations:
                out.extend(position(root, rel, violations, facts.get("at") or {}))
    return out


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
    from pipeline.load import load_document
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
    from pipeline.load import load_document
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


def rule_locs(root: str, documents: list[str]) -> tuple[tuple[str | int, ...], ...]:
    """The fields the repo rules point at, for the workers to position while they have
    each document parsed (unreadable policy files simply contribute none)."""
    from pipeline.load import load_document
    from pipeline.policy.compiler import policy_files
    from pipeline.policy.paths import parse_field_path

    out: set[tuple[str | int, ...]] = set()
    # Policy files live in policies/: no need to ask every priority's path its kind.
    for rel in policy_files([d for d in documents if d.startswith("policies/")]):
        doc, _ = load_document(root, rel)
        for rule in doc.model.spec.rules if doc is not None else ():
            try:
                out.add(parse_field_path(rule.field) if rule.field else ())
            except InputError:
                continue
    return tuple(sorted(out, key=repr))


def position(root: str, rel: str, violations: list[Violation],
             at: Mapping[Any, Any] | None = None) -> list[Finding]:
    """Findings at each violation's field: from `at` (positions the worker took while it
    had the file parsed) or, failing that, by parsing the file again."""
    from pipeline.yamlio import Loaded, read_yaml

    at = at or {}
    loaded: Loaded | None = None
    if any(v.loc not in at for v in violations):
        try:
            loaded = read_yaml(f"{root}/{rel}", rel)
        except (InputError, OSError):  # the file changed under us: point at its top instead
            loaded = None
    out = []
    for v in violations:
        if v.loc in at:
            (line, col), kept = at[v.loc]
        else:
            (line, col), kept = loaded.locate(v.loc) if loaded is not None else ((1, 1), v.loc)
        out.append(Finding(rel, line, col, format_field_path(kept), v.message, v.rule,
                           v.severity))
    return out
