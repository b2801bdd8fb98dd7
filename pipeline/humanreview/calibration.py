"""`ailoop sample --to-calibration FILE`: the labelled outputs of a review, appended to a
judge's calibration set, one JSON object a line:

    {"id": str, "input": any, "output": any, "label": "correct"|"wrong", "note": str}

Ids, and inputs with their output, already in the file are skipped (a second run adds
nothing; the judge's calibration refuses a set that shows the same input and output twice,
pipeline.dryrun.calibration); the file is rewritten
whole through fsio, so a crash leaves the old file or the new one, never half a line."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from pipeline.documents.evidence import fingerprint
from pipeline.documents.layout import resolve_inside, review_path
from pipeline.documents.load import load_document, load_priority
from pipeline.errors import InputError
from pipeline.fsio import write_atomic
from pipeline.model.review import HumanReview


@dataclass(frozen=True)
class Appended:
    review: str  # the review file read
    added: int
    skipped: int  # already present
    unlabelled: int


def to_calibration(root: str, key: str, stage: str, target: str) -> Appended:
    """Append the labelled items of the review of STAGE of the candidate on disk."""
    priority = load_priority(root, key)
    rel = review_path(key, stage, fingerprint(root, key, priority).evidence_id)
    if not os.path.isfile(os.path.join(root, rel)):
        raise InputError(f"no human review {rel} for the candidate on disk: "
                         f"`ailoop sample {key} --stage {stage}` first")
    doc, findings = load_document(root, rel)
    if doc is None or not isinstance(doc.model, HumanReview):
        raise InputError(findings[0].render() if findings else f"{rel}: not a HumanReview")
    forged = _forged(root, key, doc.model)
    if forged:  # a rewritten output labelled "correct" would teach the judge a lie
        raise InputError(f"not what `ailoop sample` drew: {forged}; nothing appended",
                         path=rel)
    existing, known, shown = _existing(target)
    lines: list[str] = []
    skipped = unlabelled = 0
    for item in doc.model.spec.items:
        if item.label is None:
            unlabelled += 1
        elif item.case_id in known or _shown(item.input, item.output) in shown:
            skipped += 1
        else:
            known.add(item.case_id)
            shown.add(_shown(item.input, item.output))
            lines.append(json.dumps({"id": item.case_id, "input": item.input,
                                     "output": item.output, "label": item.label,
                                     "note": item.note}, ensure_ascii=False))
    if lines:
        joined = existing if not existing or existing.endswith("\n") else existing + "\n"
        write_atomic(target, joined + "".join(line + "\n" for line in lines))
    return Appended(rel, len(lines), skipped, unlabelled)


def _forged(root: str, key: str, review: HumanReview) -> str:
    from pipeline.humanreview.labels import Drawable
    from pipeline.humanreview.sample import DRY_RUN

    drawn = Drawable(root, key, review.spec.evidence_id)
    if drawn.problem:
        return drawn.problem
    return "; ".join(f"item {n} ({'case' if i.source == DRY_RUN else 'trace'} {i.case_id}): "
                     f"{drawn.forged(i)}" for n, i in enumerate(review.spec.items, 1)
                     if drawn.forged(i))


def _shown(case_input: object, output: object) -> str:
    return json.dumps([case_input, output], sort_keys=True, ensure_ascii=False)


def _existing(target: str) -> tuple[str, set[str], set[str]]:
    """The calibration file's text, its ids and what its lines show the judge; a line that
    is not a case is an error naming it (nothing is written then)."""
    try:
        with open(target, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return "", set(), set()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the calibration file: {e}", path=target) from None
    ids: set[str] = set()
    shown: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise InputError(f"not JSON ({e.args[0]})", path=target, line=number) from None
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise InputError("each line must be an object with a string id", path=target,
                             line=number)
        ids.add(row["id"])
        shown.add(_shown(row.get("input"), row.get("output")))
    return text, ids, shown


def resolve_target(root: str, path: str) -> str:
    """A calibration file inside the repository (relative to it) or anywhere given whole."""
    return path if os.path.isabs(path) else resolve_inside(root, "", path)[0]
