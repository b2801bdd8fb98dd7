"""`type: judge` assertions through `ailoop dry-run`, against the stand-in chat server.

The stand-in grades whatever text carries JUDGE-SCORE=<s> with that score, so a test
decides what the judge answers for each output, and counts the judge's requests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.documents.evidence import fingerprint
from pipeline.documents.load import load_priority
from pipeline.publish.prcomment import dry_run_summaries
from tests.support import GitRepo, run_cli
from tests.unit.providers.chat_server import ChatServer

NOW = "2026-11-20T10:00:00Z"
LATER = "2026-11-20T11:00:00Z"
KEY = "test-co/replies"

PRIORITY = """\
apiVersion: ailoop.dev/v1
kind: Priority
metadata:
  name: replies
spec:
  goal: Answer customers helpfully.
  owner: hannah
  inputData:
    source: test
    personalData: true
    redaction:
      fields: [name]
  expectedOutput:
    description: a reply
    format: json
  risk: low
  workflow:
    provider: replay
    version: "1"
    replay: recorded.jsonl
  dryRun:
    dataset: dataset.jsonl
    assertions:
      - type: judge
        name: reply-helpful
        field: reply
        rubric: rubrics/reply.md
        model: judge-model
        baseUrl: {url}
        apiKeyEnv: TEST_JUDGE_KEY
        passScore: 0.7
        maxRetries: 0
        costPer1kInputTokens: 1
        costPer1kOutputTokens: 2
{calibration}
    thresholds:
      passRate: 1.0
  rollout:
    target: shadow
    stages:
      - name: shadow
        percent: 0
        bakeTime: 1h
"""
CALIBRATION = "        calibration: calibration/reply.jsonl"


def calibration_lines(agree: bool, n: int = 20) -> list[dict[str, Any]]:
    """N labelled replies, half correct; the judge's score agrees with people or not."""
    lines = []
    for i in range(n):
        correct = i % 2 == 0
        high = correct if agree else not correct
        lines.append({"id": f"cal-{i}", "input": {"question": f"q{i}"},
                      "output": {"reply": f"answer {i} JUDGE-SCORE={0.9 if high else 0.1}"},
                      "label": "correct" if correct else "wrong"})
    return lines


def write(root: Path, url: str, scores: dict[str, str], *, agree: bool | None = True,
          calibration: str = CALIBRATION) -> Path:
    folder = root / "customers" / KEY
    (folder / "rubrics").mkdir(parents=True, exist_ok=True)
    (folder / "calibration").mkdir(exist_ok=True)
    (folder / "priority.yaml").write_text(PRIORITY.format(
        url=url, calibration=calibration if agree is not None else ""))
    (folder / "rubrics" / "reply.md").write_text("The reply answers the question politely.\n")
    if agree is not None:
        (folder / "calibration" / "reply.jsonl").write_text(
            "".join(json.dumps(line) + "\n" for line in calibration_lines(agree)))
    (folder / "dataset.jsonl").write_text("".join(
        json.dumps({"id": i, "input": {"question": "where is my parcel?", "name": "Ada"}})
        + "\n" for i in scores))
    (folder / "recorded.jsonl").write_text("".join(
        json.dumps({"id": i, "output": {"reply": f"Dear Ada, JUDGE-SCORE={s}"}}) + "\n"
        for i, s in scores.items()))
    return folder



def judge_requests(chat: ChatServer) -> int:
    return sum(r["messages"][0]["content"].startswith("You grade") for r in chat.requests)


def dry_run(capsys: pytest.CaptureFixture[str], root: Path, *args: str):  # type: ignore[no-untyped-def]
    return run_cli(capsys, "-C", str(root), "dry-run", KEY, "--now", NOW, *args)


def evidence_of(root: Path) -> dict[str, Any]:
    priority = load_priority(str(root), KEY)
    fp = fingerprint(str(root), KEY, priority)
    return json.loads((root / "customers" / KEY / "evidence" / f"{fp.evidence_id}.json")
                      .read_text())


def test_a_calibrated_judge_gates(repo: GitRepo, chat: ChatServer, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    root = repo.work
    write(root, chat.url, {"good": "0.9", "bad": "0.2", "quoted": "0.9 QUOTE-ME"})
    md = tmp_path / "summary.md"
    result = dry_run(capsys, root, "--markdown", str(md))
    assert result.code == 1, result.err
    evidence = evidence_of(root)
    judge = evidence["judges"][0]
    assert judge["calibration"] == {
        "file": f"customers/{KEY}/calibration/reply.jsonl", "cases": 20, "kappa": 1.0,
        "agreement": 1.0, "minKappa": 0.6, "calibrated": True,
        "reason": "kappa 1.00 >= 0.6 over 20 cases", "disagreements": []}
    assert "advisory" not in judge
    assert judge["model"] == "judge-model" and len(judge["rubricDigest"]) == 64
    cases = {c["id"]: c for c in evidence["cases"]}
    assert cases["good"]["passed"] and not cases["bad"]["passed"]
    assert cases["bad"]["checks"][0]["message"] == "score 0.2 < 0.7: graded 0.2"
    assert cases["bad"]["category"] == "reply-helpful"
    # 23 calls of a few prompt tokens and 12 answer tokens, apart from the workflow's cost
    assert evidence["summary"]["cost"] == 0
    assert evidence["summary"]["judgeCost"] == evidence["summary"]["totalCost"] > 0.024 * 23
    assert "reply-helpful (judge-model): calibrated, kappa 1.00 (required >= 0.6), " \
           "agreement 100.0% over 20 labelled cases" in result.out
    assert "✅ `reply-helpful` (judge-model): calibrated, kappa 1.00" in md.read_text()
    statement = json.loads((root / "customers" / KEY / "evidence" /
                            f"{evidence['id']}.intoto.json").read_text())
    assert {f"customers/{KEY}/rubrics/reply.md", f"customers/{KEY}/calibration/reply.jsonl"} \
        <= {s["name"] for s in statement["subject"]}
    # what the judge was sent and what it said passed through the redactor
    assert cases["quoted"]["checks"][0]["message"] == (
        "score 0.9 >= 0.7: graded 0.9 after reading \"Dear [redacted:name], "
        "JUDGE-SCORE=0.9 QUOTE-ME\"")
    text = json.dumps(evidence)
    assert "Ada" not in text and "sk-judge-secret" not in text + result.out + result.err
    assert chat.invalid == [] and chat.auth[-1] == "Bearer sk-judge-secret"
    # the judge grades blind: people's labels never reach it
    sent = json.dumps(chat.requests)
    assert '"label"' not in sent and "correct" not in sent and "wrong" not in sent


def test_a_judge_that_disagrees_with_people_is_advisory(
        repo: GitRepo, chat: ChatServer, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = repo.work
    write(root, chat.url, {"good": "0.9", "bad": "0.2"}, agree=False)
    md = tmp_path / "summary.md"
    result = dry_run(capsys, root, "--markdown", str(md))
    assert result.code == 0, result.out
    evidence = evidence_of(root)
    advisory = "advisory: not calibrated (kappa -1.00 is below 0.6 over 20 cases)"
    assert evidence["judges"][0]["advisory"] == advisory
    assert evidence["judges"][0]["calibration"]["agreement"] == 0.0
    assert evidence["passed"] and evidence["summary"]["passRate"] == 1.0
    bad = next(c for c in evidence["cases"] if c["id"] == "bad")
    assert bad["passed"] and bad["checks"][0] == {
        "name": "reply-helpful", "passed": False, "message": "score 0.2 < 0.7: graded 0.2",
        "advisory": True, "cost": bad["checks"][0]["cost"]}
    assert f"reply-helpful (judge-model): {advisory}" in result.out
    assert advisory in md.read_text()
    repo.commit_all("a pull request's dry run")
    comment = "\n".join(dry_run_summaries(str(root), [KEY]))
    assert f"⚠️ `reply-helpful` (judge-model): {advisory}" in comment


@pytest.mark.parametrize(("agree", "calibration", "reason"), [
    (None, CALIBRATION.replace("calibration/", "missing/"),
     f"customers/{KEY}/missing/reply.jsonl does not exist"),
    (None, "", "no calibration set (calibration: names a JSONL file of outputs people "
               "labelled)"),
])
def test_without_a_calibration_set_the_judge_is_advisory(
        repo: GitRepo, chat: ChatServer, capsys: pytest.CaptureFixture[str],
        agree: bool | None, calibration: str, reason: str) -> None:
    root = repo.work
    folder = write(root, chat.url, {"bad": "0.2"}, agree=True)
    (folder / "priority.yaml").write_text(PRIORITY.format(url=chat.url, calibration=calibration))
    result = dry_run(capsys, root)
    assert result.code == 0, result.out
    assert evidence_of(root)["judges"][0]["advisory"] == f"advisory: not calibrated ({reason})"


def test_editing_a_label_or_the_rubric_makes_new_evidence(
        repo: GitRepo, chat: ChatServer, capsys: pytest.CaptureFixture[str]) -> None:
    """The attack: a pull request relabels the calibration set until the judge "agrees",
    hoping evidence (and the approvals bound to it) of the old set carries over."""
    root = repo.work
    folder = write(root, chat.url, {"good": "0.9"}, agree=False)
    repo.commit_all("add priority")

    def evidence_id() -> str:
        return fingerprint(str(root), KEY, load_priority(str(root), KEY)).evidence_id

    before = evidence_id()
    lines = (folder / "calibration" / "reply.jsonl").read_text().splitlines()
    flipped = json.loads(lines[0]) | {"label": "wrong"}
    (folder / "calibration" / "reply.jsonl").write_text(
        "\n".join([json.dumps(flipped), *lines[1:]]) + "\n")
    relabelled = evidence_id()
    assert relabelled != before
    (folder / "rubrics" / "reply.md").write_text("Anything goes.\n")
    assert evidence_id() not in (before, relabelled)
    (folder / "calibration" / "reply.jsonl").unlink()
    assert evidence_id() not in (before, relabelled)  # no set is a state of its own


def test_a_second_run_asks_the_judge_nothing_and_a_trusted_run_asks_again(
        repo: GitRepo, chat: ChatServer, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo.work
    write(root, chat.url, {"good": "0.9", "also": "0.8"})
    repo.commit_all("add priority")
    assert dry_run(capsys, root).code == 0
    assert judge_requests(chat) == 22
    second = run_cli(capsys, "-C", str(root), "dry-run", KEY, "--now", LATER)
    assert second.code == 0 and "reused from cache 2" in second.out
    assert judge_requests(chat) == 22
    assert evidence_of(root)["judges"][0]["calibration"]["calibrated"]
    assert dry_run(capsys, root, "--trusted").code == 0
    assert judge_requests(chat) == 44


def test_a_judge_without_a_verdict_fails_its_check(
        repo: GitRepo, chat: ChatServer, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo.work
    folder = write(root, chat.url, {"oops": "oops", "high": "1.5", "good": "0.9"})
    with (folder / "recorded.jsonl").open("a") as fh:  # no trigger: the stand-in echoes
        fh.write(json.dumps({"id": "echo", "output": {"reply": "hello"}}) + "\n")
        fh.write(json.dumps({"id": "no-reply", "output": {"answer": "hello"}}) + "\n")
    with (folder / "dataset.jsonl").open("a") as fh:
        fh.write(json.dumps({"id": "echo", "input": {"question": "hi"}}) + "\n")
        fh.write(json.dumps({"id": "no-reply", "input": {"question": "hi"}}) + "\n")
    result = dry_run(capsys, root)
    assert result.code == 1
    checks = {c["id"]: c["checks"][0] for c in evidence_of(root)["cases"]}
    assert checks["oops"]["message"] == ("the judge gave no verdict: the judge's score is "
                                         "not a number (oops)")
    assert checks["high"]["message"] == ("the judge gave no verdict: the judge's score 1.5 "
                                         "is outside 0..1")
    assert checks["echo"]["message"] == "the judge gave no verdict: the judge's answer has " \
                                        "no score"
    assert checks["no-reply"]["message"] == "reply is missing from the output"
    assert checks["good"]["passed"]
    assert "Traceback" not in result.out + result.err


def test_an_unreachable_judge_never_gates(repo: GitRepo, chat: ChatServer,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    root = repo.work
    write(root, "http://127.0.0.1:9/v1", {"bad": "0.2"})
    result = dry_run(capsys, root)
    assert result.code == 0, result.out
    judge = evidence_of(root)["judges"][0]
    assert judge["advisory"] == (
        "advisory: not calibrated (the judge gave no verdict on 20 of 20 cases (first, "
        "cal-0: cannot reach http://127.0.0.1:9/v1 (ConnectionRefusedError)))")
    bad = evidence_of(root)["cases"][0]["checks"][0]
    assert bad["advisory"] and bad["message"].startswith("the judge gave no verdict: cannot "
                                                         "reach")
    assert bad["transient"]  # not cached: the next run asks the judge again
    assert "reused from cache 0" in dry_run(capsys, root).out


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: (f / "rubrics" / "reply.md").unlink(),
     f"customers/{KEY}/rubrics/reply.md: rubric file does not exist"),
    (lambda f: (f / "priority.yaml").write_text((f / "priority.yaml").read_text()
                                                .replace("rubrics/reply.md", "../../../../x.md")),
     f"customers/{KEY}/priority.yaml: spec.dryRun.assertions[0].rubric: path "
     "'../../../../x.md' leaves the repository"),
    (lambda f: (f / "priority.yaml").write_text((f / "priority.yaml").read_text()
                                                .replace("rubrics/reply.md", "../other.md")),
     f"customers/{KEY}/priority.yaml: spec.dryRun.assertions[0].rubric: '../other.md' must "
     "be inside the priority folder"),
    (lambda f: (f / "priority.yaml").write_text((f / "priority.yaml").read_text().replace(
        "calibration/reply.jsonl", "../../../ailoop.yaml")),
     f"customers/{KEY}/priority.yaml: spec.dryRun.assertions[0].calibration: "
     "'../../../ailoop.yaml' must be inside the priority folder"),
    (lambda f: (f / "priority.yaml").write_text(
        "\n".join(line for line in (f / "priority.yaml").read_text().splitlines()
                  if "baseUrl" not in line) + "\n"),
     "spec.dryRun.assertions[0].baseUrl: is required"),
    (lambda f: (f / "priority.yaml").write_text((f / "priority.yaml").read_text().replace(
        "    thresholds:", "      - type: regex\n        pattern: '('\n    thresholds:")),
     "spec.dryRun.assertions[1].pattern: is not a valid regular expression"),
])
def test_bad_judge_settings_exit_2_naming_the_field(
        repo: GitRepo, chat: ChatServer, capsys: pytest.CaptureFixture[str],
        change: Any, message: str) -> None:
    folder = write(repo.work, chat.url, {"good": "0.9"})
    change(folder)
    result = dry_run(capsys, repo.work)
    assert result.code == 2
    assert message in result.err and "Traceback" not in result.err
    assert not (folder / "evidence").exists()
    assert judge_requests(chat) == 0  # nothing paid for before the input is known good


def test_validate_names_a_missing_rubric(repo: GitRepo, chat: ChatServer,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    folder = write(repo.work, chat.url, {"good": "0.9"})
    assert "rubric" not in run_cli(capsys, "-C", str(repo.work), "validate").out
    (folder / "rubrics" / "reply.md").unlink()
    result = run_cli(capsys, "-C", str(repo.work), "validate")
    assert result.code == 1
    assert (f"customers/{KEY}/priority.yaml:27:17: spec.dryRun.assertions[0].rubric: rubric "
            f"'customers/{KEY}/rubrics/reply.md' does not exist") in result.out.splitlines()
