"""Evidence: building the JSON document and its in-toto statement (pure), and writing
them atomically and idempotently (the shell)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline import fsio
from pipeline.documents.evidence import API_VERSION, Fingerprint, evidence_dir, load_evidence_file
from pipeline.dryrun.diff import RunDiff
from pipeline.dryrun.results import CaseResult
from pipeline.dryrun.thresholds import Gate, summarise
from pipeline.dryrun.versus import Versus
from pipeline.errors import ExternalError
from pipeline.trust.evidence_chain import STATEMENT_TYPE, TEST_RESULT_PREDICATE

# Parts of an evidence file that may differ between two runs of the same inputs without
# the evidence being different: a rerun keeps the file that is already there.
_VOLATILE = ("created", "comparison")


@dataclass(frozen=True)
class Subject:
    name: str
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "digest": {"sha256": self.sha256}}


def iso(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def failure_categories(results: Sequence[CaseResult]) -> list[dict[str, Any]]:
    groups: dict[str, list[str]] = {}
    for r in results:
        if not r.passed:
            groups.setdefault(r.category, []).append(r.id)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return [{"category": name, "count": len(ids), "cases": ids} for name, ids in ordered]


def edge_cases(results: Sequence[CaseResult]) -> list[dict[str, Any]]:
    """Cases worth a human look: the workflow faulted, or an edge-tagged case failed."""
    out = []
    for r in results:
        edge_tag = any("edge" in t for t in r.tags)
        if r.fault or (edge_tag and not r.passed):
            out.append({"id": r.id, "category": r.category, "reason": r.message[:300]})
    return out


VERDICTS = ("would-wait", "would-run", "refused")


def proposed_actions(results: Sequence[CaseResult]) -> dict[str, Any]:
    """What the workflow proposed over the run and what the guard (record-only) would have
    done: per action, its class, and the cases where it would have waited for a person,
    run, or been refused."""
    rows: dict[str, dict[str, Any]] = {}
    for r in results:
        for a in r.actions:
            name = str(a.get("name", ""))
            row = rows.setdefault(name, {"name": name, "class": a.get("class", ""),
                                         **{v: [] for v in VERDICTS}})
            verdict = a.get("verdict")
            if verdict in VERDICTS and r.id not in row[verdict]:
                row[verdict].append(r.id)
    totals = {v: sum(len(row[v]) for row in rows.values()) for v in VERDICTS}
    return {"proposed": sum(len(r.actions) for r in results), **_camel(totals),
            "byAction": [_camel(row) for _, row in sorted(rows.items())]}


def _camel(row: dict[str, Any]) -> dict[str, Any]:
    return {{"would-wait": "wouldWait", "would-run": "wouldRun"}.get(k, k): v
            for k, v in row.items()}


@dataclass(frozen=True)
class RunFacts:
    key: str
    fingerprint: Fingerprint
    subjects: tuple[Subject, ...]
    provider: dict[str, Any]
    results: tuple[CaseResult, ...]
    thresholds: tuple[Gate, ...]
    criteria: tuple[Gate, ...]
    comparison: RunDiff | None
    now: datetime
    judges: tuple[dict[str, Any], ...] = ()  # each judge and its calibration (redacted)
    versus: Versus | None = None  # the serving version on the same cases

    @property
    def passed(self) -> bool:
        return all(g.passed for g in (*self.thresholds, *self.criteria))


def build_evidence(facts: RunFacts) -> dict[str, Any]:
    fp = facts.fingerprint
    return {
        "apiVersion": API_VERSION,
        "kind": "Evidence",
        "id": fp.evidence_id,
        "priority": facts.key,
        "created": iso(facts.now),
        "passed": facts.passed,
        "fingerprint": fp.as_dict(),
        "files": [s.to_json() for s in facts.subjects],
        "provider": facts.provider,
        "summary": _with_judge_cost(summarise(facts.results), facts),
        "thresholds": [g.to_json() for g in facts.thresholds],
        "successCriteria": [g.to_json() for g in facts.criteria],
        "failureCategories": failure_categories(facts.results),
        "edgeCases": edge_cases(facts.results),
        "comparison": facts.comparison.to_json() if facts.comparison else None,
        **({"versusServing": facts.versus.to_json()} if facts.versus else {}),
        "actions": proposed_actions(facts.results),
        **({"judges": list(facts.judges)} if facts.judges else {}),
        "cases": [r.to_json() for r in facts.results],
    }


def judge_cost(facts: RunFacts) -> float:
    """What the judges' calls cost: their checks of the cases, their calibration and their
    pairwise comparison with the serving version."""
    checks = sum(c.cost for r in facts.results for c in r.checks)
    pairwise = sum(float(j.get("cost", 0.0)) for j in facts.versus.judges) \
        if facts.versus is not None else 0.0
    return checks + pairwise + sum(float(j.get("calibrationCost", 0.0)) for j in facts.judges)


def _with_judge_cost(summary: dict[str, Any], facts: RunFacts) -> dict[str, Any]:
    if not facts.judges:  # evidence without judges stays as it always was
        return summary
    cost = judge_cost(facts)
    return {**summary, "judgeCost": round(cost, 8),
            "totalCost": round(summary["cost"] + cost, 8)}


def build_statement(evidence: dict[str, Any], subjects: Sequence[Subject],
                    evidence_rel: str) -> dict[str, Any]:
    """An in-toto Statement v1 with the test-result v0.1 predicate."""
    cases = evidence["cases"]
    return {
        "_type": STATEMENT_TYPE,
        "subject": [s.to_json() for s in subjects],
        "predicateType": TEST_RESULT_PREDICATE,
        "predicate": {
            "result": "PASSED" if evidence["passed"] else "FAILED",
            "configuration": [{"name": evidence_rel, "annotations": {
                "evidenceId": evidence["id"], "priority": evidence["priority"]}}],
            "passedTests": [c["id"] for c in cases if c["passed"]],
            "warnedTests": [],
            "failedTests": [c["id"] for c in cases if not c["passed"]],
        },
    }


def dumps(data: dict[str, Any]) -> bytes:
    """Indented JSON, except that each case sits on one line: a rerun's git diff then
    shows one changed line per changed case."""
    if not data.get("cases"):
        return _utf8(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    head = json.dumps({k: v for k, v in data.items() if k != "cases"}, indent=2,
                      ensure_ascii=False)
    cases = ",\n".join("    " + json.dumps(c, ensure_ascii=False) for c in data["cases"])
    return _utf8(head[:-2] + ',\n  "cases": [\n' + cases + "\n  ]\n}\n")


def _utf8(text: str) -> bytes:
    # A workflow can answer with a lone surrogate ("\udcff" in its JSON); surrogates only
    # occur inside JSON strings, where the backslash escape is the same character again.
    return text.encode("utf-8", errors="backslashreplace")


def write_atomic(path: str, content: bytes) -> None:
    """Write to a temporary file and rename it into place; a full disk (or any OSError)
    is an ExternalError and leaves nothing behind."""
    try:
        fsio.write_atomic(path, content)
    except OSError as e:
        raise ExternalError(f"cannot write {path}: {e.strerror or e}; "
                            "nothing was written") from None


def _discard(path: str) -> None:
    if path and os.path.exists(path):
        os.unlink(path)


def _same_evidence(root: str, rel: str, evidence: dict[str, Any]) -> bool:
    try:
        existing = load_evidence_file(root, rel)
    except ValueError:
        return False
    return _stable(existing) == _stable(json.loads(json.dumps(evidence)))


def _stable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in _VOLATILE}


@dataclass(frozen=True)
class Written:
    path: str  # repo-relative evidence file
    statement: str
    changed: bool


def write_evidence(root: str, evidence: dict[str, Any], subjects: Sequence[Subject]
                   ) -> Written:
    """Write <id>.json and <id>.intoto.json; nothing is rewritten when the same evidence
    (ignoring its creation time and comparison) is already there."""
    rel_dir = evidence_dir(evidence["priority"])
    rel = f"{rel_dir}/{evidence['id']}.json"
    rel_statement = f"{rel_dir}/{evidence['id']}.intoto.json"
    if _same_evidence(root, rel, evidence) and os.path.isfile(os.path.join(root,
                                                                           rel_statement)):
        return Written(rel, rel_statement, changed=False)
    statement = build_statement(evidence, subjects, rel)
    statement_path = os.path.join(root, rel_statement)
    had_statement = os.path.exists(statement_path)
    write_atomic(statement_path, dumps(statement))
    try:
        write_atomic(os.path.join(root, rel), dumps(evidence))
    except ExternalError:
        if not had_statement:  # no statement without its evidence
            _discard(statement_path)
        raise
    return Written(rel, rel_statement, changed=True)


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
