"""One redactor, everywhere: canaries of every detector's kind, planted in a dataset, an
incident and a workflow's exceptions, and in an environment value handed to the workflow,
appear in no output and in no file ailoop writes or commits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.acceptance.test_reconcile import make_git_repo
from tests.support import GitRepo, run_cli
from tests.unit.reconciler.builders import KEY, T0, approve_all, healthy_hourly, iso

FOLDER = Path("customers") / KEY
PEM = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
       "-----END OPENSSH PRIVATE KEY-----")
CANARIES = {
    "email": "canary.person@leak-7f3a.example",
    "iban": "DE89370400440532013000",
    "github": "ghp_" + "C4n4ryT0k3n" * 4,
    "openai": "sk-live-c4n4ryK3yAbCdEfGhIjKl",
    "slack": "xoxb-1234567890-c4n4ryslack",
    "aws": "AKIAC4N4RYEXAMPLE001",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.c4n4rySignature",
    "pem": "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
    "bearer": "c4n4ryBearerValue123",
    "env": "c4n4ry-env-value-42",
}
PLANTED = (f"mail {CANARIES['email']} iban {CANARIES['iban']} keys {CANARIES['github']} "
           f"{CANARIES['openai']} {CANARIES['slack']} {CANARIES['aws']} {CANARIES['jwt']} "
           f"Authorization: Bearer {CANARIES['bearer']} {PEM}")
WORKFLOW = """\
import os


def run(input):
    if input.get("text", "").startswith("boom"):
        raise ValueError(input["text"] + " env " + os.environ.get("ROUTING_SERVICE", ""))
    return "support"
"""


def plant(repo: GitRepo) -> None:
    folder = repo.work / FOLDER
    (folder / "workflow.py").write_text(WORKFLOW)
    spec = folder / "priority.yaml"  # the workflow is handed ROUTING_SERVICE: it declares it
    spec.write_text(spec.read_text().replace("    entrypoint: workflow.py:run\n",
                                             "    entrypoint: workflow.py:run\n"
                                             "    secrets: [ROUTING_SERVICE]\n"))
    with (folder / "dataset.jsonl").open("a") as fh:
        fh.write(json.dumps({"id": "c2", "input": {"text": f"hello {PLANTED}"},
                             "expected": "support"}) + "\n")
        fh.write(json.dumps({"id": "c3", "input": {"text": f"boom {PLANTED}"},
                             "expected": "support"}) + "\n")
    events = folder / "events"
    events.mkdir(exist_ok=True)
    (events / "inc-9.yaml").write_text(
        "apiVersion: ailoop.dev/v1\nkind: Incident\nmetadata:\n  name: inc-9\nspec:\n"
        f"  severity: high\n  reportedBy: rita\n  time: {T0.isoformat()}\n"
        f"  summary: {json.dumps(PLANTED)}\n  resolved: true\n")
    repo.commit_all("A workflow, a dataset and an incident that quote secrets")


def written_by_ailoop(repo: GitRepo) -> list[Path]:
    inputs = {FOLDER / "dataset.jsonl", FOLDER / "workflow.py", FOLDER / "events/inc-9.yaml"}
    return [p for p in repo.work.rglob("*") if p.is_file() and ".git" not in p.parts
            and p.relative_to(repo.work) not in inputs]


def test_no_canary_leaves_the_process(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTING_SERVICE", CANARIES["env"])
    monkeypatch.setenv("OPENAI_API_KEY", CANARIES["openai"])
    repo = make_git_repo(tmp_path, target="shadow")
    plant(repo)
    root, now = str(repo.work), iso(T0)
    outputs = [run_cli(capsys, "-C", root, "dry-run", KEY, "--now", now, "--junit",
                       str(repo.work / "junit.xml"))]
    approve_all(repo.work)
    healthy_hourly(repo.work, KEY, T0, 3)
    repo.commit_all("Evidence and approvals")
    for args in (("reconcile", "--now", now), ("plan", "--now", now), ("status",),
                 ("update", KEY, "--now", now), ("site", "--out", str(repo.work / "site")),
                 ("lessons", "search", "routing"), ("review", KEY, "--now", now),
                 ("validate",)):
        outputs.append(run_cli(capsys, "-C", root, *args))
    texts = [o.out + o.err for o in outputs]
    texts += [p.read_text(encoding="utf-8", errors="replace") for p in written_by_ailoop(repo)]
    texts.append(repo.git("log", "--format=%B"))
    assert any("redacted" in t for t in texts)  # the canaries were really there to find
    for name, canary in CANARIES.items():
        leaks = [t[max(0, t.find(canary) - 80):t.find(canary) + 40] for t in texts
                 if canary in t]
        assert not leaks, f"{name} canary leaked: {leaks[0]!r}"
