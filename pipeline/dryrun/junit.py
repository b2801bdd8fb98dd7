"""JUnit XML from (already redacted) evidence, for CI test reports."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

# XML 1.0 cannot carry most control characters, whatever the escaping.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub("\ufffd", text)


def _failure_text(case: dict[str, Any]) -> tuple[str, str]:
    fault = case.get("fault")
    if fault:
        return str(fault.get("category", "error")), str(fault.get("reason", ""))
    failing = [c for c in case.get("checks", []) if not c.get("passed")]
    lines = [f"{c['name']}: {c.get('message', '')}" for c in failing]
    return (lines[0] if lines else "failed"), "\n".join(lines)


def junit_xml(evidence: dict[str, Any]) -> bytes:
    cases = evidence["cases"]
    summary = evidence["summary"]
    suite = ET.Element("testsuite", {
        "name": _clean(evidence["priority"]), "tests": str(summary["cases"]),
        "failures": str(summary["failed"] - summary["errors"]),
        "errors": str(summary["errors"]), "skipped": "0",
        "timestamp": evidence["created"].removesuffix("Z"),
        "time": f"{sum(c.get('latencyMs', 0) for c in cases) / 1000:.3f}"})
    props = ET.SubElement(suite, "properties")
    for name, value in (("evidence", evidence["id"]), ("passed", str(evidence["passed"]))):
        ET.SubElement(props, "property", {"name": name, "value": value})
    for case in cases:
        element = ET.SubElement(suite, "testcase", {
            "classname": _clean(evidence["priority"]), "name": _clean(case["id"]),
            "time": f"{case.get('latencyMs', 0) / 1000:.3f}"})
        if case["passed"]:
            continue
        message, text = _failure_text(case)
        runs = case.get("runs") or {}
        if case.get("flaky"):  # CI shows the message: say first that other runs passed
            message = f"flaky ({runs.get('passed')} of {runs.get('total')} runs passed): {message}"
        tag = "error" if case.get("fault") else "failure"
        child = ET.SubElement(element, tag, {"message": _clean(message[:500]),
                                             "type": _clean(case.get("category", ""))})
        child.text = _clean(text)
    suites = ET.Element("testsuites", {"name": "ailoop dry-run"})
    suites.append(suite)
    ET.indent(suites)
    body: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return body + b"\n"
