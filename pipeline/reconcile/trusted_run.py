"""Commit what a trusted dry run wrote: `ailoop evidence commit DIR`.

A trusted run is a dry run started from the default branch, in a job that holds no write
token and no bot key (DESIGN.md, "Trust"). It hands its evidence over as files; the commit
job checks each one and commits them all as one signed bot commit with trailers, through
the reconciler's commit path (fetch, re-check on the new head, retry on a rejected push).
Only evidence committed this way counts for a promotion.

Each evidence file is checked against its model, must sit next to its in-toto statement,
must name a priority that exists, and its id must be the fingerprint of that priority as
committed on HEAD: a run of other inputs is refused, never committed. A file that is byte
for byte an older run HEAD already holds is left as it is (a dry run's evidence folder
keeps its earlier runs), and so is one HEAD holds for a priority that cannot be read now,
so DIR may be every evidence folder of the dry run's checkout. Every problem is collected and
reported; one refused file commits none.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline import git
from pipeline.documents.evidence import (
    EvidenceSummary,
    evidence_dir,
    fingerprint,
    json_object,
    parse_evidence,
    summary_of,
)
from pipeline.documents.layout import PRIORITY_FILE, priority_dir
from pipeline.documents.load import load_document
from pipeline.dryrun.serving import serving_status
from pipeline.errors import InputError
from pipeline.fsio import read_at_most
from pipeline.model.evidence import Evidence
from pipeline.model.priority import Priority
from pipeline.reconcile.apply import Attempt, ReconcileOptions, ReconcileResult, Writes
from pipeline.reconcile.apply import commit_state_change as _commit
from pipeline.reconcile.plan import Plan
from pipeline.reconcile.state import project_settings
from pipeline.trust.botkey import signing_key_path
from pipeline.trust.evidence_chain import STATEMENT_SUFFIX, files_problem, statement_problem
from pipeline.trust.written import untrusted_files

ACTION = "evidence"
_MAX_FILE = 64 * 1024 * 1024


@dataclass(frozen=True)
class HandedOver:
    """One evidence file and its statement, as the dry run wrote them."""

    source: str  # the evidence file under DIR
    evidence: bytes
    statement: bytes


@dataclass
class EvidenceCommit:
    summaries: list[EvidenceSummary]
    result: ReconcileResult


def commit_evidence(folder: str, opts: ReconcileOptions) -> EvidenceCommit:
    """Check every evidence file under FOLDER against HEAD and commit them as the bot."""
    handed = _collect(folder)
    checked: list[EvidenceSummary] = []

    def attempt(head: str) -> Attempt:
        summaries, writes = _checked(opts.root, handed)
        checked[:] = summaries
        message = _message(summaries)
        if head:
            _set_aside(opts.root, writes, message)
        return Attempt(ReconcileResult(Plan(())), writes, message)

    result = _commit(opts, attempt)
    return EvidenceCommit(checked, result)


def without_trusted_evidence(root: str, keys: Sequence[str]) -> list[str]:
    """Those of KEYS that no trusted run vouches for: the evidence file of their inputs'
    fingerprint is absent, or a trusted bot commit did not write it (a pull request's copy
    counts for nothing), or its noRegressionOn gates were measured against another serving
    version than the one serving now (the reconciler holds on such evidence: only a rerun
    releases it). The reconcile workflow's dry-run job runs only these, so a run costs
    nothing when nothing changed. A priority whose fingerprint cannot be computed is kept:
    its dry run says why."""
    wanted: dict[str, str] = {}
    gated: set[str] = set()  # priorities whose comparison with serving gates
    missing: set[str] = set()
    for key in keys:
        spec = f"{priority_dir(key)}/{PRIORITY_FILE}"
        doc, _ = load_document(root, spec)
        try:
            if doc is None or not isinstance(doc.model, Priority):
                raise InputError(f"{spec} cannot be read")
            evidence_id = fingerprint(root, key, doc.model).evidence_id
            wanted[key] = f"{evidence_dir(key)}/{evidence_id}.json"
        except InputError:
            missing.add(key)
            continue
        thresholds = doc.model.spec.dry_run.thresholds
        if thresholds is not None and thresholds.no_regression_on:
            gated.add(key)
    untrusted = untrusted_files(root, list(wanted.values()))
    for key, rel in wanted.items():
        if rel in untrusted or not os.path.isfile(os.path.join(root, rel)):
            missing.add(key)
        elif key in gated and _compared_with_another(root, key, rel):
            missing.add(key)
    return [key for key in keys if key in missing]


def _compared_with_another(root: str, key: str, rel: str) -> bool:
    """Whether the trusted evidence at REL compared the candidate with another serving
    evidence id than the status the bot last wrote serves now (or with nothing while
    something serves). A status that cannot be told selects nothing: a rerun could not
    compare either, and the hourly job would pay for it every hour."""
    try:
        with open(os.path.join(root, rel), "rb") as fh:
            was = parse_evidence(read_at_most(fh.fileno(), _MAX_FILE + 1)).compared_with
    except (OSError, ValueError):
        return True  # unreadable evidence: the rerun writes it again
    if was is None:  # no noRegressionOn gate was measured
        return False
    status = serving_status(root, key)
    if isinstance(status, str):
        return False
    now = status.serving.evidence_id if status is not None and status.serving else ""
    return was != now


def _collect(folder: str) -> list[HandedOver]:
    """Every <id>.json under FOLDER with its <id>.intoto.json (symlinks are refused)."""
    if not os.path.isdir(folder):
        raise InputError("no such folder (the dry run's evidence)", path=folder)
    found: list[HandedOver] = []
    problems: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            if not name.endswith(".json") or name.endswith(STATEMENT_SUFFIX):
                continue
            path = os.path.join(dirpath, name)
            statement = path.removesuffix(".json") + STATEMENT_SUFFIX
            try:
                found.append(HandedOver(path, _read(path), _read(statement)))
            except ValueError as e:
                problems.append(str(e))
    if problems:
        raise InputError(_refused(problems))
    if not found:
        raise InputError("no evidence files (<id>.json next to <id>.intoto.json)", path=folder)
    return found


def _read(path: str) -> bytes:
    if os.path.islink(path):
        raise ValueError(f"{path}: is a symlink")
    try:
        with open(path, "rb") as fh:
            raw = read_at_most(fh.fileno(), _MAX_FILE + 1)
    except FileNotFoundError:
        raise ValueError(f"{path}: missing (the dry run writes it next to its "
                         "evidence)") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot read it: {e.strerror}") from None
    if len(raw) > _MAX_FILE:
        raise ValueError(f"{path}: too large")
    return raw


def _checked(root: str, handed: list[HandedOver]) -> tuple[list[EvidenceSummary], Writes]:
    summaries: list[EvidenceSummary] = []
    writes: Writes = {}
    problems: list[str] = []
    for item in handed:
        try:
            summary = _check(root, item)
        except _Committed:
            continue
        except ValueError as e:
            problems.append(f"{item.source}: {e}")
            continue
        summaries.append(summary)
        writes[summary.path] = item.evidence.decode("utf-8")
        writes[summary.path.removesuffix(".json") + STATEMENT_SUFFIX] = \
            item.statement.decode("utf-8")
    if problems:
        raise InputError(_refused(problems))
    return summaries, writes


def _check(root: str, item: HandedOver) -> EvidenceSummary:
    evidence = parse_evidence(item.evidence)
    key = evidence.priority
    if not _is_key(key):
        raise ValueError(f"priority: '{key}' is not CUSTOMER/PRIORITY")
    rel = f"{evidence_dir(key)}/{evidence.id}.json"
    if os.path.basename(item.source) != f"{evidence.id}.json":
        raise ValueError(f"id: {evidence.id} is not its file name")
    summary = summary_of(evidence, rel, key)
    spec = f"{priority_dir(key)}/{PRIORITY_FILE}"
    if git.read_file_at(root, "HEAD", spec) is None:
        raise ValueError(f"priority: {key} has no {spec} on HEAD")
    dirty = [p for p, _ in git.dirty_paths(root, [f":(literal){priority_dir(key)}"])
             if not p.startswith(evidence_dir(key) + "/")]
    if dirty:
        raise ValueError(f"{dirty[0]} differs from HEAD: evidence is checked against the "
                         "priority as committed")
    committed = git.read_file_at(root, "HEAD", rel) == item.evidence
    doc, findings = load_document(root, spec)
    try:
        if doc is None:
            raise InputError(f"{spec} cannot be read "
                             f"({findings[0].render() if findings else ''})")
        now = fingerprint(root, key, doc.model).evidence_id
    except InputError as e:
        if committed:
            # The dry-run job hands over every evidence folder: a priority broken since
            # ran nothing here, and must not stop the others' evidence.
            raise _Committed from None
        raise ValueError(f"the fingerprint of {key} cannot be computed: {e}") from None
    if evidence.id != now and committed:
        raise _Committed  # an older run, as committed: not this run's to vouch for
    if evidence.id != now:
        raise ValueError(f"id: {evidence.id} is not the fingerprint of {key} on HEAD ({now}): "
                         "the dry run ran on other inputs")
    _check_statement(root, item.statement, evidence, rel)
    return summary


class _Committed(Exception):
    """A file of DIR that is byte for byte an older run HEAD already holds (a dry run's
    folder keeps earlier evidence): left as it is."""


def _check_statement(root: str, raw: bytes, evidence: Evidence, rel: str) -> None:
    """The statement agrees with the evidence and names HEAD's files (the run ran on them)."""
    statement = json_object(raw, "its in-toto statement")
    problem = statement_problem(statement, evidence, rel) or \
        files_problem(root, "HEAD", statement, evidence.priority)
    if problem:
        raise ValueError(problem)


def _set_aside(root: str, writes: Writes, message: str) -> None:
    """A dry run keeps an evidence file that says what it found (pipeline.dryrun.record), so
    the trusted run's file can be byte for byte the pull request's copy: git sees nothing
    to commit, and the file would stay what the PR author wrote. Such files are removed in
    a bot commit first, so that the next one, the trusted run's, is their last change."""
    same = [rel for rel, text in writes.items()
            if git.read_file_at(root, "HEAD", rel) == text.encode("utf-8")]
    unverified = sorted(untrusted_files(root, same)) if same else []
    if not unverified:
        return
    bot = project_settings(root).bot
    key = signing_key_path(bot, os.environ)
    for rel in unverified:
        os.unlink(os.path.join(root, rel))
    subject, _, rest = message.partition("\n")
    aside = subject.replace("ailoop: evidence of", "ailoop: set aside the unverified copy of", 1)
    git.commit_paths(root, unverified, f"{aside}\n{rest}", bot.name, bot.email, key)


def _is_key(key: str) -> bool:
    parts = key.split("/")
    return len(parts) == 2 and all(p and p not in (".", "..") for p in parts)


def _message(summaries: list[EvidenceSummary]) -> str:
    def line(s: EvidenceSummary) -> str:
        result = "passed" if s.passed else "failed"
        return (f"dry run {s.evidence_id} {result} ({s.cases - s.failed} of {s.cases} cases, "
                f"pass rate {s.pass_rate:.0%})")

    if len(summaries) == 1:
        s = summaries[0]
        subject = f"ailoop: evidence of {s.priority} ({s.evidence_id}, " \
                  f"{'passed' if s.passed else 'failed'})"
    else:
        subject = f"ailoop: evidence of {len(summaries)} dry runs"
    body = [f"- {s.priority}: {line(s)}" for s in summaries]
    trailers: list[str] = []
    for s in summaries:
        trailers += [f"Ailoop-Priority: {s.priority}", f"{git.TRAILER_ACTION}: {ACTION}",
                     f"Ailoop-Evidence: {s.evidence_id}",
                     f"Ailoop-Result: {'passed' if s.passed else 'failed'}"]
    return "\n".join([subject, "", *body, "", *trailers]) + "\n"


def _refused(problems: list[str]) -> str:
    more = "".join(f"\n  {p}" for p in problems[1:])
    return f"{problems[0]}{more}\nnothing was committed"

