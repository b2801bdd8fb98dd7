"""Every list a report cuts short says how many items it left out."""

from __future__ import annotations

from typing import Any

from pipeline.dryrun.report import text_report
from pipeline.dryrun.summary_md import summary_markdown


def _evidence(categories: int, cases_each: int, edge_cases: int) -> dict[str, Any]:
    return {"priority": "acme/triage", "id": "ev-0123456789abcdef", "passed": False,
            "summary": {"cases": 100, "passed": 10, "failed": 90, "errors": 0,
                        "passRate": 0.1, "latencyMs": {"p95": 12.0}},
            "thresholds": [], "successCriteria": [], "comparison": None,
            "failureCategories": [{"category": f"c{i}", "count": cases_each,
                                   "cases": [f"case-{i}-{j}" for j in range(cases_each)]}
                                  for i in range(categories)],
            "edgeCases": [{"id": f"edge-{i}", "reason": "odd"} for i in range(edge_cases)]}


def test_the_text_report_counts_what_it_leaves_out() -> None:
    text = text_report(_evidence(2, 12, 11), "e.json", True, 0, None)
    assert "(+4 more)" in text  # 12 cases, 8 shown
    assert "… and 3 more" in text  # 11 edge cases, 8 shown


def test_the_step_summary_counts_what_it_leaves_out() -> None:
    from pipeline.documents.evidence import evidence_model

    fingerprint = {"spec": "a" * 64, "dataset": "b" * 64, "workflow": "c" * 64}
    evidence = {**_evidence(23, 7, 0), "apiVersion": "ailoop.dev/v1", "kind": "Evidence",
                "created": "2026-11-20T10:00:00Z", "fingerprint": fingerprint}
    md = summary_markdown(evidence_model(evidence), "e.json")
    assert "and 2 more |" in md  # 7 example cases, 5 shown
    assert "… and 3 more categories" in md  # 23 categories, 20 shown


def test_the_step_summary_reports_added_cases_as_added_and_counts_the_rest() -> None:
    from pipeline.documents.evidence import evidence_model

    fingerprint = {"spec": "a" * 64, "dataset": "b" * 64, "workflow": "c" * 64}
    comparison = {"previous": "ev-1", "newlyFailing": [f"n{i}" for i in range(12)],
                  "fixed": [], "stillFailing": [], "added": ["fresh"], "removed": ["gone"]}
    evidence = {**_evidence(0, 0, 0), "apiVersion": "ailoop.dev/v1", "kind": "Evidence",
                "created": "2026-11-20T10:00:00Z", "fingerprint": fingerprint,
                "comparison": comparison}
    md = summary_markdown(evidence_model(evidence), "e.json")
    assert "- added: 1 (`fresh`)" in md and "- removed: 1 (`gone`)" in md
    assert "`fresh`" not in md.split("- added")[0]  # never among the newly failing
    assert "`n9` and 2 more)" in md  # 12 newly failing, 10 shown


def test_the_pr_comment_counts_the_findings_it_leaves_out() -> None:
    from datetime import UTC, datetime

    from pipeline.documents.findings import Finding
    from pipeline.publish.prcomment import MAX_FINDINGS, CommentParts, compose
    from pipeline.reconcile.plan import Plan

    findings = tuple(Finding("customers/a/p/priority.yaml", i, 1, "spec.x", "bad")
                     for i in range(1, MAX_FINDINGS + 8))
    body = compose(CommentParts(findings, 1, Plan(()), (), ""),
                   datetime(2026, 11, 20, tzinfo=UTC))
    assert f"{MAX_FINDINGS + 7} finding(s) in the changed files:" in body
    assert "- … and 7 more (see the annotations)" in body


def test_the_customer_update_counts_the_open_issues_it_leaves_out() -> None:
    from dataclasses import replace

    from pipeline.publish.update import Readings, build_update, render_markdown
    from tests.unit.test_update import T0, _view

    view = _view()
    assert view.evidence is not None
    evidence = replace(view.evidence, categories={f"issue {i}": 10 - i for i in range(5)})
    update = build_update(replace(view, evidence=evidence), None, T0, Readings({}))
    text = render_markdown(update)
    assert "Open issue: issue 2 (8 cases)." in text and "issue 3" not in text
    assert "… and 2 more open issues." in text
