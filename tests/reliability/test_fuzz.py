"""Property-based fuzzing (hypothesis) of the loader, the validator, the policy engine and
the planner. No input gives a traceback (only ailoop's own errors, which the CLI turns
into exit 2 or 3); the planner never raises a percent when any gate input is missing.

tests/unit/test_fuzz_loader.py fuzzes the priority and customer documents through the
CLI; this module covers every other kind, whole repositories, policy rules and the plan."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.approvals.base import Approval
from pipeline.documents.layout import expected_kinds
from pipeline.documents.load import document_from
from pipeline.documents.yamlio import dump_yaml, parse_yaml
from pipeline.errors import AiloopError, InputError
from pipeline.model.scalars import typed
from pipeline.model.status import StatusBody
from pipeline.monitoring.base import GateReading
from pipeline.policy.compiler import compile_policy
from pipeline.policy.engine import evaluate
from pipeline.policy.rules import PolicySet
from pipeline.reconcile.plan import EvidenceView, PriorityInput, SpecView, StageView, plan_priority
from pipeline.validate.run import ValidateOptions, validate
from tests.support import minimal_repo
from tests.unit.policy.helpers import base_subject, env
from tests.unit.test_fuzz_loader import documents, scalars, structural_mutation

EXAMPLES: dict[str, int] = {}  # property -> examples run (the report quotes them)
FUZZ = settings(deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def fuzz(examples: int) -> settings:
    return settings(FUZZ, max_examples=examples)


def _count(name: str) -> None:
    EXAMPLES[name] = EXAMPLES.get(name, 0) + 1


# --- loader: every kind of document -------------------------------------------------------

KIND_PATHS = ["ailoop.yaml", "customers/acme/customer.yaml", "policies/p.yaml",
              "policies/waivers/w.yaml", "customers/acme/triage/events/e.yaml",
              "customers/acme/triage/status.yaml", "customers/acme/lessons.yaml",
              "customers/acme/triage/approvals/a.yaml", "lessons.yaml"]
KINDS = ["Project", "Customer", "Policy", "Waiver", "Incident", "Feedback", "ReviewRequest",
         "Status", "Lessons", "Approval", "Priority", "Nonsense"]
any_kind = st.fixed_dictionaries(
    {"apiVersion": st.sampled_from(["ailoop.dev/v1", "ailoop.dev/v2", "x"]),
     "kind": st.sampled_from(KINDS),
     "metadata": st.fixed_dictionaries({"name": st.sampled_from(["x", "acme", "", "A B"])}),
     "spec": documents, "status": documents})


@fuzz(200)
@given(rel=st.sampled_from(KIND_PATHS), data=any_kind | documents)
def test_any_document_of_any_kind_loads_or_is_a_finding(rel: str, data: Any) -> None:
    _count("loader")
    try:
        loaded = parse_yaml(dump_yaml(data), rel)
    except InputError as e:
        assert e.path == rel
        return
    doc, findings = document_from(loaded, expected_kinds(rel))
    assert (doc is None) == bool(findings)
    assert all(f.path == rel and f.line >= 1 for f in findings)


# --- validator and planner over whole mutated repositories -------------------------------

@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = minimal_repo(tmp_path_factory.mktemp("fuzz-repo") / "repo")
    (root / "policies").mkdir(exist_ok=True)
    (root / "policies/p.yaml").write_text(
        "apiVersion: ailoop.dev/v1\nkind: Policy\nmetadata:\n  name: p\nspec:\n  rules:\n"
        "    - id: house/x\n      description: x\n      condition: spec.risk != 'critical'\n"
        "      message: no critical\n")
    yield root
    shutil.rmtree(root, ignore_errors=True)


REPO_FILES = ["customers/acme/triage/priority.yaml", "customers/acme/customer.yaml",
              "ailoop.yaml", "policies/p.yaml"]
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@st.composite
def repo_mutation(draw: st.DrawFn, root: Path) -> tuple[str, bytes]:
    rel = draw(st.sampled_from(REPO_FILES))
    return rel, draw(structural_mutation([(root / rel).read_bytes()]))


def test_validate_and_plan_never_crash_on_mutated_repositories(fuzz_root: Path) -> None:
    from pipeline.reconcile.apply import make_plan

    @fuzz(120)
    @given(change=repo_mutation(fuzz_root))
    def check(change: tuple[str, bytes]) -> None:
        _count("validator+planner")
        rel, content = change
        original = (fuzz_root / rel).read_bytes()
        (fuzz_root / rel).write_bytes(content)
        try:
            report = validate(ValidateOptions(root=str(fuzz_root), use_cache=False, jobs=1,
                                              now=NOW))
            for finding in report.findings:
                assert (fuzz_root / finding.path).exists(), finding
            try:
                _state, result = make_plan(str(fuzz_root), NOW, use_cache=False)
            except AiloopError:
                return  # an input or external error: exit 2 or 3, never a traceback
            for p in result.priorities:
                cand = p.status.candidate
                assert cand is None or cand.stage is None or cand.percent in (0, 25, 100)
        finally:
            (fuzz_root / rel).write_bytes(original)

    check()


# --- policy engine: random rules ------------------------------------------------------------

TOKENS = ["spec.risk", "spec.owner", "spec.rollout.stages", "spec.tags", "customer.roles",
          "metadata.name", "now", "key", "size(", ")", "[", "]", "0", "1", "-1", "1.5", "'x'",
          "==", "!=", "<", ">=", "&&", "||", "!", "in", ".", ",", "+", "/", "%", "?", ":",
          "has(", "duration('1h')", "duration('x')", "timestamp('2026-01-01T00:00:00Z')",
          "timestamp('nope')", ".matches('[')", ".matches('a.*')", ".exists(r, r == 'x')",
          "spec.nothing", "null", "true", "false", "int('7')", "double(", "string(", "''",
          "b'\\xff'", "{'a': 1}", "1/0", "spec.rollout.stages[9]", "\\", "'''", "{{", "}}"]
conditions = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map(" ".join)
messages = st.lists(st.sampled_from(["text ", "{{ ", " }}", "spec.risk", "1/0", "{{ spec.x }}",
                                     "{{ size(spec.tags) }}", "{", "}"]),
                    max_size=6).map("".join)
rules = st.lists(st.fixed_dictionaries({
    "id": st.sampled_from(["house/a", "house/b", "bad id", "guardrail/x", ""]),
    "description": st.just("x"),
    "condition": conditions,
    "message": messages,
}, optional={"field": st.sampled_from(["spec.risk", "spec.rollout.stages[0]", "nope", "..."]),
             "severity": st.sampled_from(["error", "warning", "fatal"]),
             "match": st.fixed_dictionaries({}, optional={
                 "kinds": st.lists(st.sampled_from(["Priority", "Customer", "Status"])),
                 "risk": st.lists(st.sampled_from(["low", "high", "extreme"])),
                 "customers": st.lists(st.sampled_from(["acme", "x"])),
                 "labels": st.dictionaries(st.sampled_from(["team"]), scalars)})}),
    min_size=1, max_size=3)


@fuzz(250)
@given(spec_rules=rules)
def test_random_policy_rules_compile_to_findings_or_run_without_crashing(
        spec_rules: list[dict[str, Any]]) -> None:
    _count("policy engine")
    text = dump_yaml({"apiVersion": "ailoop.dev/v1", "kind": "Policy",
                      "metadata": {"name": "p"}, "spec": {"rules": spec_rules}})
    doc, problems = document_from(parse_yaml(text, "policies/p.yaml"), frozenset({"Policy"}))
    if doc is None:
        assert problems
        return
    compiled, findings = compile_policy(doc, {})
    assert all(f.path == "policies/p.yaml" for f in findings)
    for violation in evaluate(base_subject(), env(), PolicySet(tuple(compiled),
                                                               guardrails=False)):
        assert isinstance(violation.message, str)


# --- planner: a ready priority minus any gate input never gains percent ----------------------

KEY = "acme/triage"
EV, OLD = "ev-00000000000000aa", "ev-00000000000000bb"
ROLES = ("customer-reviewer", "risk-officer")
PEOPLE = {"customer-reviewer": "rita", "risk-officer": "rick"}
STAGES = tuple(StageView(name, percent, timedelta(hours=1), tuple(((r,), 1) for r in ROLES))
               for name, percent in (("shadow", 0), ("canary", 5), ("early", 25),
                                     ("full", 100)))
SPEC = SpecView("olga", "full", STAGES, gates=("error rate",), reaction="hold")


def _approvals(evidence_id: str = EV, valid: bool = True) -> tuple[Approval, ...]:
    return tuple(Approval(KEY, s.name, role, PEOPLE[role], evidence_id, "file:x", NOW,
                          valid=valid, reason="" if valid else "forged")
                 for s in STAGES for role in ROLES)


def _reading(verdict: str, samples: int = 500) -> tuple[GateReading, ...]:
    return (GateReading("error rate", "error_rate", verdict, 0.001 if verdict == "pass" else
                        None, samples, NOW if verdict == "pass" else None, verdict),)


def ready(stage: int) -> PriorityInput:
    status = StatusBody.model_validate({
        "phase": "progressing", "stage": STAGES[stage].name,
        "percent": STAGES[stage].percent, "since": NOW - timedelta(hours=10),
        "evidenceId": EV})
    return PriorityInput(KEY, SPEC, status, evidence_id=EV,
                         evidence=EvidenceView(EV, True, 1.0, 10, 0),
                         approvals=_approvals(), readings=_reading("pass"),
                         roles=dict.fromkeys(ROLES, 1))


KNOCKOUTS: dict[str, Any] = {
    "no-evidence": lambda i: replace(i, evidence=None),
    "evidence-failed": lambda i: replace(i, evidence=EvidenceView(EV, False, 0.5, 10, 5)),
    "evidence-id-unknown": lambda i: replace(i, evidence_id=None, evidence_problem="unreadable"),
    # The spec, dataset or workflow changed: no evidence has the new id yet.
    "evidence-stale": lambda i: replace(i, evidence_id=OLD, evidence=None),
    "approvals-unreachable": lambda i: replace(i, approvals=None, approvals_problem="down",
                                               unreachable=("approvals",)),
    "approvals-none-given": lambda i: replace(i, approvals=()),
    "approvals-stale": lambda i: replace(i, approvals=_approvals(OLD)),
    "approvals-forged": lambda i: replace(i, approvals=_approvals(valid=False)),
    "readings-unreachable": lambda i: replace(i, readings=None, readings_problem="down",
                                              unreachable=("monitoring",)),
    "readings-empty": lambda i: replace(i, readings=()),
    "readings-inconclusive": lambda i: replace(i, readings=_reading("inconclusive", 0)),
    "readings-failing": lambda i: replace(i, readings=_reading("fail")),
    "spec-unreadable": lambda i: replace(i, problems=("priority.yaml: cannot read",)),
    "roles-unknown": lambda i: replace(i, roles=None),
    "not-baked": lambda i: replace(i, status=i.status.model_copy(update={
        "candidate": i.status.candidate.model_copy(update={"entered": NOW})
        if i.status.candidate else None})),
}


@pytest.mark.parametrize("stage", [0, 1, 2])
def test_a_ready_priority_promotes_one_stage(stage: int) -> None:
    """The control case: with every input present the plan does promote."""
    result = plan_priority(ready(stage), NOW)
    assert result.status.candidate is not None
    assert result.status.candidate.stage == STAGES[stage + 1].name
    assert result.primary.kind == "promote"


@fuzz(400)
@given(stage=st.integers(0, 2),
       knocked=st.lists(st.sampled_from(sorted(KNOCKOUTS)), min_size=1, max_size=4,
                        unique=True))
def test_no_plan_raises_the_percent_when_any_gate_input_is_missing(
        stage: int, knocked: list[str]) -> None:
    _count("planner")
    inp = ready(stage)
    for name in sorted(knocked, key=lambda n: n.endswith("unreachable")):
        inp = KNOCKOUTS[name](inp)  # an unreachable source last: it loads nothing
    result = plan_priority(inp, NOW)
    before = STAGES[stage]
    cand = result.status.candidate
    assert cand is None or cand.percent <= before.percent, (knocked, result.actions)
    after = SPEC.index(cand.stage) if cand is not None else None
    assert after is None or after <= stage, (knocked, result.actions)
    assert all(a.kind != "promote" for a in result.actions), (knocked, result.actions)


@fuzz(150)
@given(data=st.data())
def test_plan_on_random_statuses_never_crashes(data: st.DataObject) -> None:
    """Whatever status.yaml says (phases, stages that do not exist, odd percents), the plan
    is computed and the percent it lands on is one of the spec's stages (or zero)."""
    _count("planner")
    raw = data.draw(st.fixed_dictionaries({}, optional={
        "phase": st.sampled_from(["pending", "progressing", "holding", "rolled-back",
                                  "awaiting-approval", "complete", "dry-run", "blocked"]),
        "stage": st.sampled_from(["shadow", "canary", "early", "full", "gone", ""]),
        "percent": st.sampled_from([0, 5, 25, 100, 50, 0.5]),
        "since": st.sampled_from([NOW, NOW - timedelta(days=400), NOW + timedelta(days=1)]),
        "evidenceId": st.sampled_from([EV, OLD, "x"]),
    }))
    try:
        status = StatusBody.model_validate(typed(raw))
    except ValueError:
        return  # the loader reports an invalid status file as a finding
    inp = replace(ready(0), status=status)
    knocked = data.draw(st.lists(st.sampled_from(sorted(KNOCKOUTS)), max_size=3))
    for name in sorted(knocked, key=lambda n: n.endswith("unreachable")):
        inp = KNOCKOUTS[name](inp)
    result = plan_priority(inp, NOW)
    before = status.candidate.percent if status.candidate else 0
    cand = result.status.candidate
    assert cand is None or cand.percent in {s.percent for s in STAGES} | {before, 0}


def test_evidence_for_another_id_never_promotes() -> None:
    inp = replace(ready(0), evidence=EvidenceView(OLD, True, 1.0, 10, 0))
    assert plan_priority(inp, NOW).primary.kind != "promote"
