"""Build small reconciler repositories: one customer, priorities with four stages, evidence,
approval files, monitoring readings and events, written in the formats the tool reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.documents.evidence import fingerprint
from pipeline.documents.load import load_document
from tests.support import add_bot_key, save_evidence

CUSTOMER = "acme"
KEY = "acme/triage"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
STAGES = (("shadow", 0, "1h"), ("canary", 5, "2h"), ("early", 25, "2h"), ("full", 100, "1h"))

PROJECT = """\
apiVersion: ailoop.dev/v1
kind: Project
metadata:
  name: reconciler-test
spec:
  approvals:
    source: file
  monitoring:
    provider: file
    file:
      path: monitoring/readings.jsonl
    maxStaleness: 30m
"""

CUSTOMER_YAML = """\
apiVersion: ailoop.dev/v1
kind: Customer
metadata:
  name: acme
spec:
  displayName: Acme
  people:
    - {id: olga, name: Olga Owner, email: olga@acme.example, roles: [customer-owner]}
    - {id: rita, name: Rita Reviewer, email: rita@acme.example, roles: [customer-reviewer]}
    - {id: rick, name: Rick Risk, email: rick@acme.example, roles: [risk-officer]}
"""

STAGE_ROLES = {"shadow": ("customer-reviewer",), "canary": ("customer-reviewer", "risk-officer"),
               "early": ("customer-reviewer", "risk-officer"),
               "full": ("customer-owner", "risk-officer")}
PEOPLE = {"customer-owner": "olga", "customer-reviewer": "rita", "risk-officer": "rick"}


def priority_yaml(name: str, target: str = "full", *, version: str = "1.0.0",
                  reaction: str = "rollback", cadence: str | None = "30d") -> str:
    stages = ""
    for stage, percent, bake in STAGES:
        roles = "".join(f"          - role: {r}\n" for r in STAGE_ROLES[stage])
        stages += (f"      - name: {stage}\n        percent: {percent}\n"
                   f"        bakeTime: {bake}\n        approvals:\n{roles}")
    review = f"  review:\n    cadence: {cadence}\n" if cadence else ""
    return f"""\
apiVersion: ailoop.dev/v1
kind: Priority
metadata:
  name: {name}
spec:
  goal: Route tickets to the right team.
  owner: olga
  inputData:
    source: support mailbox
  expectedOutput:
    description: A team name.
    format: text
  successCriteria:
    - metric: accuracy
      comparison: ">="
      threshold: 0.9
      measuredIn: dry-run
  risk: low
  roi:
    currency: EUR
    baseline:
      minutesPerCase: 5
      casesPerMonth: 1000
      costPerHour: 40
    expected:
      automationRate: 0.5
      valuePerMonth: 1500
      costPerMonth: 100
  workflow:
    provider: python
    version: "{version}"
    entrypoint: workflow.py:run
  dryRun:
    dataset: dataset.jsonl
    assertions:
      - type: equals
    thresholds:
      passRate: 1.0
  rollout:
    target: {target}
    stages:
{stages}  monitoring:
    reaction: {reaction}
    gates:
      - name: error rate
        metric: error_rate
        comparison: "<="
        threshold: 0.02
        window: 1h
        minSamples: 100
{review}"""


def make_tree(root: Path, names: tuple[str, ...] = ("triage",), target: str = "full") -> Path:
    (root / "customers" / CUSTOMER).mkdir(parents=True, exist_ok=True)
    (root / "ailoop.yaml").write_text(PROJECT)
    add_bot_key(root)
    (root / "customers" / CUSTOMER / "customer.yaml").write_text(CUSTOMER_YAML)
    for name in names:
        folder = root / "customers" / CUSTOMER / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "priority.yaml").write_text(priority_yaml(name, target))
        (folder / "dataset.jsonl").write_text('{"id": "c1", "input": {"text": "hi"}, '
                                              '"expected": "support"}\n')
        (folder / "workflow.py").write_text("def run(input):\n    return 'support'\n")
    (root / "monitoring").mkdir(exist_ok=True)
    (root / "monitoring" / "readings.jsonl").write_text("")
    return root


def set_target(root: Path, key: str, target: str) -> None:
    path = root / "customers" / key / "priority.yaml"
    text = path.read_text()
    lines = [f"    target: {target}" if ln.startswith("    target: ") else ln
             for ln in text.splitlines()]
    path.write_text("\n".join(lines) + "\n")


def evidence_id(root: Path, key: str = KEY) -> str:
    doc, findings = load_document(str(root), f"customers/{key}/priority.yaml")
    assert doc is not None, findings
    return fingerprint(str(root), key, doc.model).evidence_id


def write_evidence(root: Path, key: str = KEY, *, passed: bool = True,
                   created: datetime = T0) -> str:
    """Evidence (and its statement) of the priority as it is on disk; returns its id. It
    counts only once a trusted bot commit commits it (tests.support.commit_evidence)."""
    doc, findings = load_document(str(root), f"customers/{key}/priority.yaml")
    assert doc is not None, findings
    fp = fingerprint(str(root), key, doc.model)
    failed = 0 if passed else 1
    save_evidence(root, {
        "apiVersion": "ailoop.dev/v1", "kind": "Evidence", "id": fp.evidence_id,
        "priority": key, "created": created.isoformat().replace("+00:00", "Z"),
        "passed": passed, "fingerprint": fp.as_dict(), "provider": "python",
        "summary": {"cases": 1, "passed": 1 - failed, "failed": failed,
                    "passRate": 1.0 - failed},
        "cases": [], "failureCategories": [], "edgeCases": []})
    return fp.evidence_id


def approve(root: Path, key: str, stage: str, ev: str, roles: tuple[str, ...] | None = None,
            when: datetime = T0) -> None:
    folder = root / "customers" / key / "approvals"
    folder.mkdir(exist_ok=True)
    for role in roles if roles is not None else STAGE_ROLES[stage]:
        person = PEOPLE[role]
        (folder / f"{stage}-{person}-{ev}.yaml").write_text(
            f"apiVersion: ailoop.dev/v1\nkind: Approval\nmetadata:\n  name: {stage}-{person}\n"
            f"spec:\n  stage: {stage}\n  role: {role}\n  person: {person}\n"
            f"  evidenceId: {ev}\n  time: {when.isoformat()}\n")


def approve_all(root: Path, key: str = KEY, ev: str | None = None) -> str:
    ev = ev or evidence_id(root, key)
    for stage, _p, _b in STAGES:
        approve(root, key, stage, ev)
    return ev


def reading(key: str, when: datetime, value: float = 0.005, samples: int = 500,
            metric: str = "error_rate", variant: str = "new") -> str:
    return json.dumps({"priority": key, "metric": metric, "time": when.isoformat(),
                       "value": value, "samples": samples, "variant": variant}) + "\n"


def add_readings(root: Path, key: str, times: list[datetime], value: float = 0.005,
                 variant: str = "new") -> None:
    """Readings of the candidate ("new", the file provider's older name for it) or of the
    serving version ("serving")."""
    with open(root / "monitoring" / "readings.jsonl", "a") as fh:
        for when in times:
            fh.write(reading(key, when, value, variant=variant))


def healthy_hourly(root: Path, key: str, start: datetime, hours: int,
                   variant: str = "new") -> None:
    """A reading every 10 minutes: always fresh and enough samples; with the success rate
    and run cost a review needs to measure the ROI the spec states."""
    times = [start + timedelta(minutes=10 * i) for i in range(hours * 6 + 1)]
    add_readings(root, key, times, variant=variant)
    with open(root / "monitoring" / "readings.jsonl", "a") as fh:
        for when in times:
            fh.write(reading(key, when, 0.9, metric="success_rate", variant=variant))
            fh.write(reading(key, when, 0.05, metric="cost_per_run", variant=variant))


def incident(root: Path, key: str, name: str, severity: str = "high", resolved: bool = False,
             when: datetime = T0) -> None:
    folder = root / "customers" / key / "events"
    folder.mkdir(exist_ok=True)
    extra = "  resolved: true\n" if resolved else ""
    (folder / f"{name}.yaml").write_text(
        f"apiVersion: ailoop.dev/v1\nkind: Incident\nmetadata:\n  name: {name}\nspec:\n"
        f"  severity: {severity}\n  reportedBy: rita\n  time: {when.isoformat()}\n"
        f"  summary: Wrong team for urgent tickets.\n{extra}")


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")
