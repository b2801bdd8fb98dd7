"""Per-document checks: semantic rules within one file, and the facts cross-checks need.

Everything here is a pure function of one file's content and its path, so its result can
be cached by blob id. Facts are plain data (no pydantic objects) to keep the cache light.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from sys import intern
from typing import TYPE_CHECKING, Any

from pipeline.documents.findings import Finding
from pipeline.documents.layout import customer_of, priority_of

if TYPE_CHECKING:  # the loader pulls in pydantic and the models: only when a file is parsed
    from pipeline.documents.load import Document
    from pipeline.documents.yamlio import Loaded
    from pipeline.model.customer import Person

Facts = dict[str, Any]


@dataclass(frozen=True)
class FileResult:
    findings: tuple[Finding, ...] = ()
    facts: Facts = field(default_factory=dict)


def check_file(root: str, rel: str) -> FileResult:
    return check_parsed(root, rel)[0]


def check_parsed(root: str, rel: str, raw: bytes | None = None
                 ) -> tuple[FileResult, Loaded | None]:
    """The file's result and its parse (None when it did not load), which positions any
    later finding about it without a second parse. `raw`: the file's bytes when the caller
    has read them already (to hash them)."""
    from pipeline.documents.load import load_document

    doc, findings = load_document(root, rel, raw)
    if doc is None:
        return FileResult(tuple(findings), {"kind": None}), None
    checker = _CHECKERS.get(doc.kind)
    extra, facts = checker(doc) if checker else ([], {})
    facts = {"kind": doc.kind, "name": doc.model.metadata.name, **facts}
    return FileResult(tuple(findings + extra), facts), doc.source


def _folder_name_check(doc: Document, expected: str | None, what: str) -> list[Finding]:
    if expected is None or doc.model.metadata.name == expected:
        return []
    return [doc.finding(("metadata", "name"), f"must match the {what} folder name '{expected}'")]


def _check_customer(doc: Document) -> tuple[list[Finding], Facts]:
    from pipeline.policy.facts import customer_facts

    findings = _folder_name_check(doc, customer_of(doc.path), "customer")
    roles: dict[str, list[str]] = {}
    ids: dict[str, int] = {}
    logins: dict[str, int] = {}
    accounts: dict[int, int] = {}
    for i, person in enumerate(doc.model.spec.people):
        if person.id in ids:
            findings.append(doc.finding(("spec", "people", i, "id"),
                                        f"duplicate person id '{person.id}' "
                                        f"(also people[{ids[person.id]}])"))
        ids.setdefault(person.id, i)
        if person.github:
            login = person.github.lower()
            if login in logins:
                findings.append(doc.finding(
                    ("spec", "people", i, "github"),
                    f"GitHub login is also used by people[{logins[login]}]"))
            logins.setdefault(login, i)
        findings += _github_id_findings(doc, i, person, accounts)
        for role in person.roles:
            roles.setdefault(role, []).append(person.id)
    findings += _language_findings(doc)
    return findings, {"people": sorted(ids), "roles": roles, **customer_facts(doc)}


def _language_findings(doc: Document) -> list[Finding]:
    """A language without a catalog is not an error: the customer reads English until one
    is added, and the warning says so."""
    from pipeline.i18n import LANGUAGES, shipped

    language = doc.model.spec.language
    if shipped(language):
        return []
    return [doc.finding(("spec", "language"), f"no translation for '{language}': updates and "
                        f"notifications are in English (shipped: {', '.join(LANGUAGES)})",
                        severity="warning")]


def _github_id_findings(doc: Document, i: int, person: Person,
                        accounts: dict[int, int]) -> list[Finding]:
    """One account is one person, and an id is checked against the login's reviews."""
    if person.github_id is None:
        return []
    loc = ("spec", "people", i, "githubId")
    if not person.github:
        return [doc.finding(loc, "githubId needs the github login it belongs to")]
    first = accounts.setdefault(person.github_id, i)
    if first != i:
        return [doc.finding(loc, f"GitHub account id is also used by people[{first}]")]
    return []


def _check_priority(doc: Document) -> tuple[list[Finding], Facts]:
    from pipeline.policy.facts import priority_facts

    spec = doc.model.spec
    key = priority_of(doc.path)
    findings = _folder_name_check(doc, key.split("/")[1] if key else None, "priority")
    findings += _check_stages(doc)
    unchecked = False
    if any(s.targeting is not None for s in spec.rollout.stages):
        from pipeline.validate.targeting import targeting_findings

        segments, unchecked = targeting_findings(doc)
        findings += segments
    findings += _check_workflow(doc)
    roles_needed = []
    for i, stage in enumerate(spec.rollout.stages):
        for j, approval in enumerate(stage.approvals):
            loc = ("spec", "rollout", "stages", i, "approvals", j, "role")
            line, col = doc.pos(*loc)
            # Interned: the same few texts recur in every priority, and the results cache
            # (a pickle) then stores each once per file instead of once per use.
            roles_needed.append((intern(approval.role),
                                 intern(f"spec.rollout.stages[{i}].approvals[{j}].role"),
                                 line, col))
    facts: Facts = {
        "roles_needed": roles_needed,
        "refs": _file_refs(doc),
        "inputs": [(intern(ref), f"spec.workflow.inputs[{i}]",
                    *doc.pos("spec", "workflow", "inputs", i))
                   for i, ref in enumerate(spec.workflow.inputs)],
        "owner": spec.owner,
        "stages": [(intern(s.name), s.percent) for s in spec.rollout.stages],
        **priority_facts(doc),  # guardrails and policy data (pipeline/policy/facts.py)
    }
    if unchecked:  # a verdict of this machine, not of the file: never cached
        facts["unchecked"] = True
    return findings, facts


def _check_stages(doc: Document) -> list[Finding]:
    rollout = doc.model.spec.rollout
    findings: list[Finding] = []
    seen: dict[str, int] = {}
    previous: float | None = None
    segment: object = None  # the previous stage's targeting
    for i, stage in enumerate(rollout.stages):
        if stage.name in seen:
            findings.append(doc.finding(("spec", "rollout", "stages", i, "name"),
                                        f"duplicate stage name '{stage.name}' "
                                        f"(also stages[{seen[stage.name]}])"))
        seen.setdefault(stage.name, i)
        # A percent is a share of its segment: only within one segment do shares compare
        # (100 % of small claims, then 100 % of everything, is a step up).
        if previous is not None and stage.percent <= previous and stage.targeting == segment:
            findings.append(doc.finding(("spec", "rollout", "stages", i, "percent"),
                                        f"must be greater than {_num(previous)} (previous stage)"))
        previous, segment = stage.percent, stage.targeting
        if stage.targeting is not None and stage.percent <= 0:
            findings.append(doc.finding(("spec", "rollout", "stages", i, "targeting"),
                                        "a shadow stage (0 %) runs beside every request and "
                                        "serves none: a segment is for stages with traffic"))
        if stage.targeting is not None and _reads_the_time(stage.targeting):
            findings.append(doc.finding(("spec", "rollout", "stages", i, "targeting"),
                                        "the rule reads the time ($flagd.timestamp): who is "
                                        "in the segment would change after the stage was "
                                        "approved, with no edit to approve again"))
    if rollout.target not in seen:
        names = ", ".join(s.name for s in rollout.stages)
        findings.append(doc.finding(("spec", "rollout", "target"),
                                    f"'{rollout.target}' is not a stage; stages are: {names}"))
    return findings


def _reads_the_time(rule: object) -> bool:
    """Whether a targeting rule reads flagd's clock ({"var": "$flagd.timestamp"}, or the
    list form with a default): a segment must be a fixed set of requests, what was
    approved."""
    if isinstance(rule, dict):
        name = rule.get("var")
        if isinstance(name, list):
            name = name[0] if name else None
        return name == "$flagd.timestamp" or any(_reads_the_time(v) for v in rule.values())
    return isinstance(rule, list) and any(_reads_the_time(v) for v in rule)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


_PROVIDER_FIELD = {"python": "entrypoint", "openai": "openai", "replay": "replay"}


def _check_workflow(doc: Document) -> list[Finding]:
    workflow = doc.model.spec.workflow
    needed = _PROVIDER_FIELD[workflow.provider]
    if getattr(workflow, needed) is None:
        return [doc.finding(("spec", "workflow", needed),
                            f"required for provider '{workflow.provider}'")]
    openai = workflow.openai
    if openai and openai.max_tokens is not None and openai.max_completion_tokens is not None:
        return [doc.finding(("spec", "workflow", "openai", "maxTokens"),
                            "set maxTokens or maxCompletionTokens, not both "
                            "(reasoning models accept only maxCompletionTokens)")]
    return []


def _file_refs(doc: Document) -> list[tuple[str, str, int, int, str]]:
    """(path, field, line, col, what) of every file the priority points at; checked later
    against the tree, since they depend on files other than this one."""
    spec = doc.model.spec
    refs = [(spec.dry_run.dataset, "spec.dryRun.dataset", "dataset")]
    if spec.workflow.provider == "python" and spec.workflow.entrypoint:
        refs.append((spec.workflow.entrypoint.split(":")[0], "spec.workflow.entrypoint",
                     "workflow file"))
    if spec.workflow.provider == "replay" and spec.workflow.replay:
        refs.append((spec.workflow.replay, "spec.workflow.replay", "replay file"))
    out = []
    for ref, field_path, what in refs:
        line, col = doc.pos(*field_path.split("."))
        out.append((intern(ref), field_path, line, col, what))
    from pipeline.model.priority import JudgeAssertion

    for i, a in enumerate(spec.dry_run.assertions):
        if isinstance(a, JudgeAssertion):  # its calibration set may be missing: advisory
            line, col = doc.pos("spec", "dryRun", "assertions", i, "rubric")
            out.append((intern(a.rubric), f"spec.dryRun.assertions[{i}].rubric", line, col,
                        "rubric"))
    return out


def _check_named(doc: Document) -> tuple[list[Finding], Facts]:
    key = priority_of(doc.path)
    if doc.kind == "Status":
        from pipeline.validate.status_check import status_facts

        return (_folder_name_check(doc, key.split("/")[1] if key else None, "priority"),
                status_facts(doc))
    return [], {}


def _check_lessons(doc: Document) -> tuple[list[Finding], Facts]:
    findings: list[Finding] = []
    seen: set[str] = set()
    for i, lesson in enumerate(doc.model.spec.lessons):
        if lesson.id in seen:
            findings.append(doc.finding(("spec", "lessons", i, "id"),
                                        f"duplicate lesson id '{lesson.id}'"))
        seen.add(lesson.id)
    return findings, {}


_CHECKERS = {
    "Customer": _check_customer,
    "Priority": _check_priority,
    "Status": _check_named,
    "Lessons": _check_lessons,
}
