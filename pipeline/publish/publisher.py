"""The shell around updates: gather the view, redact, render, write."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import datetime

from pipeline.i18n import Audience, audience
from pipeline.monitoring.shadow import Disagreement, ShadowSummary
from pipeline.publish.snapshot import PriorityView, take_snapshot
from pipeline.publish.update import (
    Readings,
    build_update,
    latest_update_text,
    previous_state,
    render_html,
    render_markdown,
    write_update,
)


@dataclass(frozen=True)
class Published:
    text: str
    path: str | None


def redactor_for(root: str, key: str) -> object:
    """The priority's own redactor: its dataset's personal values plus the detectors."""
    from pipeline.documents.dataset import read_dataset
    from pipeline.documents.layout import resolve_inside
    from pipeline.documents.load import load_document
    from pipeline.errors import InputError
    from pipeline.redact import build_redactor, detectors_only, public_texts

    doc, _ = load_document(root, f"customers/{key}/priority.yaml")
    if doc is None:
        return detectors_only()
    spec = doc.model.spec
    fields = spec.input_data.redaction.fields if spec.input_data.redaction else []
    try:
        abs_path, rel = resolve_inside(root, f"customers/{key}", spec.dry_run.dataset)
        cases = read_dataset(abs_path, rel)
    except InputError:
        return detectors_only()
    return build_redactor(cases, fields, public=public_texts(doc.model))


def shadow_of(root: str, view: PriorityView) -> ShadowSummary | None:
    """The candidate's shadow runs, from the traces file ailoop.yaml names (none: nothing)."""
    from pipeline.documents.load import load_document
    from pipeline.monitoring.shadow import shadow_summary

    project, _ = load_document(root, "ailoop.yaml")
    traces = project.model.spec.monitoring.traces if project and project.kind == "Project" \
        else None
    if not traces or not view.candidate:
        return None
    found = shadow_summary(root, traces, view.key, view.candidate, None)
    if found is None:
        return None
    # Before the update cuts long answers short: a cut address no detector would know.
    deep = redactor_for(root, view.key).deep  # type: ignore[attr-defined]
    return replace(found, examples=tuple(
        Disagreement(ex.trace, None, deep(ex.serving), deep(ex.candidate))
        for ex in found.examples))


def project_time_zone(root: str) -> str:
    """ailoop.yaml's `timeZone` (UTC when the file cannot be read: validate reports why)."""
    from pipeline.documents.load import load_document

    project, _ = load_document(root, "ailoop.yaml")
    return project.model.spec.time_zone if project and project.kind == "Project" else "UTC"


def audience_for(root: str, customer: str) -> Audience:
    """The customer's language (customer.yaml `language`; English without a catalog) and the
    project's time zone."""
    from pipeline.documents.load import load_document

    people, _ = load_document(root, f"customers/{customer}/customer.yaml")
    language = people.model.spec.language if people and people.kind == "Customer" else "en"
    return audience(language, project_time_zone(root))


def publish_update(root: str, key: str, now: datetime, *, fmt: str = "md",
                   out: str | None = None, write: bool = True,
                   readings: Readings | None = None) -> Published:
    if readings is None:  # the readings the plan judges at this moment, as `ailoop plan`
        from pipeline.publish.picture import pictures

        found = pictures(root, now, only=key).get(key)
        readings = found.readings if found is not None else None
    view: PriorityView = take_snapshot(root, key)
    previous_text = latest_update_text(root, view)
    update = build_update(view, previous_state(previous_text) if previous_text else None, now,
                          readings, audience_for(root, view.customer), shadow_of(root, view))
    text = render_markdown(update) if fmt == "md" else render_html(update, now)
    text = redactor_for(root, key).text(text)  # type: ignore[attr-defined]
    if not write:
        return Published(text, None)
    if out:
        from pipeline.dryrun.record import write_atomic

        write_atomic(os.path.abspath(out), text.encode())  # never a half-written update
        return Published(text, out)
    return Published(text, write_update(root, view, text, now, fmt))
