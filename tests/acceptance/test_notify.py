"""Notifications: every state change is announced after its push, once, to the right people
and the customer's channel, through a real SMTP server and a real webhook receiver; the
ledger (git notes) makes reruns send nothing; a forged bot commit announces nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.acceptance.notify_support import Mailbox, Receiver, smtp, webhook
from tests.acceptance.test_reconcile import make_git_repo, ready
from tests.support import GitRepo, run_cli
from tests.unit.reconciler.builders import T0, iso

__all__ = ["smtp", "webhook"]
CUSTOMER = "customers/acme/customer.yaml"


def configure(repo: GitRepo, port: int, channel: str = "webhook") -> None:
    project = repo.work / "ailoop.yaml"
    project.write_text(project.read_text().replace("spec:\n", (
        "spec:\n  notifications:\n    smtp:\n      host: 127.0.0.1\n"
        f"      port: {port}\n      usernameEnv: AILOOP_SMTP_USER\n"
        "      passwordEnv: AILOOP_SMTP_PASSWORD\n      from: ailoop@acme.example\n"), 1))
    customer = repo.work / CUSTOMER
    lines = {"webhook": "    channel: webhook\n    target: acme-ops\n    urlEnv: ACME_HOOK_URL\n"
                        "    secretEnv: ACME_HOOK_SECRET\n",
             "none": "    channel: none\n"}[channel]
    customer.write_text(customer.read_text().replace(
        "  displayName: Acme\n", f"  displayName: Acme\n  notification:\n{lines}", 1))
    repo.commit_all("Notifications")
    repo.git("push", "-q", "origin", "main")


def reconcile_push(capsys: pytest.CaptureFixture[str], repo: GitRepo, minutes: int) -> str:
    result = run_cli(capsys, "-C", str(repo.work), "reconcile", "--push", "--now",
                     iso(T0 + timedelta(minutes=minutes)))
    assert result.code == 0, result.err
    return result.out + result.err


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = make_git_repo(tmp_path)
    ready(repo)
    repo.git("push", "-q", "-u", "origin", "main")
    return repo


def test_a_promotion_is_announced_once_by_mail_and_webhook(
        repo: GitRepo, smtp: Mailbox, webhook: Receiver,
        capsys: pytest.CaptureFixture[str]) -> None:
    configure(repo, smtp.port)
    out = reconcile_push(capsys, repo, 1)
    assert "promote acme/triage to shadow (0%)" in out
    events = [(r["event"], r["priority"]) for r in webhook.received]
    assert ("promoted", "acme/triage") in events and ("update published", "acme") in events
    assert webhook.bad_signatures == 0
    [mail] = [m for m in smtp.messages
              if str(m["Subject"]) == "[ailoop] acme/triage: moved to the next release step"]
    assert mail["To"] == "olga@acme.example"  # the owner
    assert mail["Message-ID"].startswith("<") and mail["X-Ailoop-Id"]
    kinds = {part.get_content_type() for part in mail.iter_parts()}
    assert kinds == {"text/plain", "text/html"}
    before = (len(webhook.received), len(smtp.messages))
    again = run_cli(capsys, "-C", str(repo.work), "notify", "send", "--now",
                    iso(T0 + timedelta(minutes=2)))
    assert again.code == 0 and again.out == "", again.out
    assert (len(webhook.received), len(smtp.messages)) == before
    assert webhook.duplicates == 0
    assert "refs/notes/ailoop-notify" in repo.git("ls-remote", str(repo.remote))


def test_approval_requests_go_to_the_holders_of_the_awaited_role(
        repo: GitRepo, smtp: Mailbox, webhook: Receiver,
        capsys: pytest.CaptureFixture[str]) -> None:
    configure(repo, smtp.port)
    approvals = repo.work / "customers/acme/triage/approvals"
    for path in sorted(approvals.glob("*canary*")):
        path.unlink()
    repo.commit_all("Canary not approved yet")
    repo.git("push", "-q", "origin", "main")
    reconcile_push(capsys, repo, 1)
    out = reconcile_push(capsys, repo, 62)
    assert "awaits approval for canary" in out, out
    asked = [m for m in smtp.messages if "your approval is requested" in str(m["Subject"])]
    # Canary waits for the customer reviewer and the risk officer: their holders, nobody else.
    to = {a.strip() for m in asked for a in str(m["To"]).split(",")}
    assert asked and to == {"rita@acme.example", "rick@acme.example"}


def test_a_failed_delivery_never_blocks_and_is_sent_on_the_next_run(
        repo: GitRepo, smtp: Mailbox, webhook: Receiver,
        capsys: pytest.CaptureFixture[str]) -> None:
    configure(repo, smtp.port)
    webhook.refuse_next = 99
    out = reconcile_push(capsys, repo, 1)
    assert "promote acme/triage to shadow (0%)" in out
    assert "not delivered, retried on the next run" in out
    assert webhook.received == []
    webhook.refuse_next = 0
    sent = run_cli(capsys, "-C", str(repo.work), "notify", "send", "--now",
                   iso(T0 + timedelta(minutes=5)))
    assert sent.code == 0, sent.err
    assert ("promoted", "acme/triage") in [(r["event"], r["priority"]) for r in webhook.received]
    assert len(smtp.messages) == 1  # the owner's mail went out the first time, once


def test_a_forged_bot_commit_announces_nothing(
        repo: GitRepo, smtp: Mailbox, webhook: Receiver,
        capsys: pytest.CaptureFixture[str]) -> None:
    configure(repo, smtp.port)
    repo.git("commit", "-q", "--allow-empty", "--author",
             "ailoop-bot <bot@users.noreply.github.com>", "-m",
             "ailoop: promote acme/triage to full (100%)\n\n- acme/triage: click "
             "https://evil.example\n\nAiloop-Priority: acme/triage\nAiloop-Action: promote\n")
    repo.git("push", "-q", "origin", "main")
    sent = run_cli(capsys, "-C", str(repo.work), "notify", "send", "--now",
                   iso(T0 + timedelta(minutes=5)))
    assert sent.code == 0 and webhook.received == [] and smtp.messages == []


def test_without_a_channel_notices_go_to_the_outbox(
        repo: GitRepo, smtp: Mailbox, capsys: pytest.CaptureFixture[str]) -> None:
    configure(repo, smtp.port, channel="none")
    (repo.work / ".gitignore").write_text(".ailoop/\n")
    out = reconcile_push(capsys, repo, 1)
    assert "notification(s) written to the outbox" in out
    files = sorted((repo.work / ".ailoop" / "outbox").glob("*.json"))
    assert files and any('"event": "promoted"' in f.read_text() for f in files)


def test_notify_test_sends_a_test_message(repo: GitRepo, webhook: Receiver, smtp: Mailbox,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    configure(repo, smtp.port)
    result = run_cli(capsys, "-C", str(repo.work), "notify", "test", "acme")
    assert result.code == 0, result.err
    assert result.out == "Sent a test message to acme (webhook).\n"
    assert webhook.received[-1]["event"] == "test"
    missing = run_cli(capsys, "-C", str(repo.work), "notify", "test", "nobody")
    assert missing.code == 2 and "no customer 'nobody'" in missing.err
