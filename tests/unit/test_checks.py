from __future__ import annotations

import pickle
from pathlib import Path

from pipeline.documents.findings import Finding
from pipeline.validate.checks import FileResult, check_file
from tests.support import minimal_repo

PRIORITY = "customers/acme/triage/priority.yaml"
CUSTOMER = "customers/acme/customer.yaml"


def _repo(tmp_path: Path) -> Path:
    return minimal_repo(tmp_path / "repo")


CROSS_CHECK_FACTS = {"kind", "name", "roles_needed", "refs", "owner", "people", "roles"}


def _facts(result: FileResult) -> dict[str, object]:
    """The facts validate's own cross-checks use (policies add facts of their own)."""
    return {k: v for k, v in result.facts.items() if k in CROSS_CHECK_FACTS}


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    text = (root / rel).read_text()
    assert text.count(old) == 1, old
    (root / rel).write_text(text.replace(old, new))


def test_priority_facts_carry_what_cross_checks_need(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    result = check_file(str(root), PRIORITY)
    assert result.findings == ()
    assert _facts(result) == {
        "kind": "Priority",
        "name": "triage",
        "roles_needed": [("customer-reviewer", "spec.rollout.stages[0].approvals[0].role",
                          26, 19),
                         ("customer-reviewer", "spec.rollout.stages[1].approvals[0].role",
                          31, 19),
                         ("customer-owner", "spec.rollout.stages[2].approvals[0].role",
                          36, 19)],
        "refs": [("dataset.jsonl", "spec.dryRun.dataset", 16, 14, "dataset"),
                 ("workflow.py", "spec.workflow.entrypoint", 14, 17, "workflow file")],
        "owner": "ann",
    }


def test_replay_file_is_a_reference(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    _edit(root, PRIORITY, "    provider: python\n", "    provider: replay\n")
    _edit(root, PRIORITY, "    entrypoint: workflow.py:run\n", "    replay: rec.jsonl\n")
    refs = check_file(str(root), PRIORITY).facts["refs"]
    assert refs[1] == ("rec.jsonl", "spec.workflow.replay", 14, 13, "replay file")


def test_customer_facts_list_people_and_roles(tmp_path: Path) -> None:
    result = check_file(str(_repo(tmp_path)), CUSTOMER)
    assert result.findings == ()
    assert _facts(result) == {
        "kind": "Customer", "name": "acme", "people": ["ann", "raj"],
        "roles": {"customer-owner": ["ann"], "customer-reviewer": ["ann"],
                  "risk-officer": ["raj"]},
    }


def test_github_logins_compare_case_insensitively(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    _edit(root, CUSTOMER, "      roles: [risk-officer]\n",
          "      roles: [risk-officer]\n      github: Ann-ACME\n")
    assert check_file(str(root), CUSTOMER).findings == (
        Finding(CUSTOMER, 17, 15, "spec.people[1].github",
                "GitHub login is also used by people[0]"),)


def test_all_stage_problems_are_reported_together(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    _edit(root, PRIORITY, "        percent: 25\n", "        percent: 0\n")
    _edit(root, PRIORITY, "      - name: full\n        percent: 100\n",
          "      - name: shadow\n        percent: 0.5\n")
    _edit(root, PRIORITY, "    target: canary\n", "    target: ful\n")
    assert [f.render() for f in check_file(str(root), PRIORITY).findings] == [
        f"{PRIORITY}:28:18: spec.rollout.stages[1].percent: must be greater than 0 "
        "(previous stage)",
        f"{PRIORITY}:32:15: spec.rollout.stages[2].name: duplicate stage name 'shadow' "
        "(also stages[0])",
        f"{PRIORITY}:20:13: spec.rollout.target: 'ful' is not a stage; stages are: shadow, "
        "canary, shadow",
    ]


def test_fractional_previous_percent_is_printed_as_is(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    _edit(root, PRIORITY, "        percent: 25\n", "        percent: 12.5\n")
    _edit(root, PRIORITY, "        percent: 100\n", "        percent: 12.5\n")
    assert [f.message for f in check_file(str(root), PRIORITY).findings] == [
        "must be greater than 12.5 (previous stage)"]


def test_lessons_ids_must_be_unique(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    (root / "lessons.yaml").write_text(
        "apiVersion: ailoop.dev/v1\nkind: Lessons\nmetadata: {name: all}\nspec:\n  lessons:\n"
        + "".join(f"    - {{id: l1, kind: rule, text: t{i}, source: {{type: review}}, "
                  "date: 2026-01-01}\n" for i in range(2)))
    assert check_file(str(root), "lessons.yaml").findings == (
        Finding("lessons.yaml", 7, 12, "spec.lessons[1].id", "duplicate lesson id 'l1'"),)


def test_broken_file_has_no_facts_but_its_findings(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    (root / PRIORITY).write_text("kind: [\n")
    result = check_file(str(root), PRIORITY)
    assert result.facts == {"kind": None}
    assert len(result.findings) == 1


def test_results_pickle_for_the_cache(tmp_path: Path) -> None:
    result = check_file(str(_repo(tmp_path)), PRIORITY)
    assert pickle.loads(pickle.dumps(result)) == result
    assert isinstance(result, FileResult)


def test_a_language_without_a_catalog_is_a_warning_that_names_the_fallback(
        tmp_path: Path) -> None:
    root = _repo(tmp_path)
    _edit(root, CUSTOMER, "  displayName: Acme\n", "  displayName: Acme\n  language: es\n")
    [finding] = check_file(str(root), CUSTOMER).findings
    assert finding.severity == "warning"
    assert finding.render() == (
        "customers/acme/customer.yaml:7:13: spec.language: no translation for 'es': updates "
        "and notifications are in English (shipped: de, en, fr) (warning)")


def test_language_no_stays_the_string_no_norwegian(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    _edit(root, CUSTOMER, "  displayName: Acme\n", "  displayName: Acme\n  language: no\n")
    [finding] = check_file(str(root), CUSTOMER).findings
    assert "no translation for 'no'" in finding.message and finding.severity == "warning"
