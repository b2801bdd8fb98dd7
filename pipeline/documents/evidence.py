"""Dry-run evidence: the fingerprint that binds it to a spec, and reading it back.

The evidence id is what approvals bind to. It is derived from three digests:
  spec      canonical JSON of the priority's spec without the parts that do not change
            the workflow's behaviour (rollout, monitoring, review, roi, users, tags, goal,
            owner), so raising the rollout target does not invalidate evidence;
  dataset   the dataset file's bytes;
  workflow  every *.py file in the priority folder (not evidence/ or events/), sorted by
            relative path, hashed as path NUL bytes; plus the replay file for replay;
            plus, when spec.workflow.inputs declares any, the digest of every file in them;
            plus, when judge assertions exist, their rubric and calibration files' bytes.
The spec digest covers spec.dryRun.repeat (how many runs the evidence stands on); a
per-case repeat is in the dataset's bytes.

Reading is fail-closed: a file that cannot be read, is not valid evidence, names another
priority, or whose id does not match its own fingerprint is skipped with a reason and
never trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from pipeline.documents.inputs import declared_inputs, inputs_digest, outside_reason
from pipeline.documents.layout import EVIDENCE_DIR, priority_dir, resolve_inside
from pipeline.errors import InputError
from pipeline.model.evidence import Evidence, evidence_error
from pipeline.model.priority import JudgeAssertion, Priority

log = logging.getLogger(__name__)

API_VERSION = "ailoop.dev/v1"
_SPEC_EXCLUDED = frozenset(
    {"rollout", "monitoring", "review", "roi", "users", "tags", "goal", "owner"})
_WORKFLOW_ADDED = ("inputs", "requirements", "secrets")
_WORKFLOW_SKIP_DIRS = frozenset({EVIDENCE_DIR, "events", "__pycache__"})
MAX_EVIDENCE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Fingerprint:
    spec: str
    dataset: str
    workflow: str

    @property
    def evidence_id(self) -> str:
        return evidence_id_of(self.spec, self.dataset, self.workflow)

    def as_dict(self) -> dict[str, str]:
        return {"spec": self.spec, "dataset": self.dataset, "workflow": self.workflow}


def evidence_id_of(spec: str, dataset: str, workflow: str) -> str:
    digest = hashlib.sha256(f"{spec}\n{dataset}\n{workflow}".encode()).hexdigest()
    return "ev-" + digest[:16]


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def spec_digest(priority: Priority) -> str:
    data = priority.spec.model_dump(by_alias=True, mode="json", exclude=set(_SPEC_EXCLUDED))
    workflow = data["workflow"]
    for name in _WORKFLOW_ADDED:  # unset, they leave the ids of existing evidence as they were
        if not workflow.get(name):
            workflow.pop(name, None)
    if data["dryRun"].get("repeat") == 1:  # likewise: one run is what evidence always was
        data["dryRun"].pop("repeat")
    thresholds = data["dryRun"].get("thresholds")
    if isinstance(thresholds, dict) and not thresholds.get("noRegressionOn"):  # likewise
        thresholds.pop("noRegressionOn", None)
    return hashlib.sha256(canonical_json(data)).hexdigest()


def _read_bytes(abs_path: str, rel: str, what: str) -> bytes:
    try:
        with open(abs_path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise InputError(f"{what} file does not exist", path=rel) from None
    except OSError as e:
        raise InputError(f"cannot read {what}: {e.strerror}", path=rel) from None


def dataset_digest(root: str, key: str, priority: Priority) -> str:
    abs_path, rel = resolve_inside(root, priority_dir(key), priority.spec.dry_run.dataset)
    outside = outside_reason(key, rel, declared_inputs(root, key, priority.spec.workflow))
    if outside is not None:
        raise InputError(f"spec.dryRun.dataset: {outside}",
                         path=f"{priority_dir(key)}/priority.yaml")
    return hashlib.sha256(_read_bytes(abs_path, rel, "dataset")).hexdigest()


def workflow_files(folder: str) -> list[str]:
    """Every *.py file under `folder` (relative POSIX paths, sorted); symlinks not followed."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        rel_dir = os.path.relpath(dirpath, folder)
        dirnames[:] = [d for d in dirnames
                       if not d.startswith(".") and not (rel_dir == "." and d in
                                                         _WORKFLOW_SKIP_DIRS)
                       and d != "__pycache__"]
        for name in filenames:
            if name.endswith(".py"):
                rel = os.path.normpath(os.path.join(rel_dir, name)).replace(os.sep, "/")
                out.append(rel)
    return sorted(out)


def workflow_digest(root: str, key: str, priority: Priority) -> str:
    folder = os.path.join(root, priority_dir(key))
    digest = hashlib.sha256()
    for rel in workflow_files(folder):
        digest.update(rel.encode("utf-8") + b"\0")
        digest.update(_read_bytes(os.path.join(folder, rel), f"{priority_dir(key)}/{rel}",
                                  "workflow"))
    workflow = priority.spec.workflow
    if workflow.provider == "replay" and workflow.replay:
        abs_path, rel = resolve_inside(root, priority_dir(key), workflow.replay)
        digest.update(_read_bytes(abs_path, rel, "replay"))
    inputs = declared_inputs(root, key, workflow)
    if inputs:  # only then: evidence of workflows that declare none keeps its id
        digest.update(b"inputs\0" + inputs_digest(inputs).encode())
    judged = judge_files(root, key, priority)
    if judged:  # likewise: only priorities with judges
        digest.update(b"judges\0" + judges_digest(judged).encode())
    return digest.hexdigest()


def judge_files(root: str, key: str, priority: Priority) -> list[tuple[str, str, bool]]:
    """(repo-relative path, absolute path, required) of every judge's rubric and
    calibration set: a rubric must exist; a missing calibration set makes the judge
    advisory, and its absence is part of the fingerprint too."""
    out: list[tuple[str, str, bool]] = []
    for i, a in enumerate(priority.spec.dry_run.assertions):
        if isinstance(a, JudgeAssertion):
            out.append((*judge_path(root, key, a.rubric, f"{i}].rubric"), True))
            if a.calibration:
                out.append((*judge_path(root, key, a.calibration, f"{i}].calibration"), False))
    return out


def judge_path(root: str, key: str, ref: str, field: str) -> tuple[str, str]:
    """(repo-relative, absolute) path of a judge's file, which must be in the priority's
    folder: the folder's owners review it with the spec. FIELD: 'N].rubric'."""
    where = f"{priority_dir(key)}/priority.yaml"
    try:
        abs_path, rel = resolve_inside(root, priority_dir(key), ref)
    except InputError as e:
        raise InputError(f"spec.dryRun.assertions[{field}: {e.detail}", path=where) from None
    if not rel.startswith(priority_dir(key) + "/"):
        raise InputError(f"spec.dryRun.assertions[{field}: '{ref}' must be inside the "
                         "priority folder", path=where)
    # The file is sent to the judge's endpoint, which the pull request names too: a symlink
    # to elsewhere in the checkout (.git/config holds CI's token) must not be followed.
    folder = os.path.realpath(os.path.join(root, priority_dir(key)))
    if not abs_path.startswith(folder + os.sep):
        raise InputError(f"spec.dryRun.assertions[{field}: '{ref}' is a symlink to a file "
                         "outside the priority folder", path=where)
    return rel, abs_path


def judges_digest(files: list[tuple[str, str, bool]]) -> str:
    """The bytes of the rubrics and calibration sets: editing a rubric or a human label
    makes new evidence, so approvals of the old one do not carry over."""
    digest = hashlib.sha256()
    for rel, abs_path, required in files:
        digest.update(rel.encode("utf-8") + b"\0")
        try:
            content = _read_bytes(abs_path, rel, "rubric" if required else "calibration")
        except InputError:
            if required:
                raise
            content = b"\0absent"  # an unreadable set: the judge is advisory
        digest.update(hashlib.sha256(content).hexdigest().encode() + b"\0")
    return digest.hexdigest()


def fingerprint(root: str, key: str, priority: Priority) -> Fingerprint:
    """The fingerprint of a priority as it is on disk now (key = 'customer/priority').

    Raises InputError when the dataset (or replay file) cannot be read: callers that
    decide on rollout must treat that as 'no current evidence' (hold).
    """
    return Fingerprint(spec=spec_digest(priority), dataset=dataset_digest(root, key, priority),
                       workflow=workflow_digest(root, key, priority))


@dataclass(frozen=True)
class EvidenceSummary:
    evidence_id: str
    priority: str
    passed: bool
    created: datetime
    fingerprint: Fingerprint
    pass_rate: float
    cases: int
    failed: int
    path: str  # repo-relative
    # The serving evidence id its noRegressionOn gates were measured against ("": nothing
    # was serving; None: it has no such gate).
    compared_with: str | None = None


def evidence_dir(key: str) -> str:
    return f"{priority_dir(key)}/{EVIDENCE_DIR}"


def read_evidence(root: str, key: str) -> list[EvidenceSummary]:
    """Every valid evidence file of a priority, oldest first; invalid ones are logged."""
    found, problems = read_evidence_with_problems(root, key)
    for problem in problems:
        log.warning("%s", problem)
    return found


def read_evidence_with_problems(root: str, key: str) -> tuple[list[EvidenceSummary], list[str]]:
    """Like read_evidence, plus one message per skipped file ('path: reason')."""
    rel_dir = evidence_dir(key)
    try:
        names = sorted(os.listdir(os.path.join(root, rel_dir)))
    except (FileNotFoundError, NotADirectoryError):
        return [], []
    except OSError as e:
        return [], [f"{rel_dir}: cannot list evidence: {e.strerror}"]
    found: list[EvidenceSummary] = []
    problems: list[str] = []
    for name in names:
        if not name.endswith(".json") or name.endswith(".intoto.json") or name.startswith("."):
            continue
        rel = f"{rel_dir}/{name}"
        try:
            found.append(_summary(root, rel, key))
        except ValueError as e:
            problems.append(f"{rel}: {e}")
    found.sort(key=lambda s: (s.created, s.evidence_id))
    return found, problems


def current_evidence(root: str, key: str, fp: Fingerprint) -> EvidenceSummary | None:
    """The newest valid evidence whose id is the fingerprint's id, or None (hold)."""
    matching = [s for s in read_evidence(root, key) if s.evidence_id == fp.evidence_id]
    return matching[-1] if matching else None


def read_evidence_bytes(root: str, rel: str) -> bytes:
    """The bytes of one evidence file; ValueError with a reason when it cannot be read."""
    abs_path = os.path.join(root, rel)
    if os.path.islink(abs_path):
        raise ValueError("evidence file is a symlink")
    try:
        with open(abs_path, "rb") as fh:
            raw = fh.read(MAX_EVIDENCE_BYTES + 1)
    except OSError as e:
        raise ValueError(f"cannot read evidence: {e.strerror}") from None
    if len(raw) > MAX_EVIDENCE_BYTES:
        raise ValueError("evidence file is too large")
    return raw


def json_object(raw: bytes, what: str = "evidence") -> dict[str, Any]:
    """RAW as a JSON object; ValueError naming WHAT otherwise."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{what} is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be a JSON object")
    return data


def load_evidence_file(root: str, rel: str) -> dict[str, Any]:
    """The raw JSON object of one evidence file; ValueError with a reason otherwise."""
    return json_object(read_evidence_bytes(root, rel))


def parse_evidence(raw: bytes) -> Evidence:
    """Evidence validated against its model; ValueError naming the field otherwise."""
    json_object(raw)
    try:
        return Evidence.model_validate_json(raw)
    except ValidationError as e:
        raise ValueError(evidence_error(e)) from None


def evidence_model(data: dict[str, Any]) -> Evidence:
    """Evidence a dry run just built (pipeline.dryrun.record), as its model."""
    return parse_evidence(json.dumps(data).encode())


def load_evidence(root: str, rel: str) -> Evidence:
    """One evidence file, validated; ValueError with the field and reason otherwise."""
    return parse_evidence(read_evidence_bytes(root, rel))


def regression_results(root: str, rel: str) -> tuple[tuple[str, bool], ...]:
    """(case id, passed) of every case tagged `regression` in an evidence file; () when the
    file cannot be read (the planner then finds the cases missing: hold)."""
    try:
        return regressions_of(load_evidence(root, rel))
    except ValueError:
        return ()


def regressions_of(evidence: Evidence) -> tuple[tuple[str, bool], ...]:
    return tuple((c.id, c.passed) for c in evidence.cases if "regression" in c.tags)


def summary_of(evidence: Evidence, rel: str, key: str) -> EvidenceSummary:
    """The summary of validated evidence found at REL for priority KEY; ValueError when it
    is not what that place must hold."""
    fp = Fingerprint(evidence.fingerprint.spec, evidence.fingerprint.dataset,
                     evidence.fingerprint.workflow)
    stem = rel.rsplit("/", 1)[-1].removesuffix(".json")
    if evidence.id != fp.evidence_id or evidence.id != stem:
        raise ValueError("id does not match its fingerprint or its file name")
    if evidence.priority != key:
        raise ValueError(f"evidence names priority '{evidence.priority}', not '{key}'")
    s = evidence.summary
    return EvidenceSummary(evidence_id=evidence.id, priority=key, passed=evidence.passed,
                           created=evidence.created.astimezone(UTC), fingerprint=fp,
                           pass_rate=s.pass_rate, cases=s.cases, failed=s.failed, path=rel,
                           compared_with=evidence.compared_with)


def _summary(root: str, rel: str, key: str) -> EvidenceSummary:
    return summary_of(load_evidence(root, rel), rel, key)
