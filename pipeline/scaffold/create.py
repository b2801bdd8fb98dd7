"""Scaffolding: a new GitOps repository, customer or priority, rendered from templates.

Rendering is pure (names in, {relative path: text} out); writing refuses to replace any
existing file and writes each file atomically, so a refused scaffold changes nothing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

from pipeline.documents.layout import CUSTOMERS, POLICIES, PROJECT_FILE
from pipeline.documents.load import load_document
from pipeline.documents.schemas import file_name, write_schemas
from pipeline.errors import InputError
from pipeline.fsio import write_atomic
from pipeline.model import KINDS
from pipeline.scaffold.ci import CiOptions, ci_files, ci_notes

TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
RISKS = ("low", "medium", "high", "critical")
DEFAULT_CUSTOMER = "acme"
DEFAULT_PRIORITY = "email-triage"
_RAW = ("priority/dataset.jsonl",)  # copied as is: data, not templates


@dataclass(frozen=True)
class Stage:
    name: str
    percent: int
    bake: str
    roles: tuple[str, ...]


BOT_KEY_FILE = ".ailoop/bot_signing_key"  # the private half; .gitignore keeps it out of git


@dataclass(frozen=True)
class Scaffolded:
    root: str
    created: tuple[str, ...]
    next_step: str
    notes: tuple[str, ...] = ()


def check_name(name: str, what: str) -> None:
    if len(name) > 63 or not NAME_RE.match(name):
        raise InputError(f"invalid {what} name '{name}': use lower-case letters, digits and "
                         "dashes, starting and ending with a letter or digit (at most 63)")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)
    env.filters["yaml_str"] = lambda value: json.dumps(str(value), ensure_ascii=False)
    return env


def _render(template: str, **values: Any) -> str:
    if template in _RAW:
        with open(os.path.join(TEMPLATES, template), encoding="utf-8") as fh:
            return fh.read()
    return _environment().get_template(template).render(**values)


def rollout_stages(risk: str) -> tuple[Stage, ...]:
    """Shadow -> 5% -> 25% -> 100%; more risk means longer bake times and a risk officer."""
    if risk in ("low", "medium"):
        return (Stage("shadow", 0, "24h", ("customer-reviewer",)),
                Stage("canary", 5, "24h", ("customer-reviewer",)),
                Stage("early", 25, "48h", ("customer-reviewer",)),
                Stage("full", 100, "24h", ("customer-owner",)))
    long_bake = "7d" if risk == "critical" else "72h"
    both = ("customer-reviewer", "risk-officer")
    return (Stage("shadow", 0, "24h", both),
            Stage("canary", 5, "48h", both),
            Stage("early", 25, long_bake, both),
            Stage("full", 100, long_bake, ("customer-owner", "risk-officer")))


def customer_files(name: str, display_name: str) -> dict[str, str]:
    check_name(name, "customer")
    text = _render("customer/customer.yaml.j2", name=name, display_name=display_name)
    return {f"{CUSTOMERS}/{name}/customer.yaml": text}


def priority_files(customer: str, name: str, risk: str, owner: str) -> dict[str, str]:
    check_name(name, "priority")
    if risk not in RISKS:
        raise InputError(f"invalid risk '{risk}': use one of {', '.join(RISKS)}")
    folder = f"{CUSTOMERS}/{customer}/{name}"
    return {
        f"{folder}/priority.yaml": _render("priority/priority.yaml.j2", name=name, owner=owner,
                                           risk=risk, stages=rollout_stages(risk)),
        f"{folder}/dataset.jsonl": _render("priority/dataset.jsonl"),
        f"{folder}/workflow.py": _render("priority/workflow.py.j2", name=name),
    }


def project_name(root: str) -> str:
    """A valid metadata name from the folder name ('My Repo' -> 'my-repo')."""
    base = os.path.basename(os.path.abspath(root)).lower()
    name = re.sub(r"[^a-z0-9]+", "-", base).strip("-")[:63].strip("-")
    return name or "ailoop-repo"


def init_files(project: str, customer: str, priority: str, signing_key: str = "",
               ci: CiOptions | None = None, approvals: str = "git-signed") -> dict[str, str]:
    check_name(customer, "customer")
    values = {"project": project, "customer": customer, "priority": priority,
              "signing_key": signing_key, "approvals": approvals}
    files = {
        PROJECT_FILE: _render("init/ailoop.yaml.j2", **values),
        "README.md": _render("init/README.md.j2", **values),
        ".gitignore": _render("init/gitignore.j2"),
        f"{POLICIES}/README.md": _render("init/policies-README.md.j2"),
        "monitoring/readings.jsonl": "",
    }
    files.update(customer_files(customer, customer.replace("-", " ").title()))
    owner = "owner"  # the placeholder customer-owner in the customer template
    files.update(priority_files(customer, priority, "medium", owner))
    if ci is not None:
        files.update(ci_files(ci))
    return files


# --- the imperative shell: checks against the tree, then writes -------------------------

def write_new(root: str, files: Mapping[str, str]) -> tuple[str, ...]:
    """Write every file, or none when any of them exists already."""
    refuse_existing(root, list(files))
    for rel in sorted(files):
        _write_atomic(os.path.join(root, rel), files[rel])
    return tuple(sorted(files))


def refuse_existing(root: str, rels: list[str]) -> None:
    existing = sorted(r for r in rels if os.path.lexists(os.path.join(root, r)))
    if existing:
        shown = ", ".join(existing[:3]) + (f" and {len(existing) - 3} more"
                                            if len(existing) > 3 else "")
        raise InputError(f"refusing to overwrite existing files: {shown}")


def _write_atomic(path: str, text: str) -> None:
    write_atomic(path, text)


def init_repo(root: str, customer: str = DEFAULT_CUSTOMER,
              priority: str = DEFAULT_PRIORITY, bot_key: bool = True,
              ci: CiOptions | None = None, approvals: str = "git-signed") -> Scaffolded:
    """The files of a new repository; with BOT_KEY also the bot's signing key pair (the
    public half in ailoop.yaml, the private half in .ailoop/bot_signing_key); with CI its
    workflows and CODEOWNERS."""
    check_name(customer, "customer")
    check_name(priority, "priority")
    schema_files = [f"schemas/{file_name(kind)}" for kind in sorted(KINDS)]
    key_files = [BOT_KEY_FILE] if bot_key else []
    planned = init_files(project_name(root), customer, priority, ci=ci, approvals=approvals)
    refuse_existing(root, [*planned, *schema_files, *key_files])
    os.makedirs(root, exist_ok=True)
    public = _bot_key_pair(root) if bot_key else ""
    created = write_new(root, init_files(project_name(root), customer, priority, public, ci,
                                         approvals))
    write_schemas(os.path.join(root, "schemas"))
    notes = BOT_KEY_NOTES if bot_key else NO_BOT_KEY_NOTES
    if ci is not None:
        notes = (*notes, *ci_notes(ci))
    return Scaffolded(root, tuple(sorted([*created, *schema_files, *key_files])),
                      f"run `ailoop validate`, then `ailoop dry-run {customer}/{priority}`",
                      notes)


BOT_KEY_NOTES = (
    f"The bot's signing key: the public half is spec.bot.signingKey in ailoop.yaml, the "
    f"private half is {BOT_KEY_FILE} (ignored by git: never commit it).",
    "Store the private half as the CI secret AILOOP_BOT_SIGNING_KEY in a protected "
    "environment that only default-branch jobs can use (GitHub: Settings > Environments > "
    "ailoop-bot, deployment branches: main only), then delete the local copy.",
)
NO_BOT_KEY_NOTES = (
    "No bot key (--no-bot-key): the reconciler cannot commit a state change and no "
    "status.yaml is trusted until spec.bot.signingKey is set (README: 'The bot identity').",
)


def _bot_key_pair(root: str) -> str:
    """A new bot key pair: the private key in BOT_KEY_FILE; its public key line returned."""
    from pipeline.trust.botkey import generate_key_pair

    folder = os.path.join(root, os.path.dirname(BOT_KEY_FILE))
    made = not os.path.isdir(folder)
    os.makedirs(folder, exist_ok=True)
    try:
        return generate_key_pair(os.path.join(root, BOT_KEY_FILE))
    except Exception:
        if made:
            os.rmdir(folder)
        raise


def _require_project(root: str) -> None:
    if not os.path.isfile(os.path.join(root, PROJECT_FILE)):
        raise InputError(f"{root} is not an ailoop repository (no {PROJECT_FILE}); "
                         "run `ailoop init` first or pass -C REPO")


def new_customer(root: str, name: str, display_name: str | None = None) -> Scaffolded:
    _require_project(root)
    check_name(name, "customer")
    rel = f"{CUSTOMERS}/{name}/customer.yaml"
    if os.path.lexists(os.path.join(root, rel)):
        raise InputError(f"customer '{name}' already exists: {rel}")
    shown = display_name or name.replace("-", " ").title()
    created = write_new(root, customer_files(name, shown))
    return Scaffolded(root, created, f"replace the placeholder people in {rel}, then run "
                                     f"`ailoop new priority {name} NAME`")


def new_priority(root: str, customer: str, name: str, risk: str = "medium",
                 owner: str | None = None) -> Scaffolded:
    _require_project(root)
    check_name(customer, "customer")
    check_name(name, "priority")
    folder = f"{CUSTOMERS}/{customer}/{name}"
    if os.path.lexists(os.path.join(root, folder)):
        raise InputError(f"priority '{customer}/{name}' already exists: {folder}")
    chosen = choose_owner(_people(root, customer), owner, customer)
    created = write_new(root, priority_files(customer, name, risk, chosen))
    return Scaffolded(root, created, f"describe the priority in {folder}/priority.yaml, "
                                     f"then run `ailoop dry-run {customer}/{name}`")


def _people(root: str, customer: str) -> list[tuple[str, tuple[str, ...]]]:
    rel = f"{CUSTOMERS}/{customer}/customer.yaml"
    if not os.path.isfile(os.path.join(root, rel)):
        raise InputError(f"customer '{customer}' does not exist (no {rel}); "
                         f"create it with `ailoop new customer {customer}`")
    doc, findings = load_document(root, rel)
    if doc is None or doc.kind != "Customer":
        problem = findings[0].render() if findings else f"{rel}: not a Customer"
        raise InputError(f"cannot read the customer's people: {problem}")
    return [(p.id, tuple(p.roles)) for p in doc.model.spec.people]


def choose_owner(people: list[tuple[str, tuple[str, ...]]], owner: str | None,
                 customer: str) -> str:
    """The given owner if the customer has that person, else its customer-owner."""
    ids = [pid for pid, _ in people]
    if owner is not None:
        if owner not in ids:
            raise InputError(f"owner '{owner}' is not a person of customer '{customer}' "
                             f"(people: {', '.join(ids)})")
        return owner
    owners = [pid for pid, roles in people if "customer-owner" in roles]
    return (owners or ids)[0]
