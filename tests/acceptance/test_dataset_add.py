"""`ailoop dataset add`: an incident or a runtime trace becomes a redacted, critical
regression case, committed on a new branch of a real git repository for review."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.documents.dataset import parse_dataset
from tests.support import GitRepo, run_cli

KEY = "helio-saas/refund-requests"
FOLDER = f"customers/{KEY}"
DATASET = f"{FOLDER}/dataset.jsonl"
INCIDENT = "inc-2026-0042"
CARD = "4111 1111 1111 1111"
EXPECTED = '{"decision": "escalate", "rule": "high-amount"}'


def _input(tmp_path: Path) -> Path:
    path = tmp_path / "case.json"
    path.write_text(json.dumps({
        "request_id": "RF-10239", "customer_name": "Jana Novak",
        "customer_email": "jana.novak@customer.example", "plan": "annual", "amount": 1180,
        "currency": "GBP", "days_since_charge": 3,
        "message": f"Please refund, card {CARD}, call me on +44 7700 900123."}))
    return path


def _add(capsys: pytest.CaptureFixture[str], repo: GitRepo, *args: str) -> tuple[int, str, str]:
    result = run_cli(capsys, "-C", str(repo.work), "dataset", "add", KEY, *args)
    return result.code, result.out, result.err


def _cases(repo: GitRepo) -> list:  # type: ignore[type-arg]
    return parse_dataset((repo.work / DATASET).read_bytes(), DATASET)


def test_an_incident_becomes_a_redacted_critical_case_on_a_new_branch(
        repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main_before = repo.git("rev-parse", "main")
    code, out, err = _add(capsys, repo, "--from-incident", INCIDENT,
                          "--input", str(_input(tmp_path)), "--expected", EXPECTED)
    assert (code, err) == (0, "")
    branch = "ailoop/regression/refund-requests/inc-2026-0042"
    assert repo.git("branch", "--show-current") == branch
    assert repo.git("rev-parse", "main") == main_before  # never on the default branch
    assert repo.git("status", "--porcelain") == ""
    assert repo.git("diff", "--name-only", "main", "HEAD") == DATASET
    case = _cases(repo)[-1]
    assert case.id == "regression-inc-2026-0042"
    assert case.tags == ("regression",) and case.critical
    assert case.regression is not None and case.regression.incident == INCIDENT
    assert case.expected == {"decision": "escalate", "rule": "high-amount"}
    text = json.dumps(case.input)
    for secret in ("Jana Novak", "jana.novak@customer.example", CARD, "7700 900123"):
        assert secret not in text
    # The priority marks message as personal: the whole value goes, not only the card.
    assert case.input["message"] == "[redacted:message]" and case.input["amount"] == 1180
    message = repo.git("log", "-1", "--format=%B")
    assert "Ailoop-Regression: regression-inc-2026-0042" in message
    assert f"Ailoop-Incident: {INCIDENT}" in message
    assert f"git push -u origin {branch}" in out and "pull request" in out
    assert "customer-reviewer" in out


def _traces(tmp_path: Path, key: str = KEY) -> Path:
    path = tmp_path / "traces.jsonl"
    records = [
        {"trace": "t-other", "priority": key, "input": {"amount": 1}, "serving": {},
         "shadow": {}, "agreement": "agree"},
        {"trace": "3f2a9c", "priority": key, "time": 1.0, "key": "u1",
         "input": {"request_id": "RF-1", "amount": 2000, "currency": "GBP",
                   "note": "mail me at ann@example.org"},
         "serving": {"version": "0.4.0", "output": {"decision": "approve"}},
         "shadow": {"version": "0.5.0", "output": None}, "agreement": "error"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_a_runtime_trace_becomes_a_case(repo: GitRepo, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = _add(capsys, repo, "--from-trace", "3f2a9c", "--traces",
                          str(_traces(tmp_path)), "--expected", EXPECTED)
    assert (code, err) == (0, "")
    case = _cases(repo)[-1]
    assert case.id == "regression-3f2a9c"
    assert case.regression is not None and case.regression.trace == "3f2a9c"
    assert case.input["note"] == "mail me at [redacted:email]"  # the detectors
    assert repo.git("branch", "--show-current") == "ailoop/regression/refund-requests/3f2a9c"


def test_runtime_trace_store_file_is_what_the_cli_reads(
        repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The file ailoop-runtime's TraceStore writes, not a copy of its format."""
    from ailoop_runtime.flags import Choice, FlagSource, Variant
    from ailoop_runtime.guard import Guard
    from ailoop_runtime.runtime import Runtime, TraceStore

    path = tmp_path / "store.jsonl"
    store = TraceStore(str(path))
    (tmp_path / "flags.flagd.json").write_text('{"flags": {}}\n')
    runtime = Runtime(FlagSource(str(tmp_path / "flags.flagd.json")), KEY, {}, Guard({}, {}),
                      traces=store, clock=lambda: 1000.0)
    chosen = Variant("0.4.0", "d1")
    store.add(runtime._trace("abc123", "user-1", {"amount": 5, "currency": "EUR"},
                             Choice("serving", chosen, Variant("0.5.0", "d2")),
                             {"decision": "deny"}, {"decision": "approve"}, "disagree"))
    runtime.close()
    code, _, err = _add(capsys, repo, "--from-trace", "abc123", "--traces", str(path),
                        "--expected", '{"decision": "approve"}')
    assert (code, err) == (0, "")
    assert _cases(repo)[-1].input == {"amount": 5, "currency": "EUR"}


@pytest.mark.parametrize(("args", "message"), [
    (("--from-incident", "inc-9999", "--expected", "{}"),
     "error: no incident 'inc-9999' in customers/helio-saas/refund-requests/events/ "
     "(incidents: inc-2026-0042)"),
    (("--from-trace", "nope", "--traces", "{traces}", "--expected", "{}"),
     "error: trace 'nope' not found in {traces} (the JSONL file ailoop-runtime's TraceStore "
     "writes)"),
    (("--from-trace", "nope", "--traces", "{missing}", "--expected", "{}"),
     "error: {missing}: trace file does not exist"),
    (("--from-trace", "3f2a9c", "--expected", "{}"),
     "error: --from-trace needs --traces FILE (the JSONL file ailoop-runtime's TraceStore "
     "writes)"),
    (("--from-incident", INCIDENT, "--expected", "{}"),
     "error: the case needs its input: --input FILE (a JSON object), or --from-trace ID to "
     "take the input of a recorded request"),
    (("--from-incident", INCIDENT, "--input", "{input}", "--expected", "{nope"),
     "error: --expected is not valid JSON (Expecting property name enclosed in double "
     "quotes at character 1); quote a text output as a JSON string"),
    (("--expected", "{}"),
     "error: name where the case comes from: --from-incident NAME or --from-trace ID"),
    (("--from-incident", INCIDENT, "--input", "{input}"),
     "error: --expected is required: the output the workflow should have given (JSON, or "
     "@FILE); a customer reviewer confirms it"),
    (("--from-incident", INCIDENT, "--input", "{input}", "--expected", "{}", "--id",
      "refund-001"),
     "error: customers/helio-saas/refund-requests/dataset.jsonl: case id 'refund-001' is "
     "already in the dataset; pass --id NEW-ID"),
])
def test_user_mistakes_are_one_line_errors_and_change_nothing(
        repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        args: tuple[str, ...], message: str) -> None:
    subs = {"traces": str(_traces(tmp_path)), "missing": str(tmp_path / "missing.jsonl"),
            "input": str(_input(tmp_path))}
    head = repo.git("rev-parse", "HEAD")
    code, _out, err = _add(capsys, repo, *(a.format(**subs) if a.startswith("{") and
                                          a[1:-1] in subs else a for a in args))
    assert code == 2
    assert err == message.format(**subs) + "\n"
    assert repo.git("rev-parse", "HEAD") == head
    assert repo.git("branch", "--show-current") == "main"
    assert repo.git("status", "--porcelain") == ""


def test_unknown_priority(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "-C", str(repo.work), "dataset", "add", "helio-saas/nope",
                     "--from-incident", INCIDENT, "--expected", "{}")
    assert result.code == 2
    assert result.err.startswith("error: no priority 'helio-saas/nope' (write "
                                 "CUSTOMER/PRIORITY); priorities: ")
    assert result.err.count("\n") == 1


def test_a_dirty_work_tree_is_refused(repo: GitRepo, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    (repo.work / FOLDER / "workflow.py").write_text("# edited\n")
    code, _, err = _add(capsys, repo, "--from-incident", INCIDENT, "--input",
                        str(_input(tmp_path)), "--expected", EXPECTED)
    assert code == 2
    assert err == (f"error: the work tree has uncommitted changes ({FOLDER}/workflow.py); "
                   "commit or stash them first\n")
    assert repo.git("branch", "--show-current") == "main"


def test_an_existing_branch_is_not_reused(repo: GitRepo, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    repo.git("branch", "ailoop/regression/refund-requests/inc-2026-0042")
    code, _, err = _add(capsys, repo, "--from-incident", INCIDENT, "--input",
                        str(_input(tmp_path)), "--expected", EXPECTED)
    assert code == 2
    assert "branch 'ailoop/regression/refund-requests/inc-2026-0042' already exists" in err


def test_a_failing_commit_leaves_the_user_where_they_were(
        repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hook = repo.work / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'blocked by hook' >&2\nexit 1\n")
    hook.chmod(0o755)
    code, _, err = _add(capsys, repo, "--from-incident", INCIDENT, "--input",
                        str(_input(tmp_path)), "--expected", EXPECTED)
    assert code == 3 and "blocked by hook" in err
    assert repo.git("branch", "--show-current") == "main"
    assert repo.git("status", "--porcelain") == ""
    assert "ailoop/regression" not in repo.git("branch", "--list")


def test_help_explains_with_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "dataset", "add", "--help")
    assert result.code == 0
    assert "--from-incident inc-2026-0042" in result.out
    assert "customer-reviewer" in result.out and "issue-fixed" in result.out
