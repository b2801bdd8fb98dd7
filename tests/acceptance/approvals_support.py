"""Shared set-up for the approval tests: real SSH keys, a small repo, evidence files."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pipeline.documents.evidence import fingerprint
from pipeline.documents.load import load_priority
from tests.acceptance.github_fake import account_id
from tests.support import GitRepo, make_repo, minimal_repo, save_evidence

KEY = "acme/triage"
ANN_ID = account_id("Ann-Acme")  # ann's githubId; raj, eve and pat have none recorded

CUSTOMER = """\
apiVersion: ailoop.dev/v1
kind: Customer
metadata:
  name: acme
spec:
  displayName: Acme
  people:
    - id: ann
      name: Ann Example
      email: ann@acme.example
      github: Ann-Acme
      githubId: {ann_id}
      roles: [customer-owner, customer-reviewer]{ann_key}
    - id: raj
      name: Raj Example
      email: raj@acme.example
      github: raj-risk
      roles: [risk-officer]{raj_key}
    - id: eve
      name: Eve Engineer
      email: engineer@example.test
      github: eve-dev
      roles: [engineer]
    - id: pat
      name: Pat Policy
      email: pat@acme.example
      github: pat-policy
      roles: [policy-owner]
"""

PRIORITY = """\
apiVersion: ailoop.dev/v1
kind: Priority
metadata:
  name: {name}
spec:
  goal: Route support tickets to the right queue.
  owner: ann
  inputData: {{source: helpdesk}}
  expectedOutput: {{description: the queue name}}
  risk: {risk}
  successCriteria:
    - {{metric: accuracy, comparison: ">=", threshold: 0.9, measuredIn: dry-run}}
  roi:
    currency: EUR
    baseline: {{minutesPerCase: 5, casesPerMonth: 1000, costPerHour: 40}}
    expected: {{automationRate: 0.5, valuePerMonth: 1500, costPerMonth: 100}}
  workflow:
    provider: python
    version: "1.0"
    entrypoint: workflow.py:run
  dryRun:
    dataset: dataset.jsonl
    assertions: [{{type: equals}}]
    thresholds: {{passRate: 0.5}}
  rollout:
    target: canary
    stages:
      - name: shadow
        percent: 0
        bakeTime: 1h
        approvals:
          - role: customer-reviewer
      - name: canary
        percent: 25
        bakeTime: 1h
        approvals:
          - role: customer-reviewer
      - name: full
        percent: 100
        bakeTime: 1d
        approvals:
          - role: customer-owner
          - role: risk-officer
  monitoring:
    gates:
      - metric: error_rate
        comparison: "<="
        threshold: 0.05
        window: 1h
        minSamples: 10
"""


def keygen(folder: Path, name: str) -> Path:
    """A real ed25519 key pair made by ssh-keygen; returns the private key's path."""
    path = folder / name
    subprocess.run(["ssh-keygen", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path), "-q"],
                   check=True, capture_output=True)
    return path


def customer_yaml(ann_key: Path | None = None, raj_key: Path | None = None) -> str:
    def key_line(path: Path | None) -> str:
        if path is None:
            return ""
        return f'\n      signingKey: "{Path(str(path) + ".pub").read_text().strip()}"'

    return CUSTOMER.format(ann_key=key_line(ann_key), raj_key=key_line(raj_key), ann_id=ANN_ID)


def fill(work: Path, customer: str, risk: str = "high") -> None:
    """The minimal repo with a triage priority (shadow needs a reviewer, canary a reviewer
    and, at high risk, by guardrail a risk-officer) and a second priority 'billing' like it.
    At high risk the spec breaks guardrails on purpose (short bakes, no risk-officer listed),
    so the approval gates are seen to apply them anyway; the reconciler would hold it, so
    stories that reconcile take risk medium."""
    minimal_repo(work)
    (work / "customers/acme/customer.yaml").write_text(customer)
    triage = PRIORITY.format(name="triage", risk=risk)
    (work / "customers/acme/triage/priority.yaml").write_text(triage)
    billing = work / "customers/acme/billing"
    billing.mkdir()
    for name in ("dataset.jsonl", "workflow.py"):
        (billing / name).write_bytes((work / "customers/acme/triage" / name).read_bytes())
    (billing / "priority.yaml").write_text(PRIORITY.format(name="billing", risk=risk))


def approvals_repo(tmp: Path, customer: str, risk: str = "high", source: str = "") -> GitRepo:
    """SOURCE: the approvals source the repository starts with (a governance setting: set
    later, the change would need a policy owner's approval before anything promotes)."""
    def filled(work: Path) -> None:
        fill(work, customer, risk)
        if source:
            use_approvals_source(work, source)

    return make_repo(tmp, fill=filled)


def use_approvals_source(root: Path, source: str) -> None:
    """Set spec.approvals.source in ROOT's ailoop.yaml (what `ailoop gate` follows when no
    option says which approvals to read)."""
    project = root / "ailoop.yaml"
    text = project.read_text()
    setting = f"  approvals:\n    source: {source}\n"
    project.write_text(text.replace("spec:\n", "spec:\n" + setting, 1) if "spec:\n" in text
                       else text + "spec:\n" + setting)


def write_evidence(root: Path, key: str = KEY) -> str:
    """A passing evidence file (and its statement) for the priority as it is on disk;
    returns its id. It counts once a trusted bot commit commits it."""
    fp = fingerprint(str(root), key, load_priority(str(root), key))
    save_evidence(root, {
        "apiVersion": "ailoop.dev/v1", "kind": "Evidence", "id": fp.evidence_id,
        "priority": key, "created": "2026-11-20T09:00:00Z", "passed": True,
        "fingerprint": fp.as_dict(), "provider": "python",
        "summary": {"cases": 2, "passed": 2, "failed": 0, "passRate": 1.0},
        "cases": [], "failureCategories": [], "edgeCases": []})
    return fp.evidence_id
