"""Reporters for findings: text for people, JSON for tools, GitHub workflow commands for CI."""

from __future__ import annotations

from pipeline.documents.findings import Finding


def _summary(findings: list[Finding], files: int) -> str:
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    if not findings:
        return f"All {files} files valid."
    plural = "s" if files != 1 else ""
    return (f"{errors} error{'s' if errors != 1 else ''}, "
            f"{warnings} warning{'s' if warnings != 1 else ''} in {files} file{plural} checked.")


def render_text(findings: list[Finding], files: int) -> str:
    lines = [f.render() for f in findings]
    lines.append(_summary(findings, files))
    return "\n".join(lines) + "\n"


def render_json(findings: list[Finding], files: int) -> str:
    import json  # only this format: a warm run imports nothing it does not use

    payload = {
        "version": 1,
        "findings": [
            {"path": f.path, "line": f.line, "column": f.col, "field": f.field,
             "rule": f.rule, "severity": f.severity, "message": f.message}
            for f in findings
        ],
        "summary": {
            "files": files,
            "errors": sum(1 for f in findings if f.severity == "error"),
            "warnings": sum(1 for f in findings if f.severity == "warning"),
        },
    }
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(findings: list[Finding], files: int) -> str:
    """GitHub Actions workflow commands: each finding becomes an inline annotation."""
    lines = []
    for f in findings:
        title = _escape_property(f.rule or "ailoop")
        body = _escape_data(f"{f.field}: {f.message}" if f.field else f.message)
        lines.append(f"::{f.severity} file={_escape_property(f.path)},line={f.line},"
                     f"col={f.col},title={title}::{body}")
    lines.append(_summary(findings, files))
    return "\n".join(lines) + "\n"


RENDERERS = {"text": render_text, "json": render_json, "github": render_github}
