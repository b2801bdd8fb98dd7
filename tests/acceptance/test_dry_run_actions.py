"""Dry runs put the actions a workflow proposes through the guard in record-only mode: the
evidence, the text report and the Markdown summary list what would have waited for a
person, what would have run, and what was refused (undeclared: the case fails)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.acceptance.test_dry_run_cli import NOW, PRIORITY, PYTHON_WORKFLOW, dry_run

ACTIONS = """\
  actions:
    - name: refund
      class: financial
      humanConfirmation: false
    - name: reply
      class: customer-facing
    - name: tag
      class: internal
      humanConfirmation: false
    - name: note
      class: internal
"""

WF = '''
def run(inp):
    proposed = [{"name": name, "payload": {"to": inp.get("email", "")}}
                for name in inp["propose"]]
    return {"output": {"label": "a"}, "actions": proposed}
'''


def write(root: Path) -> str:
    folder = root / "customers" / "test-co" / "acts"
    folder.mkdir(parents=True)
    spec = PRIORITY.format(name="acts", workflow=PYTHON_WORKFLOW, pass_rate=0.5)
    (folder / "priority.yaml").write_text(spec.replace("  rollout:\n", ACTIONS + "  rollout:\n"))
    cases = [("c1", ["refund", "tag"]), ("c2", ["reply", "note"]), ("c3", ["tag"]),
             ("c4", ["wire-money"])]
    (folder / "dataset.jsonl").write_text("".join(json.dumps(
        {"id": i, "input": {"propose": p, "email": "ann@example.org"},
         "expected": {"label": "a"}}) + "\n" for i, p in cases))
    (folder / "wf.py").write_text(WF)
    return "test-co/acts"


def test_proposed_actions_go_through_the_guard_record_only(
        example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = write(example)
    markdown = tmp_path / "summary.md"
    result = dry_run(capsys, example, key, "--now", NOW, "--markdown", str(markdown))
    assert result.code == 0, result.err  # 3 of 4 pass; the pass rate needed is 50 %
    folder = example / "customers" / key / "evidence"
    evidence = json.loads(next(p for p in folder.iterdir()
                               if not p.name.endswith(".intoto.json")).read_text())
    assert evidence["actions"] == {
        "proposed": 6, "wouldWait": 3, "wouldRun": 2, "refused": 1,
        "byAction": [
            {"name": "note", "class": "internal", "wouldWait": ["c2"], "wouldRun": [],
             "refused": []},
            {"name": "refund", "class": "financial", "wouldWait": ["c1"], "wouldRun": [],
             "refused": []},
            {"name": "reply", "class": "customer-facing", "wouldWait": ["c2"],
             "wouldRun": [], "refused": []},
            {"name": "tag", "class": "internal", "wouldWait": [], "wouldRun": ["c1", "c3"],
             "refused": []},
            {"name": "wire-money", "class": "", "wouldWait": [], "wouldRun": [],
             "refused": ["c4"]}]}
    by_id = {c["id"]: c for c in evidence["cases"]}
    assert by_id["c1"]["passed"] and by_id["c1"]["output"] == {"label": "a"}
    assert by_id["c1"]["actions"] == [
        {"name": "refund", "verdict": "would-wait", "class": "financial",
         "payload": {"to": "[redacted:email]"}},
        {"name": "tag", "verdict": "would-run", "class": "internal",
         "payload": {"to": "[redacted:email]"}}]
    assert not by_id["c4"]["passed"]
    assert by_id["c4"]["checks"][-1] == {
        "name": "actions declared", "passed": False,
        "message": "proposes action 'wire-money', which the spec does not declare: "
                   "production's guard refuses it"}
    assert ("proposed actions (guard, record-only; nothing ran): 6, would wait for a person "
            "in 3 case(s), would run in 2, refused in 1\n"
            "  note (internal): waits: c2\n"
            "  refund (financial): waits: c1\n") in result.out
    assert "  wire-money (not declared): refused: c4\n" in result.out
    text = markdown.read_text()
    assert "**Proposed actions** (through the guard, record-only: nothing ran)" in text
    assert "| `refund` | financial | 1 (`c1`) | — | — |" in text
    assert "| `wire-money` | — | — | — | 1 (`c4`) |" in text
    assert "ann@example.org" not in text + result.out + json.dumps(evidence)


def test_a_workflow_without_actions_has_no_actions_section(
        example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = dry_run(capsys, example, "northwind-insurance/claims-intake", "--now", NOW)
    assert "proposed actions" not in result.out
