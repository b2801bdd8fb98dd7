from __future__ import annotations

import json

from pipeline.documents.findings import Finding, format_field_path, sort_findings
from pipeline.validate.report import RENDERERS, render_github, render_json, render_text

ERROR = Finding("customers/a/p/priority.yaml", 14, 5, "spec.rollout.stages[2].percent",
                "must be greater than 25 (previous stage)")
WARNING = Finding("policies/p.yaml", 3, 1, "", "consider a shadow stage", "rollout/shadow",
                  "warning")


def test_text_lists_findings_then_a_summary() -> None:
    assert render_text([ERROR, WARNING], 2) == (
        "customers/a/p/priority.yaml:14:5: spec.rollout.stages[2].percent: must be greater "
        "than 25 (previous stage)\n"
        "policies/p.yaml:3:1: rollout/shadow: consider a shadow stage (warning)\n"
        "1 error, 1 warning in 2 files checked.\n")


def test_text_summary_wording() -> None:
    assert render_text([], 0) == "All 0 files valid.\n"
    assert render_text([], 5) == "All 5 files valid.\n"
    assert render_text([ERROR, ERROR], 1).endswith("2 errors, 0 warnings in 1 file checked.\n")
    assert render_text([WARNING, WARNING], 3).endswith(
        "0 errors, 2 warnings in 3 files checked.\n")


def test_json_structure_is_stable() -> None:
    payload = json.loads(render_json([ERROR, WARNING], 2))
    assert list(payload) == ["version", "findings", "summary"]
    assert payload["version"] == 1
    assert payload["findings"][1] == {
        "path": "policies/p.yaml", "line": 3, "column": 1, "field": "", "rule": "rollout/shadow",
        "severity": "warning", "message": "consider a shadow stage"}
    assert list(payload["findings"][0]) == ["path", "line", "column", "field", "rule",
                                            "severity", "message"]
    assert payload["summary"] == {"files": 2, "errors": 1, "warnings": 1}


def test_json_keeps_unicode_and_escapes_control_characters() -> None:
    finding = Finding("a.yaml", 1, 1, "", "Grüße\n\"quoted\"")
    text = render_json([finding], 1)
    assert "Grüße" in text
    assert json.loads(text)["findings"][0]["message"] == "Grüße\n\"quoted\""


def test_github_annotations() -> None:
    assert render_github([ERROR, WARNING], 2) == (
        "::error file=customers/a/p/priority.yaml,line=14,col=5,title=ailoop::"
        "spec.rollout.stages[2].percent: must be greater than 25 (previous stage)\n"
        "::warning file=policies/p.yaml,line=3,col=1,title=rollout/shadow::"
        "consider a shadow stage\n"
        "1 error, 1 warning in 2 files checked.\n")


def test_github_escapes_data_and_properties() -> None:
    finding = Finding("a,b:c%d.yaml", 2, 3, "spec.x", "100% sure:\r\nnot, really", "r:1,2%")
    line = render_github([finding], 1).splitlines()[0]
    assert line == ("::error file=a%2Cb%3Ac%25d.yaml,line=2,col=3,title=r%3A1%2C2%25::"
                    "spec.x: 100%25 sure:%0D%0Anot, really")


def test_github_percent_is_escaped_first() -> None:
    """An already escaped-looking message must survive: %0A in the text is not a newline."""
    line = render_github([Finding("a.yaml", 1, 1, "", "literal %0A")], 1).splitlines()[0]
    assert line.endswith("::literal %250A")


def test_renderers_table() -> None:
    assert set(RENDERERS) == {"text", "json", "github"}


def test_finding_order_and_dedupe() -> None:
    a = Finding("b.yaml", 2, 1, "", "x")
    b = Finding("a.yaml", 10, 1, "", "x")
    c = Finding("a.yaml", 9, 4, "", "x")
    assert sort_findings([a, b, c, a]) == [c, b, a]


def test_format_field_path() -> None:
    assert format_field_path(()) == ""
    assert format_field_path(("spec", "stages", 2, "percent")) == "spec.stages[2].percent"
    assert format_field_path((0, "a", 1, 2)) == "[0].a[1][2]"


def test_text_escapes_control_characters_so_each_finding_is_one_line() -> None:
    finding = Finding("events/a\nb.yaml", 1, 2, "spec.\r", "unknown field '\r'\x1b[31m\t\u2028")
    assert render_text([finding], 1).splitlines()[0] == (
        "events/a\\nb.yaml:1:2: spec.\\r: unknown field '\\r'\\x1b[31m\\t\\u2028")
