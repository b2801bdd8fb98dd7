"""The whole loop end to end on real git: the demo's story, asserted.

A bare remote and a clone per actor (engineer, reviewers, CI); the same commands the
workflows run; an injected clock. The git log must read as the audit trail.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.cli.main import main
from pipeline.demo.story import CLAIMS, EXAMPLE_PARTS, REFUNDS, example_root, run_demo
from pipeline.notify.deliver import deliveries
from tests.acceptance.notify_support import Mailbox, Receiver, smtp, webhook

__all__ = ["smtp", "webhook"]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    said: list[str] = []
    result = run_demo(tmp_path_factory.mktemp("loop"), example_root(), said.append, main)
    result["story"] = "\n".join(said)
    return result


def test_every_terminal_state_is_reached_and_recorded(loop: dict[str, object]) -> None:
    assert loop["terminals"] == {"stage-reached": CLAIMS, "issue-fixed": CLAIMS,
                                 "healthy-review": CLAIMS, "blocked": REFUNDS}


def test_validation_then_dry_run_failures_come_before_the_fix(loop: dict[str, object]) -> None:
    story = str(loop["story"])
    typo = story.index("unknown field 'bakeTim'; did you mean 'bakeTime'?")
    failed = story.index("FAIL pass rate [de]")
    fixed = story.index("ok   pass rate [de]")
    assert typo < failed < fixed


def test_the_audit_trail_walks_every_stage_once_per_release(loop: dict[str, object]) -> None:
    repo = Path(str(loop["repo"]))
    subjects = _git(repo, "log", "--reverse", "--format=%s").splitlines()
    promotes = [s for s in subjects if s.startswith(f"ailoop: promote {CLAIMS}")]
    walk = ["shadow (0%)", "canary (5%)", "early (25%)", "full (100%)"]
    # v1.1.0; then the fix v1.1.1, a new candidate, from the first stage again; then the
    # upgrade v1.2.0 beside the serving v1.1.1.
    assert [re.sub(r".* to ", "", s) for s in promotes] == [*walk, *walk, *walk[:2]]
    rollback = subjects.index(f"ailoop: roll back {CLAIMS} to shadow (0%)")
    assert subjects.index("Incident inc-2026-0107") < rollback < len(subjects)
    replaced = subjects.index(f"ailoop: replace the candidate of {CLAIMS} (its traffic "
                              "returns to serving)")
    completed = subjects.index(f"ailoop: complete the rollout of {CLAIMS} (the candidate is "
                               "now serving)")
    assert rollback < replaced < completed


def test_reconciler_commits_carry_trailers(loop: dict[str, object]) -> None:
    repo = Path(str(loop["repo"]))
    log = _git(repo, "log", "--format=%an%x1f%(trailers:only,unfold)%x1e", "--author",
               "ailoop-bot")
    entries = [e for e in log.split("\x1e") if e.strip()]
    promoted = [e for e in entries if "Ailoop-Action: promote" in e]
    assert len(promoted) == 10
    for entry in promoted:
        assert f"Ailoop-Priority: {CLAIMS}" in entry
        assert re.search(r"Ailoop-Evidence: ev-[0-9a-f]{16}", entry)
        assert re.search(r"Ailoop-Stage: (shadow|canary|early|full)", entry)


def test_no_stage_advances_before_the_right_roles_approve_that_evidence(
        loop: dict[str, object]) -> None:
    repo = Path(str(loop["repo"]))
    log = _git(repo, "log", "--reverse", "--format=%an|%s%n%(trailers:only,unfold)%x1e")
    approved: dict[str, set[str]] = {}
    for entry in (e.strip() for e in log.split("\x1e") if e.strip()):
        head, _, trailers = entry.partition("\n")
        author, subject = head.split("|", 1)
        if subject.startswith("Approve "):
            stage = re.search(r"stage (\S+)", subject)
            assert stage is not None
            evidence = re.search(r"Ailoop-Evidence: (\S+)", trailers)
            assert evidence is not None
            approved.setdefault(f"{stage.group(1)}@{evidence.group(1)}", set()).add(author)
        promote = re.match(rf"ailoop: promote {re.escape(CLAIMS)} to (\S+)", subject)
        if promote:
            evidence = re.search(r"Ailoop-Evidence: (\S+)", trailers)
            assert evidence is not None
            who = approved.get(f"{promote.group(1)}@{evidence.group(1)}", set())
            assert who, f"{subject} without an approval on {evidence.group(1)}"
    # the risk-officer signed the later stages (a guardrail for high risk)
    assert any("Mei Tanaka" in people for people in approved.values())


def test_the_gates_read_only_what_the_runtime_served(loop: dict[str, object]) -> None:
    """Production is ailoop-runtime serving replayed e-mails: every reading of the priority
    is one the runtime exported, for every stage the rollout walked."""
    repo = Path(str(loop["repo"]))
    lines = [json.loads(line) for line in
             (repo / "monitoring" / "readings.jsonl").read_text().splitlines()
             if f'"{CLAIMS}"' in line]
    assert {line["metric"] for line in lines} == {
        "error_rate", "success_rate", "latency_p95_ms", "cost_per_run", "agreement_rate",
        "human_override_rate"}
    staged = {line.get("stage") for line in lines if line["variant"] == "candidate"}
    assert staged == {"shadow", "canary", "early", "full"}
    traces = [json.loads(line) for line in Path(str(loop["traces"])).read_text().splitlines()]
    served = sum(t["variant"] != "off" for t in traces)  # the rest went to a shadow only
    counted = sum(line["samples"] for line in lines if line["metric"] == "error_rate")
    assert 10_000 < served < counted  # the runtime counts shadow runs too
    # Some attachment-only e-mails failed under v1.1.x, and the error rate counted them.
    assert any(line["metric"] == "error_rate" and line["value"] > 0 for line in lines)


def test_the_incident_is_a_production_failure_that_became_a_confirmed_regression_case(
        loop: dict[str, object]) -> None:
    """The French water-leak e-mail v1.1.0 routed as normal is in the runtime's traces; the
    fix turns that very trace into a critical case a customer reviewer confirmed, and the
    fix cycle required it."""
    repo = Path(str(loop["repo"]))
    traces = [json.loads(line) for line in Path(str(loop["traces"])).read_text().splitlines()]
    (failed,) = [t for t in traces if "fuite d'eau" in (t["input"]["body"] or "") and
                 t["serving"]["version"] == "1.1.0"]
    assert failed["variant"] == "candidate" and failed["serving"]["output"]["urgency"] == "normal"
    dataset = (repo / "customers" / CLAIMS / "dataset.jsonl").read_text().splitlines()
    (case,) = [json.loads(line) for line in dataset if failed["trace"] in line]
    assert case["regression"] == {"incident": "inc-2026-0107", "trace": failed["trace"]}
    assert case["critical"] and case["expected"] == {"claim_type": "property",
                                                     "urgency": "urgent"}
    history = _git(repo, "log", "-p", "--format=", "--", f"customers/{CLAIMS}/status.yaml")
    assert f"- {case['id']}" in history  # the rollback required it
    assert f"case {case['id']} passed" in history  # and the fix passed it
    status = (repo / "customers" / CLAIMS / "status.yaml").read_text()
    assert re.search(rf"- case: {case['id']}\n\s+digest: rc-\S+\n\s+by: lukas\n", status)
    story = str(loop["story"])
    assert story.index("ailoop dataset add") < story.index(f"--case {case['id']}")


def test_escalations_wait_for_the_scripted_handler(loop: dict[str, object]) -> None:
    story = str(loop["story"])
    guard = re.findall(r"guard: (\d+) categories set at once \(internal\); (\d+) escalations "
                       r"\(customer-facing\) waited for a person: handler sam confirmed "
                       r"(\d+), rejected (\d+)", story)
    assert guard and all(int(q) == int(c) + int(r) for _, q, c, r in guard)
    assert sum(int(r) for *_, r in guard) > 0 and sum(int(c) for _, _, c, _ in guard) > 0


def test_updates_and_dashboard_are_on_disk(loop: dict[str, object]) -> None:
    paths = [Path(p) for p in loop["paths"]]  # type: ignore[attr-defined]
    assert all(p.is_file() for p in paths)
    update = next(p for p in paths if p.name.startswith("claims-intake") and p.suffix == ".md")
    text = update.read_text()
    # Northwind reads German (customer.yaml: language: de), in the project's Berlin time.
    assert text.startswith("# Northwind Insurance: claims intake, Update vom ")
    assert ("Version 1.2.0 ist bei Schritt 2 von 4 (canary) und bearbeitet 5\xa0% der echten "
            "Vorgänge; den Rest bearbeitet Version 1.1.1.") in text
    assert re.search(r"Weiter zum Schritt early, frühestens am \d+\. \w+ 20\d\d, "
                     r"\d\d:\d\d MES?Z,", text), text
    html = next(p for p in paths if p.name.startswith("claims-intake") and p.suffix == ".html")
    assert "<html lang='de'>" in html.read_text()
    # Helio reads English.
    refunds = next(p for p in paths if p.name.startswith("refund-requests")
                   and p.suffix == ".md").read_text()
    assert "## Where it stands" in refunds and "<html lang='en'>" in next(
        p for p in paths if p.name.startswith("refund-requests") and p.suffix == ".html"
    ).read_text()
    index = next(p for p in paths if p.name == "index.html").read_text()
    assert f"data-priority='{CLAIMS}' data-stage='canary'" in index.replace('"', "'")


def test_a_version_upgrade_never_takes_the_serving_versions_traffic_untested(
        loop: dict[str, object]) -> None:
    """While v1.2.0 waits for its approvals, every request stays on the serving v1.1.1."""
    repo = Path(str(loop["repo"]))
    subjects = _git(repo, "log", "--reverse", "--format=%H %s").splitlines()
    pushed = next(i for i, s in enumerate(subjects) if "Claims intake v1.2.0" in s)
    # The trusted run's evidence replaces the PR's copy, then the reconciler waits.
    assert [s.split(" ", 1)[1].split(" (")[0] for s in subjects[pushed + 1:pushed + 3]] == [
        f"ailoop: set aside the unverified copy of {CLAIMS}", f"ailoop: evidence of {CLAIMS}"]
    waiting = subjects[pushed + 3].split(" ", 1)
    assert waiting[1] == f"ailoop: {CLAIMS} awaits approval for shadow"
    flags = json.loads(_git(repo, "show",
                            f"{waiting[0]}:customers/northwind-insurance/flags.flagd.json"))
    flag = flags["flags"]["claims-intake"]
    assert list(flag["variants"]) == ["serving"] and "targeting" not in flag
    assert flag["variants"]["serving"]["version"] == "1.1.1"


def test_the_upgrade_is_compared_with_the_serving_version_case_by_case(
        loop: dict[str, object]) -> None:
    """v1.2.0's dry runs also run the serving v1.1.1 (from the commit that recorded its
    trusted evidence) on the same cases: the e-mail with no body is the one improvement,
    and no critical case regressed, so noRegressionOn: [critical] passes."""
    story = str(loop["story"])
    upgrade = story[story.index("An upgrade: v1.2.0"):]
    assert re.search(r"ok   no regression on critical: none regressed against serving "
                     r"v1\.1\.1 \(ev-[0-9a-f]{16}\)", upgrade)
    assert re.search(r"v1\.2\.0 versus serving v1\.1\.1 \(ev-[0-9a-f]{16}\) on 65 cases: "
                     r"1 improved, 0 regressed, 64 unchanged", upgrade)
    repo = Path(str(loop["repo"]))
    status = _git(repo, "show", "HEAD:customers/northwind-insurance/claims-intake/status.yaml")
    evidence_id = status.split("candidate:", 1)[1].split("evidenceId: ", 1)[1].split()[0]
    evidence = json.loads(_git(repo, "show", f"HEAD:customers/{CLAIMS}/evidence/"
                                             f"{evidence_id}.json"))
    serving = status.split("serving:", 1)[1].split("evidenceId: ", 1)[1].split()[0]
    versus = evidence["versusServing"]
    assert (versus["version"], versus["evidenceId"], versus["compared"]) == (
        "1.1.1", serving, True)
    assert len(versus["improved"]) == 1 and versus["regressed"] == []


def test_every_status_the_demo_writes_is_a_signed_bot_commit(loop: dict[str, object],
                                                             tmp_path: Path) -> None:
    """Only CI holds the demo's bot key: every status commit verifies against the key in
    the demo's ailoop.yaml, and every status ends trusted."""
    from pipeline.documents.layout import priority_keys
    from pipeline.trust.status import untrusted_statuses

    repo = Path(str(loop["repo"]))
    public = re.search(r"signingKey: (\S+ \S+)", (repo / "ailoop.yaml").read_text())
    assert public is not None
    signers = tmp_path / "allowed_signers"
    signers.write_text(f'ailoop-bot namespaces="git" {public.group(1)}\n')
    log = _git(repo, "-c", f"gpg.ssh.allowedSignersFile={signers}", "log",
               "--format=%G? %an: %s", "--", "customers/*/*/status.yaml").splitlines()
    assert len(log) >= 20
    assert all(line.startswith("G ailoop-bot: ailoop: ") for line in log), log
    paths = [f"customers/{key}/status.yaml" for key in priority_keys(str(repo))]
    assert untrusted_statuses(str(repo), paths) == {}


def test_only_evidence_the_trusted_runs_committed_is_on_the_default_branch(
        loop: dict[str, object]) -> None:
    """The engineer's dry runs are only shown; every evidence file the demo ends with that
    promoted or blocked something is what a trusted run's commit job wrote."""
    from pipeline.trust.written import untrusted_files

    repo = Path(str(loop["repo"]))
    statuses = "".join((repo / f"customers/{key}/status.yaml").read_text()
                       for key in (CLAIMS, REFUNDS))
    used = sorted(set(re.findall(r"evidenceId: (ev-[0-9a-f]{16})", statuses)))
    paths = [p for key in (CLAIMS, REFUNDS) for ev in used
             if (repo / (p := f"customers/{key}/evidence/{ev}.json")).is_file()]
    assert len(paths) >= 3
    assert untrusted_files(str(repo), paths) == {}
    assert "A trusted run: the default branch's dry run of" in str(loop["story"])


def test_the_demo_shows_the_notifications_it_would_send_and_keeps_them_in_the_outbox(
        loop: dict[str, object]) -> None:
    """The demo has no mail server and no webhook: every notice goes to the outbox folder,
    once, and the story lists them."""
    outbox = Path(str(loop["repo"])) / ".ailoop" / "outbox"
    records = [json.loads(p.read_text()) for p in sorted(outbox.glob("*.json"))]
    events = {r["event"] for r in records}
    # (refund-requests is blocked from the start: no transition, so no "blocked" notice)
    assert {"promoted", "rolled back", "rollout completed", "approval requested",
            "review recorded", "update published"} <= events, events
    keys = [(r["id"], r["route"]) for r in records]
    assert len(keys) == len(set(keys))  # each notice once per destination
    story = str(loop["story"])
    assert f"Notifications it would send ({len(records)}, written to {outbox}):" in story
    assert all(r["subject"] in story for r in records)
    assert "not delivered" not in story


def _example_with_channels(folder: Path, smtp_port: int) -> Path:
    """The bundled example, its notifications going to the test's mail server and every
    customer's channel to the test's webhook receiver."""
    folder.mkdir()
    for part in EXAMPLE_PARTS:
        src = example_root() / part
        if src.is_dir():
            shutil.copytree(src, folder / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.is_file():
            shutil.copy2(src, folder / part)
    project = folder / "ailoop.yaml"
    project.write_text(project.read_text().replace("\nspec:\n", (
        "\nspec:\n  notifications:\n    smtp:\n      host: 127.0.0.1\n"
        f"      port: {smtp_port}\n      usernameEnv: AILOOP_SMTP_USER\n"
        "      passwordEnv: AILOOP_SMTP_PASSWORD\n      from: ailoop@example.com\n"), 1))
    for customer in (folder / "customers").glob("*/customer.yaml"):
        customer.write_text(re.sub(
            r"\n  notification:\n(?:    [^\n]*\n)+",
            "\n  notification:\n    channel: webhook\n    target: ops\n"
            "    urlEnv: ACME_HOOK_URL\n    secretEnv: ACME_HOOK_SECRET\n",
            customer.read_text(), count=1))
    return folder


def test_every_planned_notification_arrives_once_by_mail_and_webhook(
        tmp_path: Path, smtp: Mailbox, webhook: Receiver) -> None:
    example = _example_with_channels(tmp_path / "example", smtp.port)
    said: list[str] = []
    result = run_demo(tmp_path / "demo", example, said.append, main)
    repo = Path(str(result["repo"]))
    log = _git(repo, "log", "--format=%H%x00%B%x01", "--grep=^Ailoop-Action:")
    planned = [d for entry in log.split("\x01") if entry.strip()
               for sha, message in [entry.strip().split("\x00", 1)]
               for d in deliveries(str(repo), sha, message)]
    assert len({d.id for d in planned}) == len(planned) > 20
    to_channel = {d.notice.id for d in planned if d.route == "channel"}
    to_people = {d.notice.id for d in planned if d.route == "people"}
    events = {d.notice.event for d in planned}
    assert {"promoted", "rolled back", "approval requested", "review recorded",
            "update published"} <= events, events
    # The receiver drops repeated idempotency keys; what it kept is each notice once.
    assert sorted(r["id"] for r in webhook.received) == sorted(to_channel)
    assert webhook.bad_signatures == 0
    mailed = [str(m["X-Ailoop-Id"]) for m in smtp.messages]
    assert sorted(mailed) == sorted(to_people)  # each once, none lost
    assert "not delivered" not in "\n".join(said)
    # what was delivered is recorded beside the commits, so a rerun sends nothing again
    assert _git(repo, "ls-remote", "origin", "refs/notes/ailoop-notify").strip()
