"""Segment targeting through real `ailoop reconcile` runs on a real git repository: the flag
it commits at a stage with a segment serves the candidate only inside it (both official
flagd evaluators), a 100 % stage with a segment never makes the candidate the serving
version, and a segment edited under the candidate holds it on the segment it entered with."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tests.acceptance.test_reconcile import FLAGS, make_git_repo, ready, reconcile, status_of
from tests.flagd import need_npm_flagd_core, npm_strict_errors, npm_variants, pinned_variants
from tests.support import GitRepo, run_cli
from tests.unit.reconciler.builders import KEY, T0, approve, iso

PRIORITY = Path("customers/acme/triage/priority.yaml")
SMALL = '{"<": [0, {"var": "amount"}, 1000]}'
INTERNAL = '{"in": [{"var": "group"}, ["internal"]]}'
CONTEXTS = [{"targetingKey": f"case-{i}", "amount": 1 + i * 7 % 2000,
             "group": "internal" if i % 3 == 0 else "customer"} for i in range(3000)]


@pytest.fixture(autouse=True)
def _validator() -> None:
    need_npm_flagd_core()  # the reconciler validates the segments with it


def _segment(repo: GitRepo, stage: str, rule: str, message: str) -> None:
    """Give STAGE the targeting RULE (replacing the one it has), committed by a human."""
    path = repo.work / PRIORITY
    lines = path.read_text().splitlines(keepends=True)
    at = lines.index(f"      - name: {stage}\n")
    if lines[at + 2].startswith("        targeting:"):
        del lines[at + 2]
    lines.insert(at + 2, f"        targeting: {rule}\n")
    path.write_text("".join(lines))
    repo.commit_all(message)


def _flag(repo: GitRepo) -> dict[str, object]:
    flag: dict[str, object] = json.loads((repo.work / FLAGS).read_text())["flags"]["triage"]
    return flag


def test_a_segmented_canary_then_everyone(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path)
    _segment(repo, "canary", SMALL, "Canary: small claims only")
    ready(repo)
    reconcile(capsys, repo, 1)  # shadow
    out = reconcile(capsys, repo, 62)
    assert out.startswith("promote acme/triage to canary (5%)"), out
    assert _flag(repo)["targeting"] == {"if": [json.loads(SMALL), {"fractional": [
        ["candidate", 500], ["serving", 9500]]}, "serving"]}
    assert "segment:" in status_of(repo)
    text = (repo.work / FLAGS).read_text()
    assert npm_strict_errors(text) == ""
    (npm,) = npm_variants([text], [(0, "triage")], CONTEXTS)
    for served in (npm, pinned_variants(text, "triage", CONTEXTS)):
        outside = [v for v, c in zip(served, CONTEXTS, strict=True) if c["amount"] >= 1000]
        inside = [v for v, c in zip(served, CONTEXTS, strict=True) if c["amount"] < 1000]
        assert set(outside) == {"serving"}
        assert abs(inside.count("candidate") / len(inside) - 0.05) < 0.02
    out = reconcile(capsys, repo, 183)  # early 25 %: no segment, everyone again
    assert out.startswith("promote acme/triage to early (25%)"), out
    assert _flag(repo)["targeting"] == {"fractional": [["candidate", 2500],
                                                       ["serving", 7500]]}
    assert "segment:" not in status_of(repo)


def test_a_segment_changed_in_flight_holds_on_the_old_one(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path)
    _segment(repo, "canary", SMALL, "Canary: small claims only")
    ev = ready(repo)
    reconcile(capsys, repo, 1)
    reconcile(capsys, repo, 62)
    before = (repo.work / FLAGS).read_text()
    _segment(repo, "canary", INTERNAL, "Canary: internal users instead")
    out = reconcile(capsys, repo, 183)
    assert "holds at canary 5%: the segment (targeting) of stage canary changed since " \
        "v1.0.0 entered it" in out, out
    assert (repo.work / FLAGS).read_text() == before  # still the approved segment
    assert "phase: holding" in status_of(repo)
    # The canary's approvers approve again, after the candidate entered it: it re-enters
    # the stage with the new segment, and its bake time starts again.
    approve(repo.work, KEY, "canary", ev, when=T0 + timedelta(minutes=150))
    repo.commit_all("Approve the canary's new segment")
    out = reconcile(capsys, repo, 184)
    assert "the segment (targeting) of stage canary changed and was approved again " \
        "(rita (customer-reviewer), rick (risk-officer))" in out, out
    assert _flag(repo)["targeting"]["if"][0] == json.loads(INTERNAL)  # type: ignore[index]
    assert "bake time ends 2026-11-20 14:04 UTC" in reconcile(capsys, repo, 200) + run_cli(
        capsys, "-C", str(repo.work), "plan", "--now", iso(T0 + timedelta(minutes=200))).out


def test_a_100_percent_stage_with_a_segment_never_completes(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path)
    _segment(repo, "full", INTERNAL, "Full: internal users only")
    ready(repo)
    for minutes in (1, 62, 183, 304):
        reconcile(capsys, repo, minutes)
    assert _flag(repo)["targeting"] == {"if": [json.loads(INTERNAL), {"fractional": [
        ["candidate", 10000], ["serving", 0]]}, "serving"]}
    for minutes in (365, 600):  # baked, gates passing: still only the segment's
        reconcile(capsys, repo, minutes)
        text = status_of(repo)
        assert "candidate:" in text and "stage: full" in text, text
        assert "\nserving:" not in text, text  # nothing completed a rollout
    assert _flag(repo)["variants"]["serving"] == {"version": "off"}  # type: ignore[index]


def test_status_and_plan_name_the_segment(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    repo = make_git_repo(tmp_path)
    _segment(repo, "canary", SMALL, "Canary: small claims only")
    ready(repo)
    reconcile(capsys, repo, 1)
    reconcile(capsys, repo, 62)
    now = iso(T0 + timedelta(minutes=63))
    table = run_cli(capsys, "-C", str(repo.work), "status", "--now", now, "--format", "wide")
    assert "v1.0.0 canary 5% of segment 0 < amount < 1000" in table.out, table.out
    (entry,) = json.loads(run_cli(capsys, "-C", str(repo.work), "status", "--now", now,
                                  "--format", "json").out)["priorities"]
    assert entry["segment"] == {"stage": "canary", "rule": json.loads(SMALL),
                                "text": "0 < amount < 1000"}
    plan = json.loads(run_cli(capsys, "-C", str(repo.work), "plan", "--now", now,
                              "--format", "json").out)
    (mine,) = [p for p in plan["priorities"] if p["priority"] == "acme/triage"]
    assert mine["candidate"]["segmentText"] == "0 < amount < 1000"
    text = run_cli(capsys, "-C", str(repo.work), "plan", "--now", now).out
    assert "acme/triage: at canary 5% of segment 0 < amount < 1000\n" in text, text
