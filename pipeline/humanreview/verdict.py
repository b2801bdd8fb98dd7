"""Does a human review let the candidate into a stage? Pure: the review files as plain data
(who labelled them, as labels.py found it) and the stage's humanReview setting in; a
verdict that says what is missing, or what the labels prove, out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LabelledItem:
    case: str
    label: str | None  # correct | wrong | None (not labelled yet)
    passed: bool | None  # the trusted dry run's verdict; None: a trace (it has none)
    # Why the item is not what `ailoop sample` drew from the trusted evidence ("its output
    # is not the trusted dry run's", "case t9 is not in the trusted dry run ev-..."): the
    # reviewer was shown something else, so the labels prove nothing. "" when it is.
    forged: str = ""
    kind: str = "case"  # case | trace: what `case` names


@dataclass(frozen=True)
class ReviewView:
    """One review file of a priority, as the planner needs it."""

    path: str
    stage: str
    evidence_id: str
    items: tuple[LabelledItem, ...] = ()
    labellers: tuple[str, ...] = ()  # "ann (customer-reviewer)": whose labels these are
    source: str = ""  # how that is known: "git-signed:1a2b3c4d5e6f", "github:#12", "file"
    problem: str = ""  # unreadable or invalid: it never counts
    untrusted: str = ""  # why its labels are nobody's (unsigned, wrong role, ...)


@dataclass(frozen=True)
class Setting:
    sample: int
    min_agreement: float


@dataclass(frozen=True)
class ReviewVerdict:
    passed: bool
    reason: str  # why it holds (with what releases it), or what the labels proved
    trailer: str = ""  # for the promotion's commit: stage, evidence, agreement, who
    # How far the labelling got, for status and plan (None: no usable review to count)
    labelled: int | None = None
    total: int | None = None
    agreement: float | None = None  # once every output is labelled


def judge(key: str, stage: str, setting: Setting, reviews: Sequence[ReviewView],
          evidence_id: str, who: str = "a reviewer") -> ReviewVerdict:
    """The verdict of the best review of STAGE for EVIDENCE_ID (a passing one if any). WHO
    names whose labels count ("a customer-reviewer"): the hold says who is to act."""
    mine = [r for r in reviews if r.stage == stage]
    current = [r for r in mine if r.evidence_id == evidence_id]
    sample = f"`ailoop sample {key} --stage {stage}`"
    if not current:
        if mine:
            old = mine[0]
            return ReviewVerdict(False, f"human review for stage {stage}: {old.path} labels "
                                 f"evidence {old.evidence_id}, the candidate is {evidence_id}"
                                 f"; to release: {sample} again and label the new sample")
        return ReviewVerdict(False, f"human review for stage {stage}: no labelled sample of "
                             f"{evidence_id}; to release: {sample}, then {who} labels every "
                             "output")
    verdicts = [_one(r, setting, who, f"`ailoop sample {key} --stage {stage} --force`")
                for r in current]
    return next((v for v in verdicts if v.passed), verdicts[0])


def _one(review: ReviewView, setting: Setting, who: str, again: str) -> ReviewVerdict:
    head = f"human review for stage {review.stage}"
    if review.problem:
        return ReviewVerdict(False, f"{head}: {review.path} cannot be used ({review.problem})"
                             "; to release: fix it")
    if review.untrusted or not review.labellers:
        why = review.untrusted or "nobody who may label it wrote it"
        return ReviewVerdict(False, f"{head}: the labels in {review.path} do not count: {why}")
    total = len(review.items)
    if total < setting.sample:
        return ReviewVerdict(False, f"{head}: {review.path} holds {total} outputs, the stage "
                             f"asks for {setting.sample}; to release: sample again with "
                             f"--n {setting.sample}")
    forged = _forged(review.items)
    if forged:
        shown = "; ".join(forged[:10]) + (f"; and {len(forged) - 10} more"
                                          if len(forged) > 10 else "")
        return ReviewVerdict(False, f"{head}: {review.path} is not what `ailoop sample` drew "
                             f"from the trusted dry run {review.evidence_id}: {shown}; to "
                             f"release: {again} and label the new sample")
    labelled = sum(1 for i in review.items if i.label is not None)
    if labelled < total:
        return ReviewVerdict(False, f"{head}: {labelled} of {total} outputs labelled; to "
                             f"release: {who} labels every output in {review.path}",
                             labelled=labelled, total=total)
    return _agreement(review, setting)


def _forged(items: Sequence[LabelledItem]) -> list[str]:
    """'item 5 (case t4): its output is not the trusted dry run's' for every item that is
    not what was drawn, or that shows a case an earlier item shows (a sample of one easy
    case copied N times proves nothing about the others)."""
    seen: set[str] = set()
    out = []
    for number, item in enumerate(items, 1):
        name = f"{item.kind} {item.case}"
        why = item.forged or (f"{name} is drawn twice" if name in seen else "")
        seen.add(name)
        if why:
            out.append(f"item {number} ({name}): {why}")
    return out


def _agreement(review: ReviewView, setting: Setting) -> ReviewVerdict:
    total = len(review.items)
    wrong = sorted(i.case for i in review.items if i.passed is True and i.label == "wrong")
    right = sorted(i.case for i in review.items if i.passed is False and i.label == "correct")
    # a trace has no automated verdict: it agrees when its output is labelled correct
    traces = [i for i in review.items if i.passed is None]
    bad = sorted(i.case for i in traces if i.label == "wrong")
    agreement = (total - len(wrong) - len(right) - len(bad)) / total
    by = ", ".join(review.labellers)
    if agreement < setting.min_agreement:
        parts = []
        if wrong:
            parts.append(f"{_cases(wrong)} judged wrong though the dry run passed "
                         f"{'it' if len(wrong) == 1 else 'them'}")
        if right:
            parts.append(f"{_cases(right)} judged correct though the dry run failed "
                         f"{'it' if len(right) == 1 else 'them'}")
        if bad:
            parts.append(f"{_cases(bad, 'trace')} judged wrong")
        return ReviewVerdict(False, f"human review for stage {review.stage}: agreement "
                             f"{agreement:.2f} < {setting.min_agreement:.2f}: "
                             f"{'; '.join(parts)} (labelled by {by}); to release: fix what "
                             "they found (a new candidate needs a new sample)",
                             labelled=total, total=total, agreement=agreement)
    agree = total - len(wrong) - len(right) - len(bad)
    how = "with the dry run or, for traces, are labelled correct" if traces else \
        "with the dry run"
    text = (f"human review of {review.stage} by {by}: {agree} of {total} outputs agree {how} "
            f"({agreement:.2f} >= {setting.min_agreement:.2f}; {review.source})")
    trailer = (f"{review.stage} {review.evidence_id} agreement {agreement:.2f} "
               f"({agree}/{total}) by {by} ({review.source})")
    return ReviewVerdict(True, text, trailer, total, total, agreement)


def _cases(ids: Sequence[str], kind: str = "case") -> str:
    shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
    return f"{kind}{'s' if len(ids) > 1 else ''} {shown}"
