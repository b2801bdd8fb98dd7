"""The pairwise judge win rate of the candidate against the serving version (issue 23,
item 4): the stand-in chat server judges side by side, preferring the output that carries
the higher QUALITY=<n>; its answers and its requests are the test's to read. Real git
repositories, bot-signed commits, the real CLI and real workflow subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.acceptance.test_dry_run_judge import calibration_lines
from tests.acceptance.test_versus_serving import FOLDER, dry_run, make, serve, set_version
from tests.sandbox_support import real_sandbox
from tests.support import GitRepo
from tests.unit.providers.chat_server import ChatServer

# case -> (QUALITY of serving's reply, of the candidate's); PICK-A makes the stand-in pick
# whatever is shown first, PICK-C answers a winner that is not one
CASES = {"better": (1, 3), "worse": (2, 1), "same": (2, 2), "PICK-A": (1, 3),
         "PICK-C": (1, 3)}
WORKFLOW = """\
QUALITY = {quality}


def run(input):
    text = input["text"]
    return f"reply to {{text}} QUALITY={{QUALITY[text]}} JUDGE-SCORE=0.9"
"""
JUDGE = """\
      - type: judge
        name: reply-helpful
        rubric: rubric.md
        model: judge-model
        baseUrl: {url}
        apiKeyEnv: TEST_JUDGE_KEY
        maxRetries: 0
        costPer1kInputTokens: 1
        costPer1kOutputTokens: 2
{calibration}"""


def workflow(side: int) -> str:
    return WORKFLOW.format(quality={text: q[side] for text, q in CASES.items()})



def pairwise_requests(chat: ChatServer) -> int:
    return sum(r["messages"][0]["content"].startswith("You compare") for r in chat.requests)


def with_judge(tmp_path: Path, url: str, *, calibrated: bool = False) -> GitRepo:
    """acme/triage judged by a judge (it grades every reply 0.9: every case passes),
    uncalibrated unless CALIBRATED, with v1.1.1 serving and v1.2.0 the candidate."""
    repo = make(tmp_path, no_regression=False)
    work = repo.work
    (work / FOLDER / "dataset.jsonl").write_text("".join(
        json.dumps({"id": text.lower(), "input": {"text": text}}) + "\n" for text in CASES))
    (work / FOLDER / "rubric.md").write_text("The reply answers the question.\n")
    if calibrated:
        (work / FOLDER / "calibration.jsonl").write_text("".join(
            json.dumps(line) + "\n" for line in calibration_lines(agree=True)))
    spec = work / FOLDER / "priority.yaml"
    spec.write_text(spec.read_text().replace("      - type: equals\n", JUDGE.format(
        url=url, calibration="        calibration: calibration.jsonl\n" if calibrated
        else "")))
    set_version(work, "1.1.1", workflow(0))
    repo.commit_all("acme/triage v1.1.1, judged")
    return repo


def candidate(repo: GitRepo) -> None:
    set_version(repo.work, "1.2.0", workflow(1))
    repo.commit_all("acme/triage v1.2.0: better replies, mostly")


def test_the_win_rate_counts_a_case_only_when_both_orders_agree(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, chat: ChatServer) -> None:
    repo = with_judge(tmp_path, chat.url)
    serving = serve(capsys, repo)
    candidate(repo)
    chat.requests.clear()
    code, out, evidence = dry_run(capsys, repo, "--markdown", str(tmp_path / "pr.md"))
    assert code == 0, out  # report only: a loss blocks nothing
    versus = evidence["versusServing"]
    assert versus["evidenceId"] == serving and versus["compared"] is True
    [judge] = versus["judges"]
    cost = judge.pop("cost")
    assert judge == {
        "name": "reply-helpful", "wins": 1, "losses": 1, "ties": 2, "noVerdict": 1,
        "winRate": 0.5, "interval": {"low": 0.094531, "high": 0.905469},
        "calibrated": False, "advisory": "advisory: not calibrated",
        "won": ["better"], "lost": ["worse"], "tied": ["same", "pick-a"],
        "noVerdictCases": ["pick-c"],
        "noVerdictReason": "pick-c: the judge's winner is not A, B or tie (C)"}
    # five cases, each asked in both orders
    assert pairwise_requests(chat) == 10
    # the pairwise calls are judge calls: their cost counts
    summary = evidence["summary"]
    assert cost > 0 and summary["judgeCost"] >= cost
    assert summary["totalCost"] == pytest.approx(summary["cost"] + summary["judgeCost"])
    assert ("  pairwise judge reply-helpful: 1 wins, 1 losses, 2 ties, 1 without a verdict; "
            "win rate 50.0% (95% CI 9.5-90.5%), advisory: not calibrated") in out
    assert ("    won: better\n    lost: worse\n"
            "    no verdict: pick-c: the judge's winner is not A, B or tie (C)") in out
    markdown = (tmp_path / "pr.md").read_text()
    assert ("- pairwise judge `reply-helpful` (both orders must agree): 1 wins, 1 losses, "
            "2 ties, 1 without a verdict; win rate 50.0% (95% CI 9.5-90.5%) ⚠️ advisory: "
            "not calibrated") in markdown


def test_verdicts_are_cached_and_a_trusted_run_asks_again(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, chat: ChatServer) -> None:
    real_sandbox()  # a trusted run runs the workflow in the sandbox
    repo = with_judge(tmp_path, chat.url)
    serve(capsys, repo)
    candidate(repo)
    _, _, first = dry_run(capsys, repo)
    chat.requests.clear()
    _, _, again = dry_run(capsys, repo)
    # only the case without a verdict is asked again: a non-answer is never cached
    assert pairwise_requests(chat) == 2
    assert again["versusServing"]["judges"] == first["versusServing"]["judges"]
    cache = next((repo.work / ".git" / "ailoop-cache" / "judge").glob("*.json"))
    entries = [e for f in cache.parent.glob("*.json")
               for e in json.loads(f.read_text())["entries"].values()]
    assert entries and all(set(e) == {"winner", "cost"} for e in entries)  # no reason
    chat.requests.clear()
    _, _, trusted = dry_run(capsys, repo, "--trusted")
    assert pairwise_requests(chat) == 10
    assert trusted["versusServing"]["judges"][0]["won"] == ["better"]


def test_an_unreachable_judge_leaves_every_case_without_a_verdict(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, chat: ChatServer) -> None:
    repo = with_judge(tmp_path, chat.url)
    serve(capsys, repo)
    candidate(repo)
    chat.stop()
    code, out, evidence = dry_run(capsys, repo, "--no-cache")
    assert code == 0, out
    [judge] = evidence["versusServing"]["judges"]
    assert (judge["wins"], judge["losses"], judge["ties"], judge["noVerdict"]) == (0, 0, 0, 5)
    assert judge["winRate"] is None and judge["interval"] is None
    assert "no win rate (no win or loss)" in out
    assert "sk-judge-secret" not in json.dumps(evidence)


def test_no_pairwise_judging_without_a_serving_version(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, chat: ChatServer) -> None:
    repo = with_judge(tmp_path, chat.url)
    _, _, evidence = dry_run(capsys, repo)
    assert "versusServing" not in evidence and pairwise_requests(chat) == 0


def test_a_calibrated_judges_win_rate_is_not_advisory(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, chat: ChatServer) -> None:
    repo = with_judge(tmp_path, chat.url, calibrated=True)
    serve(capsys, repo)
    candidate(repo)
    code, out, evidence = dry_run(capsys, repo)
    assert code == 0, out
    assert evidence["judges"][0]["calibration"]["calibrated"] is True
    [judge] = evidence["versusServing"]["judges"]
    assert judge["calibrated"] is True and "advisory" not in judge
    assert (judge["wins"], judge["losses"], judge["ties"]) == (1, 1, 2)
    assert ("pairwise judge reply-helpful: 1 wins, 1 losses, 2 ties, 1 without a verdict; "
            "win rate 50.0% (95% CI 9.5-90.5%); cost ") in out
