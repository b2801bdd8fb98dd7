"""A stage's `targeting` (its segment), checked by flagd's official validator.

The rule is checked where the reconciler puts it, as the condition of the flag's
`{"if": [segment, fractional, "serving"]}`, by the npm package @openfeature/flagd-core
4.0.1 with its strict validation on: flagd's flag and targeting JSON schemas (compiled into
the package), then loaded by its evaluator, which refuses operators it does not know. ailoop
has no JSONLogic grammar of its own. The package and Node.js are found at
$AILOOP_FLAGD_CORE_DIR, else in the environment's node/ folder where `make` installs them
(.venv/node); without them a rule cannot be checked, and that is an error: an unchecked
segment is never trusted.

The rule is only a condition: its value decides whether a request is in the segment, and
the flag's results stay the variants `candidate` and `serving` whatever it is.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.documents.findings import Finding
from pipeline.machine import flagd_core_dir
from pipeline.machine import node as find_node

if TYPE_CHECKING:  # the loader pulls in pydantic and the models: only when a file is parsed
    from pipeline.documents.load import Document

VALIDATOR = Path(__file__).with_name("flagd_validate.cjs")
PACKAGE = "@openfeature/flagd-core 4.0.1"
_FLAG = "segment"
# Where the rule sits in the flag the check builds (a JSON pointer, as the validator
# reports it).
_AT = f"/flags/{_FLAG}/targeting/if/0"
# The order in which the validator's complaints about one place explain it best: a wrong
# number of arguments first, an unknown operator after, a wrong type last.
_KEYWORDS = ("minItems", "maxItems", "required", "enum", "const", "pattern",
             "additionalProperties", "type")


def flag_document(rule: dict[str, Any]) -> str:
    """The smallest flag file with RULE where the reconciler puts a segment."""
    split = {"fractional": [["candidate", 5000], ["serving", 5000]]}
    flag = {"state": "ENABLED", "variants": {"candidate": {"version": "candidate"},
                                             "serving": {"version": "serving"}},
            "defaultVariant": "serving", "targeting": {"if": [rule, split, "serving"]}}
    return json.dumps({"$schema": "https://flagd.dev/schema/v0/flags.json",
                       "flags": {_FLAG: flag}})


class Unchecked(Exception):
    """flagd's validator is not installed, or did not give an answer."""


def check_rules(rules: Sequence[dict[str, Any]]) -> list[str]:
    """Why flagd's validator refuses each rule ("": accepted). Raises Unchecked when it
    cannot say."""
    if not rules:
        return []
    module, node = flagd_core_dir(), find_node()
    if node is None or not (module / "package.json").is_file():
        raise Unchecked(f"flagd's validator ({PACKAGE} and Node.js) is not installed; "
                        "`make` installs it, or set AILOOP_FLAGD_CORE_DIR")
    try:
        done = subprocess.run([node, str(VALIDATOR), str(module.resolve())],
                              input=json.dumps([flag_document(r) for r in rules]),
                              capture_output=True, text=True, timeout=60, check=False)
        verdicts = json.loads(done.stdout) if done.returncode == 0 else None
        problem = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[0]
    except subprocess.TimeoutExpired:
        verdicts, problem = None, "it did not answer within 60 s"
    except (OSError, ValueError) as e:
        verdicts, problem = None, str(e)
    if not isinstance(verdicts, list) or len(verdicts) != len(rules):
        raise Unchecked(f"flagd's validator ({PACKAGE}) failed: {problem[:200]}")
    return [_explain(v) for v in verdicts]


def _explain(verdict: Any) -> str:
    if verdict is None:
        return ""
    if not isinstance(verdict, dict):
        return "refused"
    errors = [e for e in verdict.get("errors") or () if isinstance(e, dict)
              and str(e.get("instancePath", "")).startswith(_AT)]
    if not errors:
        return str(verdict.get("message") or "refused")
    deepest = max(len(str(e["instancePath"])) for e in errors)
    here = [e for e in errors if len(str(e["instancePath"])) == deepest]
    where = _field(str(here[0]["instancePath"])[len(_AT):])
    return f"{where}{_what(here)}"


def _what(errors: list[dict[str, Any]]) -> str:
    by = {k: [e for e in errors if e.get("keyword") == k] for k in _KEYWORDS}
    for keyword in _KEYWORDS:
        found = by[keyword]
        if not found:
            continue
        if keyword == "additionalProperties":
            names = sorted({str((e.get("params") or {}).get("additionalProperty"))
                            for e in found})
            return f"{', '.join(repr(n) for n in names)} is not an operator flagd knows"
        if keyword == "type":
            kinds = sorted({str((e.get("params") or {}).get("type")) for e in found})
            return f"must be {' or '.join(kinds)}"
        return str(found[0].get("message", "refused"))
    return "is not a flagd targeting rule (one operator and its arguments)"


def _field(pointer: str) -> str:
    """'/and/1/starts_with' -> 'and[1].starts_with: ' (relative to the rule)."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/") if p]
    text = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts).lstrip(".")
    return f"{text}: " if text else ""


def targeting_findings(doc: Document) -> tuple[list[Finding], bool]:
    """One finding per stage whose segment flagd's validator refuses, or cannot check; and
    whether it could not check them. That verdict depends on the machine, not the file,
    so it is never cached: the next run checks again."""
    stages = [(i, s.targeting) for i, s in enumerate(doc.model.spec.rollout.stages)
              if s.targeting is not None]
    try:
        verdicts = check_rules([r for _, r in stages])
    except Unchecked as e:  # an unchecked rule is never trusted: an error, not a pass
        return [doc.finding(("spec", "rollout", "stages", i, "targeting"),
                            f"cannot be checked: {e}") for i, _ in stages], True
    findings: list[Finding] = []
    for (i, rule), why in zip(stages, verdicts, strict=True):
        loc = ("spec", "rollout", "stages", i, "targeting")
        if _has_ref(rule):
            findings.append(doc.finding(loc, "a $ref names a shared rule of $evaluators, which "
                                        "ailoop's flag files do not have: write the rule out"))
        elif why:
            findings.append(doc.finding(loc, f"flagd's validator refuses the rule: {why}"))
    return findings, False


def _has_ref(rule: Any) -> bool:
    if isinstance(rule, dict):
        return "$ref" in rule or any(_has_ref(v) for v in rule.values())
    return isinstance(rule, list) and any(_has_ref(v) for v in rule)
