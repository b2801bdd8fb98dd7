from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.documents.findings import Finding
from pipeline.documents.load import allowed_fields, document_from, load_document
from pipeline.documents.yamlio import parse_yaml
from pipeline.model import Customer, Priority
from tests.support import CASES, minimal_repo

PRIORITY = "customers/acme/triage/priority.yaml"
BASE_PRIORITY = (CASES / "base" / PRIORITY).read_text(encoding="utf-8")


def _priority(*subs: tuple[str, str]) -> str:
    text = BASE_PRIORITY
    for old, new in subs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def _load(text: str, rel: str = PRIORITY) -> tuple[object, list[str]]:
    doc, findings = document_from(parse_yaml(text, rel), None if rel == "-" else
                                  frozenset({"Priority"}) if rel.endswith("priority.yaml")
                                  else None)
    return doc, [f.render() for f in findings]


def test_valid_document_becomes_a_typed_model(tmp_path: Path) -> None:
    root = minimal_repo(tmp_path / "repo")
    doc, findings = load_document(str(root), PRIORITY)
    assert findings == []
    assert doc is not None
    assert (doc.path, doc.kind) == (PRIORITY, "Priority")
    assert isinstance(doc.model, Priority)
    assert doc.model.spec.rollout.stages[1].percent == 25
    assert doc.pos("spec", "rollout", "target") == (20, 13)
    assert doc.finding(("spec", "rollout", "stages", 2, "percent"), "too high") == Finding(
        PRIORITY, 33, 18, "spec.rollout.stages[2].percent", "too high")


def test_yaml_1_1_words_stay_what_the_schema_says() -> None:
    doc, findings = _load(_priority(
        ('    version: "1.0"\n', "    version: 010\n"),
        ("  name: triage\n", "  name: triage\n  labels:\n    country: NO\n    on: off\n"),
        ("  risk: low\n", "  risk: low\n  actions:\n    - name: a\n      class: internal\n"
                          "      humanConfirmation: false\n  users:\n    - group: g\n"
                          "      count: 010\n")))
    assert findings == []
    model = doc.model  # type: ignore[attr-defined]
    assert model.spec.workflow.version == "010"
    assert model.metadata.labels == {"country": "NO", "on": "off"}
    assert model.spec.actions[0].human_confirmation is False
    assert model.spec.users[0].count == 10  # decimal, not YAML 1.1 octal


def test_free_form_json_values_are_typed_by_yaml_1_2() -> None:
    doc, findings = _load(_priority(
        ("  expectedOutput: {description: the queue name}\n",
         "  expectedOutput:\n    description: the queue name\n    schema:\n      type: object\n"
         "      maxProperties: 010\n      additionalProperties: false\n")))
    assert findings == []
    schema = doc.model.spec.expected_output.schema_  # type: ignore[attr-defined]
    assert schema == {"type": "object", "maxProperties": 10, "additionalProperties": False}


def test_unknown_field_suggests_the_close_name_and_hides_its_missing_twin() -> None:
    _, findings = _load(_priority(("  goal: Route", "  gaol: Route")))
    assert findings == [
        f"{PRIORITY}:6:3: spec.gaol: unknown field 'gaol'; did you mean 'goal'?"]


def test_an_unrelated_unknown_field_does_not_hide_the_missing_one() -> None:
    _, findings = _load(_priority(("  goal: Route", "  purpose: Route")))
    assert findings == [
        f"{PRIORITY}:6:3: spec.goal: required field is missing",
        f"{PRIORITY}:6:3: spec.purpose: unknown field 'purpose'",
    ]


def test_typo_of_a_field_that_is_present_is_still_reported() -> None:
    _, findings = _load(_priority(("  owner: ann\n", "  owner: ann\n  owners: [ann]\n")))
    assert findings == [
        f"{PRIORITY}:8:3: spec.owners: unknown field 'owners'; did you mean 'owner'?"]


def test_wrong_enum_value_gets_a_hint_only_when_close() -> None:
    _, close = _load(_priority(("  risk: low\n", "  risk: lo\n")))
    _, far = _load(_priority(("  risk: low\n", "  risk: extreme\n")))
    assert close == [f"{PRIORITY}:10:9: spec.risk: must be one of 'low', 'medium', 'high' or "
                     "'critical'; did you mean 'low'?"]
    assert far == [f"{PRIORITY}:10:9: spec.risk: must be one of 'low', 'medium', 'high' or "
                   "'critical'"]


def test_single_allowed_value_is_stated_without_a_hint() -> None:
    _, findings = _load(_priority(("apiVersion: ailoop.dev/v1\n", "apiVersion: ailoop.dev/v2\n")))
    assert findings == [f"{PRIORITY}:1:13: apiVersion: must be 'ailoop.dev/v1'"]


def test_bad_union_tag_points_at_the_tag_field() -> None:
    _, findings = _load(_priority((
        "    assertions: [{type: equals}]\n",
        "    assertions:\n      - type: regx\n      - field: x\n")))
    assert findings == [
        f"{PRIORITY}:18:15: spec.dryRun.assertions[0].type: must be one of 'equals', "
        "'contains', 'regex', 'json-schema', 'field-equals', 'numeric-tolerance', 'latency', "
        "'cost', 'cel', 'judge'; did you mean 'regex'?",
        f"{PRIORITY}:19:9: spec.dryRun.assertions[1].type: required field is missing",
    ]


def test_pydantic_wording_is_rewritten() -> None:
    _, findings = _load(_priority(
        ("  goal: Route support tickets to the right queue.\n", "  goal: ''\n"),
        ("      - name: shadow\n", "      - name: Shadow\n"),
        ("        percent: 25\n", "        percent: lots\n")))
    assert findings == [
        f"{PRIORITY}:6:9: spec.goal: must have at least 1 character",
        f"{PRIORITY}:22:15: spec.rollout.stages[0].name: must match pattern "
        "'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
        f"{PRIORITY}:28:18: spec.rollout.stages[1].percent: must be a number, not 'lots'",
    ]


def test_kind_is_checked_before_the_schema() -> None:
    assert _load("apiVersion: ailoop.dev/v1\nmetadata: {name: x}\n")[1] == [
        f"{PRIORITY}:1:1: kind: required field is missing"]
    assert _load("kind: Custmer\n")[1] == [
        f"{PRIORITY}:1:7: kind: unknown kind 'Custmer'; did you mean 'Customer'?"]
    assert _load("kind: Thing\n")[1] == [f"{PRIORITY}:1:7: kind: unknown kind 'Thing'"]
    assert _load("kind: Customer\n")[1] == [
        f"{PRIORITY}:1:7: kind: 'priority.yaml' must hold kind Priority, not Customer"]
    assert _load("[1, 2]\n")[1] == [
        f"{PRIORITY}:1:1: the document must be a mapping with apiVersion, kind, metadata"]


def test_events_folder_accepts_three_kinds(tmp_path: Path) -> None:
    root = minimal_repo(tmp_path / "repo")
    event = root / "customers/acme/triage/events/x.yaml"
    event.parent.mkdir()
    event.write_text("kind: Customer\n")
    _, findings = load_document(str(root), "customers/acme/triage/events/x.yaml")
    assert [f.render() for f in findings] == [
        "customers/acme/triage/events/x.yaml:1:7: kind: this folder must hold kind Feedback "
        "or Incident or ReviewRequest, not Customer"]


def test_document_outside_the_layout_may_be_any_kind() -> None:
    doc, findings = document_from(
        parse_yaml((CASES / "base/customers/acme/customer.yaml").read_bytes(), "x.yaml"), None)
    assert findings == [] and isinstance(doc.model, Customer)  # type: ignore[union-attr]


def test_unreadable_yaml_becomes_a_finding(tmp_path: Path) -> None:
    root = minimal_repo(tmp_path / "repo")
    (root / PRIORITY).write_text("a: [\n")
    doc, findings = load_document(str(root), PRIORITY)
    assert doc is None
    assert findings == [Finding(PRIORITY, 2, 1, "", "invalid YAML: did not find expected node "
                                                   "content")]


@pytest.mark.parametrize(("loc", "expected"), [
    ((), ["apiVersion", "kind", "metadata", "spec"]),
    (("spec", "rollout", "stages", 0), ["name", "percent", "bakeTime", "approvals"]),
    (("spec", "dryRun", "assertions", 3, "regex"), ["name", "field", "type", "pattern"]),
    (("spec", "workflow", "openai"), ["baseUrl", "model", "apiKeyEnv", "promptTemplate",
                                      "systemPrompt", "temperature", "timeoutSeconds",
                                      "maxRetries", "costPer1kInputTokens",
                                      "costPer1kOutputTokens"]),
    (("spec", "expectedOutput", "schema"), []),
    (("spec", "goal"), []),
])
def test_allowed_fields_follow_the_model(loc: tuple[str | int, ...],
                                         expected: list[str]) -> None:
    actual = allowed_fields(Priority, loc)
    # Models grow; the fields named here must stay, in this order.
    assert [name for name in actual if name in expected] == expected
    assert bool(actual) == bool(expected)


def test_loading_a_priority_builds_no_other_kind(tmp_path: Path) -> None:
    """Each kind's classes load when that kind is first met: a run over priorities never
    pays for the event, lesson, review and status models."""
    import subprocess
    import sys

    minimal_repo(tmp_path)
    code = ("import sys; from pipeline.documents.load import load_document\n"
            f"doc, findings = load_document({str(tmp_path)!r}, {PRIORITY!r})\n"
            "assert doc is not None and doc.kind == 'Priority', findings\n"
            "print(sorted(m for m in sys.modules if m.startswith('pipeline.model.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    for module in ("events", "lessons", "review", "status", "policy", "customer"):
        assert f"pipeline.model.{module}'" not in out
    assert "pipeline.model.priority'" in out
