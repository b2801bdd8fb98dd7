"""Read a priority's human review files and find out whose labels they are.

Labels count the way approvals do, never by what the file says about itself:

* signed git (`approvals.source: git-signed`, and also with `github`): the commit that last
  changed the file is signed with the signingKey (customer.yaml at HEAD) of a person who
  holds a role the stage's approvals name, and the file is what that commit wrote;
* GitHub (`approvals.source: github`): the merged pull request that last changed the file
  was approved by such a person who is not its author (the approvals gate's own rules:
  verified reviewer, review of the head commit, folder unchanged since);
* approval files (`approvals.source: file`, for trying ailoop locally): anyone's, marked
  unverified, as approval files are.

The automated verdict each label is compared with comes from the trusted dry run's evidence,
not from the file (a file anyone can edit could claim any verdict). And what each item shows
the reviewer (its input, output, tags, source and verdict) is derived again from that
evidence and the dataset, redacted, as `ailoop sample` derived it: an item a pull request
rewrote (a wrong output made to look right, a case the run does not hold) is named, and
the review holds, whoever signed the labels."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pipeline import git
from pipeline.approvals.context import base_customer, change_authors, customer_file, people_of
from pipeline.approvals.requirements import HUMAN_ROLES, stage_requirements
from pipeline.approvals.signed import allowed_signers
from pipeline.documents.evidence import canonical_json
from pipeline.documents.layout import (
    REVIEWS_DIR,
    YAML_SUFFIXES,
    priority_dir,
    review_name,
    review_path,
)
from pipeline.documents.load import load_document, load_priority
from pipeline.errors import InputError
from pipeline.humanreview.sample import (
    DRY_RUN,
    Bound,
    Output,
    complaints,
    draw,
    draw_seed,
    drawn_fields,
    dry_run_outputs,
    trace_outputs,
)
from pipeline.humanreview.verdict import LabelledItem, ReviewView
from pipeline.model.customer import Person
from pipeline.model.priority import Priority
from pipeline.model.project import ApprovalSettings
from pipeline.model.review import HumanReview, ReviewItem

_SIGNATURE = {
    "N": "is not signed",
    "B": "has a signature that does not match it (changed after signing)",
}


@dataclass(frozen=True)
class ReviewContext:
    root: str
    key: str
    evidence_id: str  # the candidate's fingerprint
    evidence_path: str  # its trusted evidence file ("" when there is none)
    roles: Mapping[str, tuple[str, ...]]  # stage -> roles whose labels count
    settings: ApprovalSettings
    env: Mapping[str, str]
    # stage -> when the candidate entered it (`ailoop verify`): feedback given later was
    # not there to be shown; empty for the gate, which decides now
    entered: Mapping[str, datetime] = field(default_factory=dict)


def stage_roles(priority: Priority) -> dict[str, tuple[str, ...]]:
    """Stage -> the roles whose labels count: those its approvals (and guardrails) name,
    else any customer-side person."""
    out: dict[str, tuple[str, ...]] = {}
    for stage in priority.spec.rollout.stages:
        needed = stage_requirements("", priority, stage.name)
        out[stage.name] = tuple(dict.fromkeys(r for req in needed for r in req.roles)) \
            or HUMAN_ROLES
    return out


def read_reviews(ctx: ReviewContext) -> tuple[ReviewView, ...]:
    """Every review file of the priority; raises ExternalError when GitHub cannot be read."""
    folder = f"{priority_dir(ctx.key)}/{REVIEWS_DIR}"
    try:
        names = sorted(os.listdir(os.path.join(ctx.root, folder)))
    except (FileNotFoundError, NotADirectoryError):
        return ()
    names = [n for n in names if n.endswith(YAML_SUFFIXES) and not n.startswith(".")]
    if not names:
        return ()
    drawn = Drawable(ctx.root, ctx.key, ctx.evidence_id, bool(ctx.evidence_path))
    return tuple(_view(ctx, f"{folder}/{name}", drawn) for name in names)


class Drawable:
    """What `ailoop sample` can draw for the candidate EVIDENCE_ID: the redacted outputs of
    its trusted dry run (by case id) and, read only when an item is a trace, of its traces
    (by trace id). Without a trusted run nothing can be proven drawn."""

    def __init__(self, root: str, key: str, evidence_id: str, trusted: bool = True) -> None:
        self.root, self.key, self.evidence_id = root, key, evidence_id
        self.problem = ""  # why the dry run's outputs cannot be derived (all items hold)
        self.outputs: dict[str, Output] = {}
        self._bound: Bound | None = None
        self._traces: tuple[str, dict[str, Output]] | None = None
        self.traces_file = ""  # repository-relative, once read
        if not trusted:
            return
        try:
            # From the commit that recorded the evidence, as `ailoop sample` drew them: the
            # dataset on disk may already be the next candidate's.
            self._bound, pool = dry_run_outputs(root, key, evidence_id)
        except InputError as e:
            self.problem = f"its outputs cannot be derived from the trusted dry run: {e}"
            return
        self.outputs = {o.case_id: o for o in pool}

    def must_show(self, until: datetime | None) -> tuple[str, dict[str, str]]:
        """(why the events cannot be read, or "", case id -> the negative feedback naming
        it, of this run's cases): every sample shows them. UNTIL: feedback given by then."""
        try:
            named = complaints(self.root, self.key, until)
        except InputError as e:
            return f"the events it must show cannot be read: {e}", {}
        return "", {c: event for c, event in named.items() if c in self.outputs}

    def traces(self) -> tuple[str, dict[str, Output]]:
        """(why they cannot be read, or "", the candidate's trace outputs by id); the file
        is read once, the first time an item needs it."""
        if self._traces is None:
            try:
                if self._bound is None:
                    raise InputError("there is no trusted dry run of the candidate")
                rel, pool = trace_outputs(self.root, self.key, self._bound, self.evidence_id)
                self._traces = ("", {o.case_id: o for o in pool})
                self.traces_file = rel
            except InputError as e:
                self._traces = (str(e), {})
        return self._traces

    def not_drawn(self, stage: str, items: Sequence[ReviewItem],
                  required: Mapping[str, str]) -> frozenset[str]:
        """The case ids among ITEMS that the draw `ailoop sample` makes for this evidence
        and stage does not hold. None are named for a review with a trace item: the traces
        file grows, so its draw cannot be made again."""
        if not items or len(items) > len(self.outputs) \
                or any(i.source != DRY_RUN for i in items):
            return frozenset()
        ids = {i.case_id for i in items}
        expected = draw(list(self.outputs.values()), len(items) - len(ids & required.keys()),
                        draw_seed(self.evidence_id, stage), required)
        return frozenset(ids) - {o.case_id for o in expected}

    def unshown(self, items: Sequence[ReviewItem], required: Mapping[str, str]) -> str:
        """Why a dry-run sample misses cases negative feedback names ("" when it does not):
        what a customer said went wrong is always shown to the reviewers."""
        if any(i.source != DRY_RUN for i in items):
            return ""
        missing = sorted(required.keys() - {i.case_id for i in items})
        if not missing:
            return ""
        named = ", ".join(f"{c} ({required[c]})" for c in missing)
        return (f"it does not show the case(s) negative feedback names: {named}; draw again "
                f"with `ailoop sample {self.key} --force`")

    def forged(self, item: ReviewItem) -> str:
        """Why ITEM is not what was drawn; "" when it is, field for field (canonical JSON:
        key order and spacing do not matter, any value does)."""
        if item.source == DRY_RUN:
            out = self.outputs.get(item.case_id)
            what = "trusted dry run"
            if out is None:
                return f"case {item.case_id} is not in the trusted dry run {self.evidence_id}"
        else:
            problem, pool = self.traces()
            if problem:
                return problem
            out = pool.get(item.case_id)
            what = "recorded trace"
            if out is None:
                return (f"trace {item.case_id} is not among the candidate's traces in "
                        f"{self.traces_file}")
        shown = item.model_dump(by_alias=True, mode="json")
        fields = [name for name, value in drawn_fields(out).items()
                  if canonical_json(shown.get(name)) != canonical_json(value)]
        if not fields:
            return ""
        names = fields[0] if len(fields) == 1 else \
            f"{', '.join(fields[:-1])} and {fields[-1]}"
        verb = "is" if fields in (["input"], ["output"], ["source"], ["automatedVerdict"]) \
            else "are"
        return f"its {names} {verb} not the {what}'s"


def _view(ctx: ReviewContext, rel: str, drawn: Drawable) -> ReviewView:
    # Who the file is for when it cannot be read: its name says (a long stage name is cut
    # short in it, so the stage is the one whose review name it is)
    stem = rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    prefix, _, rest = stem.rpartition("-ev-")
    evidence = f"ev-{rest}" if prefix else ""
    stage = next((s for s in ctx.roles if review_name(s, evidence) == stem), prefix)
    named = ReviewView(rel, stage, evidence)
    doc, findings = load_document(ctx.root, rel)
    if doc is None or not isinstance(doc.model, HumanReview):
        return _with(named, problem=findings[0].render() if findings else "not a HumanReview")
    spec = doc.model.spec
    expected = review_path(ctx.key, spec.stage, spec.evidence_id)
    if spec.priority != ctx.key or rel != expected:
        return _with(named, problem=f"it names {spec.priority} stage {spec.stage} evidence "
                     f"{spec.evidence_id}, which belongs in {expected}")
    if spec.evidence_id != ctx.evidence_id:  # stale: whoever labelled it, it holds
        return ReviewView(rel, spec.stage, spec.evidence_id,
                          tuple(LabelledItem(i.case_id, i.label, None) for i in spec.items))
    if drawn.problem:
        return _with(named, problem=drawn.problem)
    unreadable, required = drawn.must_show(ctx.entered.get(spec.stage))
    if unshown := unreadable or drawn.unshown(spec.items, required):
        return _with(named, problem=unshown)
    not_drawn = drawn.not_drawn(spec.stage, spec.items, required)
    items = tuple(_item(i, drawn, spec.stage, not_drawn) for i in spec.items)
    labellers, source, untrusted = labelled_by(ctx, rel, ctx.roles.get(spec.stage, HUMAN_ROLES))
    return ReviewView(rel, spec.stage, spec.evidence_id, items, labellers, source,
                      untrusted=untrusted)


def _item(item: ReviewItem, drawn: Drawable, stage: str,
          not_drawn: frozenset[str]) -> LabelledItem:
    """The verdict comes from the trusted run, never the file; a trace has none. An item
    the draw does not hold was picked by hand, however genuine its output."""
    out = drawn.outputs.get(item.case_id) if item.source == DRY_RUN else None
    forged = drawn.forged(item) or (
        f"it is not among the outputs `ailoop sample` draws for {drawn.evidence_id} and "
        f"stage {stage} (the evidence id fixes the draw, so nobody picks the outputs to "
        "show)" if item.case_id in not_drawn else "")
    return LabelledItem(item.case_id, item.label, out.passed if out else None, forged,
                        "case" if item.source == DRY_RUN else "trace")


def _with(view: ReviewView, *, problem: str) -> ReviewView:
    return ReviewView(view.path, view.stage, view.evidence_id, problem=problem)


Who = tuple[tuple[str, ...], str, str]  # (labellers, source, why they do not count)


# Who wrote the outputs does not judge them, as no author is the only approver of the stage
# that ships the change (pipeline.approvals.evaluate).
_AUTHORED = "{} authored the workflow or dataset change and cannot label its outputs"


def _authors(ctx: ReviewContext, people: list[Person]) -> frozenset[str]:
    """Who last changed the workflow code or the dataset (person ids)."""
    return change_authors(ctx.root, "HEAD", ctx.key, load_priority(ctx.root, ctx.key), people)


def labelled_by(ctx: ReviewContext, rel: str, roles: tuple[str, ...]) -> Who:
    if ctx.settings.source == "file":
        return ("unverified (approvals.source: file)",), "file", ""
    signed = _signed(ctx, rel, roles)
    if signed[0] or ctx.settings.source == "git-signed":
        return signed
    github = _github(ctx, rel, roles)
    if github[0]:
        return github
    return (), "", f"{signed[2]}; and {github[2]}"


def _signed(ctx: ReviewContext, rel: str, roles: tuple[str, ...]) -> Who:
    last = git.last_change(ctx.root, "HEAD", [rel])
    if last is None:
        return (), "", "it is not committed"
    sha = last[0]
    try:
        with open(os.path.join(ctx.root, rel), "rb") as fh:
            on_disk = fh.read()
    except OSError as e:
        return (), "", f"it cannot be read ({e.strerror})"
    if git.read_file_at(ctx.root, sha, rel) != on_disk:
        return (), "", f"it changed after commit {sha[:12]}"
    customer_name = ctx.key.split("/")[0]
    people = people_of(base_customer(ctx.root, "HEAD", customer_name))
    with git.allowed_signers_file(allowed_signers(people)) as path:
        verdict, signer = git.commit_signature(ctx.root, sha, path)
    if verdict != "G":
        how = _SIGNATURE.get(verdict, "is not signed with the signingKey of anyone in "
                             f"{customer_file(customer_name)}")
        return (), "", f"commit {sha[:12]}, which last changed it, {how}"
    held = next((p.roles for p in people if p.id == signer), [])
    role = next((r for r in roles if r in held), None)
    if role is None:
        return (), "", (f"{signer} signed commit {sha[:12]} but does not hold the role "
                        f"{' or '.join(roles)} in {customer_file(customer_name)}")
    if signer in _authors(ctx, people):
        return (), "", _AUTHORED.format(signer)
    return (f"{signer} ({role})",), f"git-signed:{sha[:12]}", ""


def _github(ctx: ReviewContext, rel: str, roles: tuple[str, ...]) -> Who:
    from pipeline.approvals.factory import MergedPullApprovals

    source = MergedPullApprovals(ctx.root, ctx.settings.github_api_url, ctx.env)
    number, approvals = source.approvals_of_change(ctx.key, [rel])
    if not number:
        return (), "", "no merged pull request changed it"
    counted = [a for a in approvals
               if a.valid and a.role in roles and a.evidence_id == ctx.evidence_id]
    authors = _authors(ctx, people_of(base_customer(ctx.root, "HEAD", ctx.key.split("/")[0])))
    people = sorted({f"{a.person} ({a.role})" for a in counted if a.person not in authors})
    if counted and not people:
        return (), "", _AUTHORED.format(", ".join(sorted({a.person for a in counted})))
    if not people:
        return (), "", (f"pull request #{number}, which last changed it, has no approval by "
                        f"a {' or '.join(roles)} who did not write it")
    return tuple(people), f"github:#{number}", ""
