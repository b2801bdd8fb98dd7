"""Customer updates and the dashboard from a scripted loop history, on a copy of the example.

The dashboard is opened in real headless Chromium from file://; the DOM is checked and a
screenshot is kept in test-artifacts/ (Chromium comes from Debian's `chromium`, which
`.ci/run` installs).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.documents.evidence import fingerprint
from pipeline.documents.load import load_document
from tests.support import ROOT, missing, run_cli

KEY = "northwind-insurance/claims-intake"
CANARY_EMAIL = "zebedee.canary7731@northwind.example"
CANARY_NAME = "Zebedee Quuxington-Canary"
CANARY_IBAN = "DE89370400440532013000"
NOW = "2026-11-24T10:00:00Z"

STATUS = """\
apiVersion: ailoop.dev/v1
kind: Status
metadata: {name: claims-intake}
status:
  phase: progressing
  candidate:
    version: 1.1.0
    evidenceId: EVID
    stage: canary
    percent: 5
    since: 2026-11-20T09:00:00Z
    entered: 2026-11-22T09:00:00Z
  history:
    - {time: 2026-11-20T09:00:00Z, to: shadow, percent: 0, action: promote,
       reason: dry run passed and approved}
    - {time: 2026-11-22T09:00:00Z, from: shadow, to: canary, percent: 5, action: promote,
       reason: shadow baked 24h}
  terminal: {state: stage-reached, at: 2026-11-22T09:00:00Z, reason: reached canary,
             stage: canary}
"""

INCIDENT = f"""\
apiVersion: ailoop.dev/v1
kind: Incident
metadata: {{name: inc-7}}
spec:
  severity: high
  reportedBy: hannah
  time: 2026-11-23T08:00:00Z
  summary: Claim from {CANARY_EMAIL} (IBAN {CANARY_IBAN}) was marked normal.
"""


def _plant(example: Path) -> str:
    folder = example / "customers" / "northwind-insurance" / "claims-intake"
    case = {"id": "canary-1", "input": {"subject": "Car accident", "body": f"Write to "
            f"{CANARY_EMAIL}", "sender": CANARY_NAME, "policy_number": "PN-CANARY-99"},
            "expected": {"claim_type": "motor", "urgency": "normal", "reason": "x"},
            "tags": ["canary"]}
    with (folder / "dataset.jsonl").open("a") as fh:
        fh.write(json.dumps(case) + "\n")
    (folder / "events").mkdir(exist_ok=True)
    (folder / "events" / "inc-7.yaml").write_text(INCIDENT)
    doc, findings = load_document(str(example), f"customers/{KEY}/priority.yaml")
    assert doc is not None, findings
    fp = fingerprint(str(example), KEY, doc.model)
    evidence = {
        "apiVersion": "ailoop.dev/v1", "kind": "Evidence", "id": fp.evidence_id,
        "priority": KEY, "created": "2026-11-21T09:00:00Z", "passed": True,
        "fingerprint": fp.as_dict(), "provider": "python",
        "summary": {"cases": 50, "passed": 46, "failed": 4, "passRate": 0.92},
        "failureCategories": [{"category": "wrong urgency", "count": 3},
                              {"category": "wrong claim type", "count": 1}],
        "cases": [{"id": f"c{i}", "passed": i >= 4, "tags": ["edge-case"] if i < 2 else []}
                  for i in range(50)],
    }
    (folder / "evidence").mkdir(exist_ok=True)
    (folder / "evidence" / f"{fp.evidence_id}.json").write_text(json.dumps(evidence))
    (folder / "status.yaml").write_text(STATUS.replace("EVID", fp.evidence_id))
    return fp.evidence_id


def _all_text(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_update_has_every_section_matches_status_and_leaks_nothing(
        example: Path, capsys: object, fmt: str) -> None:
    _plant(example)
    _target(example, "full")  # so that the next step names a moment
    result = run_cli(capsys, "-C", str(example), "update", KEY, "--format", fmt, "--now", NOW)
    assert result.code == 0, result.err
    updates = example / "customers" / "northwind-insurance" / "updates"
    path = updates / f"claims-intake-2026-11-24.{fmt}"
    assert result.out.strip() == f"wrote {path}"
    text = path.read_text()
    # Northwind reads German (customer.yaml: language: de) in Berlin time (ailoop.yaml).
    for title in ["Was sich seit dem letzten Update geändert hat", "Aktueller Stand",
                  "Testergebnisse mit Ihren Beispieldaten", "Zustand im Betrieb",
                  "Nutzen im Vergleich zum Plan", "Nächster Schritt", "Hindernisse"]:
        assert title in text
    assert "Northwind Insurance: claims intake, Update vom 24. November 2026" in text
    assert ("Version 1.1.0 ist bei Schritt 2 von 4 (canary) und bearbeitet 5\xa0% der echten "
            "Vorgänge; den Rest bearbeitet Ihr bisheriger Prozess.") in text
    doc, _ = load_document(str(example), f"customers/{KEY}/priority.yaml")
    assert doc is not None
    bar = f"{doc.model.spec.dry_run.thresholds.pass_rate * 100:.0f}\xa0%"
    assert (f"hat am 21. November 46 von 50 Beispielfällen richtig bearbeitet, 92\xa0% (die "
            f"Schwelle liegt bei {bar})") in text
    # canary's 48h bake ended 24 November 09:00 UTC, before now (10:00 UTC): 11:00 in Berlin
    assert ("Weiter zum Schritt early, frühestens am 24. November 2026, 11:00 MEZ, sobald "
            "Tests, Freigaben und Betriebsprüfungen übereinstimmen.") in text
    assert "Geplant: 34.560\xa0€ eingesparte Arbeit pro Monat" in text
    assert "Verantwortlich: Hannah Okafor." in text
    for planted in (CANARY_EMAIL, CANARY_IBAN, CANARY_NAME, "PN-CANARY-99"):
        assert planted not in text + result.out + result.err
    if fmt == "html":
        assert text.count("<svg") == 2 and "<html lang='de'>" in text
        assert "Anteil an echten Vorgängen im Zeitverlauf" in text


def test_second_update_says_what_changed(example: Path, capsys: object) -> None:
    _plant(example)
    assert run_cli(capsys, "-C", str(example), "update", KEY, "--now", NOW).code == 0
    status = example / "customers" / KEY / "status.yaml"
    status.write_text(status.read_text().replace("stage: canary\n  percent: 5\n",
                                                 "stage: early\n  percent: 25\n").replace(
        "  terminal:", "    - {time: 2026-11-25T23:30:00Z, from: canary, to: early, percent: 25,"
        " action: promote, reason: canary healthy for 48h}\n  terminal:"))
    later = run_cli(capsys, "-C", str(example), "update", KEY, "--stdout",
                    "--now", "2026-11-26T10:00:00Z")
    # 23:30 UTC is already the 26th in Berlin
    assert ("Einführungsschritt am 26. November auf early geändert (25\xa0% der Vorgänge): "
            "canary healthy") in later.out


def test_an_english_customer_reads_english_and_an_unknown_language_falls_back(
        example: Path, capsys: object) -> None:
    _plant(example)
    customer = example / "customers" / "northwind-insurance" / "customer.yaml"
    customer.write_text(customer.read_text().replace("  language: de\n", "  language: es\n"))
    checked = run_cli(capsys, "-C", str(example), "validate", "--no-cache", str(customer))
    assert ("customers/northwind-insurance/customer.yaml:10:13: spec.language: no translation "
            "for 'es': updates and notifications are in English (shipped: de, en, fr) "
            "(warning)") in checked.out
    update = run_cli(capsys, "-C", str(example), "update", KEY, "--stdout", "--now", NOW)
    assert update.code == 0, update.err
    assert update.out.startswith("# Northwind Insurance: claims intake, update of November 24, "
                                 "2026\n")
    assert ("Version 1.1.0 is at step 2 of 4 (canary), handling 5% of live traffic; your "
            "existing process handles the rest.") in update.out


def _target(example: Path, stage: str) -> None:
    spec = example / "customers" / KEY / "priority.yaml"
    spec.write_text(spec.read_text().replace("    target: canary\n", f"    target: {stage}\n"))


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        missing("chromium is not installed (apt-get install chromium)")
    return found


def _headless(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}"]
    return subprocess.run([chromium, *flags, *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_dashboard_is_english_in_the_projects_time_zone(
        example: Path, capsys: object, tmp_path: Path) -> None:
    _plant(example)
    out = tmp_path / "site"
    assert run_cli(capsys, "-C", str(example), "site", "--out", str(out), "--now", NOW).code == 0
    assert "Generated 2026-11-24 11:00 CET." in (out / "index.html").read_text()
    page = (out / "northwind-insurance--claims-intake.html").read_text()
    assert "<b>2026-11-22 10:00 CET</b> promote → canary (5%): shadow baked 24h" in page


def test_dashboard_in_real_chromium(example: Path, capsys: object, tmp_path: Path) -> None:
    chromium = _chromium()
    _plant(example)
    out = tmp_path / "site"
    result = run_cli(capsys, "-C", str(example), "site", "--out", str(out), "--now", NOW)
    assert result.code == 0, result.err
    index = out / "index.html"
    dom = _headless(chromium, tmp_path / "profile", "--dump-dom", index.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    rows = dict(re.findall(r"<tr data-priority=\"([^\"]+)\" data-stage=\"([^\"]*)\"", dom.stdout))
    keys = sorted(p.parent.relative_to(example / "customers").as_posix()
                  for p in (example / "customers").glob("*/*/priority.yaml"))
    assert sorted(rows) == keys
    assert rows[KEY] == "canary"
    assert "incident" in dom.stdout  # the open incident shows in the health column
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "dashboard.png"
    taken = _headless(chromium, tmp_path / "profile2", f"--screenshot={shot}",
                      "--window-size=1280,900", index.as_uri())
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert hashlib.sha256(shot.read_bytes()).hexdigest()
    text = _all_text(out)
    for planted in (CANARY_EMAIL, CANARY_IBAN, CANARY_NAME):
        assert planted not in text
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_update_summarises_shadow_disagreements_redacted(
        example: Path, capsys: object) -> None:
    """The traces file ailoop.yaml names (spec.monitoring.traces): the candidate's shadow
    runs, a few different answers, and nothing personal from them."""
    _plant(example)
    project = example / "ailoop.yaml"
    project.write_text(project.read_text().replace(
        "    maxStaleness: 15m\n", "    maxStaleness: 15m\n    traces: production/traces.jsonl\n"))
    (example / "production").mkdir()
    lines = []
    for n in range(12):
        shadow = {"claim_type": "water", "note": f"reply to {CANARY_NAME} at {CANARY_EMAIL}"}
        lines.append(json.dumps({
            "trace": f"{n:032x}", "priority": KEY, "key": f"claim-{n}", "time": 1.8e9,
            "input": {"body": f"from {CANARY_EMAIL}"}, "variant": "serving",
            "serving": {"version": "1.0.0", "output": {"claim_type": "motor"}},
            "shadow": {"version": "1.1.0", "output": shadow},
            "agreement": "disagree" if n < 4 else "agree"}))
    (example / "production" / "traces.jsonl").write_text("\n".join(lines) + "\n")
    result = run_cli(capsys, "-C", str(example), "update", KEY, "--stdout", "--now", NOW)
    assert result.code == 0, result.err
    text = result.out
    assert ("Im Schattenbetrieb hat Version 1.1.0 12 Anfragen neben der aktuellen Version "
            "beantwortet und 8-mal dieselbe Antwort gegeben (66,7\xa0%).") in text
    assert text.count("Andere Antwort (Trace ") == 3
    assert "… und 1 weitere abweichende Antwort." in text
    assert "[redacted:email]" in text  # redacted before the answer is cut short
    for planted in (CANARY_EMAIL, CANARY_NAME, "zebedee"):
        assert planted not in text
