"""`ailoop validate --changed-since REF` against real git repositories with real commits.

Every document in the committed repo carries one deliberate finding, so the findings of a
run show exactly which documents were validated.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from pipeline.git import (
    changed_files,
    start_changed_files,
)
from tests.support import GitRepo, ailoop_subprocess, make_repo, minimal_repo, run_cli

ACME = "customers/acme"
TRIAGE = f"{ACME}/triage/priority.yaml"
EVENT = f"{ACME}/triage/events/fb.yaml"
BILLING = f"{ACME}/billing/priority.yaml"
ACME_CUSTOMER = f"{ACME}/customer.yaml"
GLOBEX_CUSTOMER = "customers/globex/customer.yaml"
INTAKE = "customers/globex/intake/priority.yaml"
EVERYTHING = sorted(["ailoop.yaml", ACME_CUSTOMER, TRIAGE, EVENT, BILLING, GLOBEX_CUSTOMER,
                     INTAKE])

FEEDBACK = """apiVersion: ailoop.dev/v1
kind: Feedback
metadata:
  name: fb
spec:
  author: ann
  time: 2026-11-20T09:00:00Z
  sentiment: meh
  text: wrong queue
"""


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def _add_priority(root: Path, customer: str, name: str) -> None:
    folder = root / "customers" / customer / name
    shutil.copytree(root / ACME / "triage", folder, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("events"))
    _edit(folder / "priority.yaml", "  name: triage\n", f"  name: {name}\n")


def _fill(work: Path) -> None:
    """Two customers, three priorities, one event; each document has one finding."""
    minimal_repo(work)
    _edit(work / "ailoop.yaml", "  name: cases\n", "  name: cases\nspec:\n  timezone: UTC\n")
    _edit(work / TRIAGE, "    target: canary\n", "    target: prod\n")
    (work / EVENT).parent.mkdir()
    (work / EVENT).write_text(FEEDBACK, encoding="utf-8")
    _add_priority(work, "acme", "billing")
    (work / "customers" / "globex").mkdir()
    shutil.copyfile(work / ACME_CUSTOMER, work / GLOBEX_CUSTOMER)
    _edit(work / GLOBEX_CUSTOMER, "  name: acme\n", "  name: globex\n")
    _add_priority(work, "globex", "intake")
    for customer in (ACME_CUSTOMER, GLOBEX_CUSTOMER):
        _edit(work / customer, "      roles: [risk-officer]\n",
              "      roles: [risk-officer]\n      github: ANN-acme\n")


@pytest.fixture
def gitrepo(tmp_path: Path) -> GitRepo:
    return make_repo(tmp_path, fill=_fill)


def validated(capsys: object, repo: GitRepo, ref: str = "HEAD") -> tuple[list[str], str]:
    """The documents with findings, and the summary line."""
    result = run_cli(capsys, "-C", str(repo.work), "validate", "--no-cache",
                     "--changed-since", ref)
    assert result.err == ""
    lines = result.out.splitlines()
    return sorted({line.split(":")[0] for line in lines[:-1]}), lines[-1]


def test_every_document_has_a_finding_when_all_are_checked(gitrepo: GitRepo,
                                                            capsys: object) -> None:
    result = run_cli(capsys, "-C", str(gitrepo.work), "validate", "--no-cache")
    assert result.code == 1
    assert sorted({line.split(":")[0] for line in result.out.splitlines()[:-1]}) == EVERYTHING


def test_unchanged_repository_checks_nothing(gitrepo: GitRepo, capsys: object) -> None:
    result = run_cli(capsys, "-C", str(gitrepo.work), "validate", "--changed-since", "HEAD")
    assert (result.code, result.out, result.err) == (0, "All 0 files valid.\n", "")


def test_editing_a_priority_checks_only_its_documents(gitrepo: GitRepo,
                                                      capsys: object) -> None:
    _edit(gitrepo.work / TRIAGE, "  risk: low\n", "  risk: medium\n")
    assert validated(capsys, gitrepo) == (
        sorted([TRIAGE, EVENT]), "2 errors, 0 warnings in 2 files checked.")


def test_committed_edit_is_seen_against_an_older_ref(gitrepo: GitRepo, capsys: object) -> None:
    base = gitrepo.git("rev-parse", "HEAD")
    _edit(gitrepo.work / INTAKE, "  risk: low\n", "  risk: medium\n")
    gitrepo.commit_all("Raise intake risk")
    assert validated(capsys, gitrepo, base)[0] == [INTAKE]
    assert validated(capsys, gitrepo, "HEAD")[0] == []


def test_editing_a_customer_checks_all_its_priorities(gitrepo: GitRepo, capsys: object) -> None:
    _edit(gitrepo.work / ACME_CUSTOMER, "  displayName: Acme\n", "  displayName: Acme Ltd\n")
    assert validated(capsys, gitrepo)[0] == sorted([ACME_CUSTOMER, TRIAGE, EVENT, BILLING])


def test_editing_a_dataset_checks_its_priority(gitrepo: GitRepo, capsys: object) -> None:
    dataset = gitrepo.work / ACME / "billing" / "dataset.jsonl"
    dataset.write_text(dataset.read_text() + '{"id": "t1", "input": {}}\n')
    assert validated(capsys, gitrepo) == (
        [f"{ACME}/billing/dataset.jsonl", BILLING], "2 errors, 0 warnings in 1 file checked.")


def test_editing_the_project_file_checks_everything(gitrepo: GitRepo, capsys: object) -> None:
    _edit(gitrepo.work / "ailoop.yaml", "timezone: UTC", "timezone: Europe/Oslo")
    assert validated(capsys, gitrepo) == (
        EVERYTHING, "7 errors, 0 warnings in 7 files checked.")


def test_untracked_new_priority_is_included(gitrepo: GitRepo, capsys: object) -> None:
    _add_priority(gitrepo.work, "globex", "claims")
    assert validated(capsys, gitrepo)[0] == ["customers/globex/claims/priority.yaml"]


def test_deleted_customer_file_reports_its_priorities(gitrepo: GitRepo,
                                                      capsys: object) -> None:
    (gitrepo.work / GLOBEX_CUSTOMER).unlink()
    result = run_cli(capsys, "-C", str(gitrepo.work), "validate", "--no-cache",
                     "--changed-since", "HEAD")
    assert result.code == 1
    assert result.out.splitlines() == [
        "customers/globex/intake/priority.yaml:1:1: customer 'globex' has no customer.yaml "
        "(expected customers/globex/customer.yaml)",
        "customers/globex/intake/priority.yaml:20:13: spec.rollout.target: 'prod' is not a "
        "stage; stages are: shadow, canary, full",
        "2 errors, 0 warnings in 1 file checked.",
    ]


def test_repository_in_a_subfolder_of_the_work_tree(tmp_path: Path, capsys: object) -> None:
    def fill(work: Path) -> None:
        minimal_repo(work / "ops")

    repo = make_repo(tmp_path, fill=fill)
    _edit(repo.work / "ops" / TRIAGE, "    target: canary\n", "    target: prod\n")
    (repo.work / "README.md").write_text("outside the ailoop repo\n")
    result = run_cli(capsys, "-C", str(repo.work / "ops"), "validate", "--no-cache",
                     "--changed-since", "HEAD")
    assert result.code == 1
    assert result.out.splitlines() == [
        f"{TRIAGE}:20:13: spec.rollout.target: 'prod' is not a stage; stages are: "
        "shadow, canary, full",
        "1 error, 0 warnings in 1 file checked.",
    ]


@pytest.mark.parametrize("ref", ["no-such-branch", "HEAD~5"])
def test_unknown_ref_is_an_input_error(ref: str, gitrepo: GitRepo, capsys: object) -> None:
    result = run_cli(capsys, "-C", str(gitrepo.work), "validate", "--changed-since", ref)
    assert (result.code, result.out) == (2, "")
    assert result.err == f"error: --changed-since: unknown git ref '{ref}'\n"


def test_option_looking_ref_is_refused(gitrepo: GitRepo, capsys: object) -> None:
    result = run_cli(capsys, "-C", str(gitrepo.work), "validate", "--changed-since=--output=x")
    assert (result.code, result.err) == (2, "error: not a git ref: --output=x\n")
    assert not (gitrepo.work / "x").exists()


def test_outside_a_git_repository_is_an_external_error(tmp_path: Path,
                                                       capsys: object) -> None:
    root = minimal_repo(tmp_path / "plain")
    result = run_cli(capsys, "-C", str(root), "validate", "--changed-since", "HEAD")
    assert result.code == 3
    assert result.out == ""
    assert result.err.startswith(
        f"error: --changed-since needs a git repository; {root} is not in one (")
    assert "not a git repository" in result.err
    assert "Traceback" not in result.err


# --- untracked files: git lists them, as it does every changed one ---------------------------


def _relevant(paths: list[str]) -> list[str]:
    """What --changed-since can be affected by (see affected_documents)."""
    return [p for p in paths if p in ("ailoop.yaml", "lessons.yaml")
            or p.startswith(("customers/", "policies/"))]


def _untracked_everywhere(work: Path) -> None:
    _add_priority(work, "globex", "claims")  # a new priority folder
    deep = work / ACME / "triage" / "data" / "deep"  # below what a walk lists
    deep.mkdir(parents=True)
    (deep / "cases.jsonl").write_text("{}\n", encoding="utf-8")
    (work / ACME / "triage" / ".scratch").mkdir()  # hidden: a walk skips it
    (work / ACME / "triage" / ".scratch" / "notes.txt").write_text("x\n", encoding="utf-8")
    (work / ACME / "billing" / "a[1].jsonl").write_text("{}\n", encoding="utf-8")  # a glob
    (work / ".gitignore").write_text("ignored.jsonl\n", encoding="utf-8")
    (work / ACME / "billing" / "ignored.jsonl").write_text("{}\n", encoding="utf-8")
    (work / "policies").mkdir(exist_ok=True)
    (work / "policies" / "new.yaml").write_text("a: 1\n", encoding="utf-8")
    (work / "notes.md").write_text("nothing to validate\n", encoding="utf-8")
    _edit(work / TRIAGE, "    target: prod\n", "    target: full\n")  # and a tracked edit


def test_untracked_files_are_changed_files(gitrepo: GitRepo) -> None:
    _untracked_everywhere(gitrepo.work)
    found = _relevant(start_changed_files(str(gitrepo.work), "HEAD")())
    assert found == _relevant(changed_files(str(gitrepo.work), "HEAD"))
    assert {f"{ACME}/triage/data/deep/cases.jsonl", f"{ACME}/triage/.scratch/notes.txt",
            f"{ACME}/billing/a[1].jsonl", "policies/new.yaml", TRIAGE} <= set(found)
    assert f"{ACME}/billing/ignored.jsonl" not in found


@pytest.mark.parametrize("cache", ["--no-cache", "--format=text"])
def test_the_console_script_agrees_with_in_process_runs(gitrepo: GitRepo, capsys: object,
                                                          cache: str) -> None:
    """The installed `ailoop` in a subprocess and an in-process run give the same findings,
    with an empty and with a filled cache."""
    _untracked_everywhere(gitrepo.work)
    (gitrepo.work / "policies" / "new.yaml").unlink()  # a broken policy would hide the rest
    args = ("-C", str(gitrepo.work), "validate", cache, "--changed-since", "HEAD")
    expected = run_cli(capsys, *args)
    assert expected.code == 1 and "customers/globex/claims/priority.yaml" in expected.out
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for _ in range(2):  # the second run finds the cache filled
        real = ailoop_subprocess(*args, env=env)
        assert (real.code, real.out, real.err) == (expected.code, expected.out, expected.err)


def test_git_started_by_a_run_that_fails_is_stopped(gitrepo: GitRepo,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """validate starts git as the command starts; a run that fails before it reads git's
    answer stops the commands, so no process outlives the command."""
    from pipeline.validate import run as validate_module
    from pipeline.validate.run import ValidateOptions, validate

    root = str(gitrepo.work)
    changed = start_changed_files(root, "HEAD")

    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(validate_module, "_judge", broken)
    with pytest.raises(RuntimeError):
        validate(ValidateOptions(root=root, changed_later=changed))
    assert None not in (changed.verify.returncode, changed.diff.returncode,
                        changed.listing.returncode)


# --- no stored walk (a fresh CI clone): only the folders the changes touch are listed -------

REPO_RULE = """apiVersion: ailoop.dev/v1
kind: Policy
metadata:
  name: shape
spec:
  rules:
    - id: house/shape
      description: The repository's shape reaches the rules.
      condition: repo.priorities > 3
      field: spec.owner
      message: "{{ repo.priorities }} priorities of {{ size(repo.customers) }} customers"
"""

WAIVER = """apiVersion: ailoop.dev/v1
kind: Waiver
metadata:
  name: {name}
spec:
  rule: guardrail/bake-time
  target: {target}
  reason: Tried on a copy of production first.
  approvedBy:
    role: risk-officer
    person: raj
  expires: 2099-01-31
"""


def _commit_policy(repo: GitRepo, name: str, text: str) -> None:
    (repo.work / "policies" / name).parent.mkdir(parents=True, exist_ok=True)
    (repo.work / "policies" / name).write_text(text, encoding="utf-8")
    repo.commit_all(f"Add {name}")


def _with_repo_rule(repo: GitRepo) -> None:
    _commit_policy(repo, "shape.yaml", REPO_RULE)
    _edit(repo.work / TRIAGE, "  risk: low\n", "  risk: medium\n")


def _with_waivers(repo: GitRepo) -> None:
    _commit_policy(repo, "waivers/triage.yaml", WAIVER.format(name="triage", target="acme/triage"))
    _commit_policy(repo, "waivers/gone.yaml", WAIVER.format(name="gone", target="globex/gone"))
    _commit_policy(repo, "waivers/intake.yaml",
                   WAIVER.format(name="intake", target="globex/intake"))
    _edit(repo.work / TRIAGE, "  risk: low\n", "  risk: medium\n")


CHANGES = {
    "priority": lambda repo: _edit(repo.work / TRIAGE, "  risk: low\n", "  risk: medium\n"),
    "customer": lambda repo: _edit(repo.work / ACME_CUSTOMER, "  displayName: Acme\n",
                                   "  displayName: Acme Ltd\n"),
    "untracked priority": lambda repo: _add_priority(repo.work, "globex", "claims"),
    "event": lambda repo: (repo.work / EVENT).unlink(),
    "project": lambda repo: _edit(repo.work / "ailoop.yaml", "timezone: UTC",
                                  "timezone: Europe/Oslo"),
    "rule reading repo": _with_repo_rule,
    "waivers": _with_waivers,
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_run_without_a_stored_walk_reports_what_a_walk_of_everything_does(
        gitrepo: GitRepo, capsys: object, change: str) -> None:
    CHANGES[change](gitrepo)
    args = ("-C", str(gitrepo.work), "validate", "--changed-since", "HEAD")
    fresh = run_cli(capsys, *args)  # no cache yet: as in a fresh clone
    uncached = run_cli(capsys, *args, "--no-cache")
    full = run_cli(capsys, "-C", str(gitrepo.work), "validate")  # it stores its walk
    walked = run_cli(capsys, *args)
    assert walked.code == 1 and walked.err == ""
    assert fresh == uncached == walked
    # and each finding is the one a run over everything gives (a rule counting the
    # repository's priorities counts all of them, not those of the folders listed)
    assert set(walked.out.splitlines()[:-1]) <= set(full.out.splitlines())


def test_a_warm_run_reads_no_unchanged_customer_again(gitrepo: GitRepo, capsys: object,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The rules see a customer through its cached result: a change to one priority parses
    that priority, the rules and the project file, never the customer it belongs to."""
    import pipeline.documents.load as load

    run_cli(capsys, "-C", str(gitrepo.work), "validate")  # the cache now holds everything
    parsed: list[str] = []
    parse, read = load.parse_yaml, load.read_yaml
    monkeypatch.setattr(load, "parse_yaml",
                        lambda raw, path: parsed.append(path) or parse(raw, path))
    monkeypatch.setattr(load, "read_yaml",
                        lambda path, rel: parsed.append(rel) or read(path, rel))
    _edit(gitrepo.work / TRIAGE, "  risk: low\n", "  risk: medium\n")
    result = run_cli(capsys, "-C", str(gitrepo.work), "validate", "--changed-since", "HEAD")
    assert result.out.splitlines()[-1] == "2 errors, 0 warnings in 2 files checked."
    assert TRIAGE in parsed
    assert ACME_CUSTOMER not in parsed


def test_validators_built_while_git_works_change_no_answer(gitrepo: GitRepo, capsys: object,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """On a big repository git is still answering when the rules are compiled: the
    validators are then built ahead of need, and the answer is the same."""
    from pipeline.git import ChangedSince

    _with_repo_rule(gitrepo)  # what the rules see of the repository must not come early
    args = ("-C", str(gitrepo.work), "validate", "--no-cache", "--changed-since", "HEAD")
    answered = run_cli(capsys, *args)
    monkeypatch.setattr(ChangedSince, "running", lambda self: True)
    assert run_cli(capsys, *args) == answered
    full = run_cli(capsys, "-C", str(gitrepo.work), "validate", "--no-cache")
    assert set(answered.out.splitlines()[:-1]) <= set(full.out.splitlines())


def test_git_is_not_running_once_it_answered(gitrepo: GitRepo) -> None:
    changed = start_changed_files(str(gitrepo.work), "HEAD")
    changed()
    assert not changed.running()
