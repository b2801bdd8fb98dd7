"""What every state change ends with: the customer update of each priority that changed,
and the lessons learnt (a fixed incident, an ROI observation), written into the same commit
as the change. Customer-facing files come from here only."""

from __future__ import annotations

import os
from datetime import datetime

from pipeline import git
from pipeline.errors import AiloopError
from pipeline.lessons.memory import (
    LessonStore,
    from_review,
    incident_lessons,
    lessons_path,
)
from pipeline.model.status import StatusBody
from pipeline.publish.publisher import publish_update
from pipeline.publish.update import Readings, Subject, readings_of
from pipeline.reconcile.plan import Plan


def after_reconcile(root: str, result: Plan, now: datetime) -> list[str]:
    """The customer update of each changed priority, with the readings the plan judged,
    and lessons from incidents that were fixed. Returns the repo-relative paths written."""
    written: list[str] = []
    for p in result.changes:
        written += _update(root, p.key, now, readings_of(p.readings, judged(p.before)))
    for p in result.changes:
        names = [dict(a.inputs)["incident"] for a in p.actions
                 if a.kind == "release" and "incident" in dict(a.inputs)]
        if names and _lessons_writable(root, p.key) and \
                incident_lessons(root, p.key, names, now):
            written.append(lessons_path(_customer(p.key)))
    return written


def after_review(root: str, key: str, now: datetime, roi_note: str | None,
                 readings: Readings) -> list[str]:
    """The customer update with the readings the review judged, and the ROI observation as
    a lesson. Returns the paths written."""
    written = _update(root, key, now, readings)
    if roi_note is None or not _lessons_writable(root, key):
        return written
    lesson = from_review(key, roi_note, tags=[], systems=[], date=now.date(), ref=key)
    try:
        if LessonStore(root).add(_customer(key), [lesson]):
            written.append(lessons_path(_customer(key)))
    except AiloopError:
        pass  # the review itself is recorded either way
    return written


def judged(status: StatusBody) -> Subject | None:
    """Whose readings the plan judges: the candidate at its stage, else the serving
    version."""
    cand = status.candidate
    if cand is not None and cand.stage is not None:
        return Subject(cand.version or cand.evidence_id, cand.stage)
    if status.serving is not None:
        return Subject(status.serving.version or status.serving.evidence_id)
    return None


def _update(root: str, key: str, now: datetime, readings: Readings) -> list[str]:
    try:
        published = publish_update(root, key, now, readings=readings)
    except AiloopError:
        return []  # a priority whose spec cannot be read gets its update once fixed
    if not published.path:
        return []
    return [os.path.relpath(published.path, root).replace(os.sep, "/")]


def _lessons_writable(root: str, key: str) -> bool:
    """Only when the customer's lessons file has no uncommitted human edits: a state change
    never commits those."""
    rel = lessons_path(_customer(key))
    return not (git.is_work_tree(root) and git.dirty_paths(root, [rel]))


def _customer(key: str) -> str:
    return key.split("/", 1)[0]
