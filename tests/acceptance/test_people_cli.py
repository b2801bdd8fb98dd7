"""`ailoop people github-ids` against the GitHub REST stand-in: it looks up every login's
account id, reports ids that no longer match, and adds the missing ones to customer.yaml
without touching anything else in the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.acceptance.approvals_support import ANN_ID, approvals_repo, customer_yaml
from tests.acceptance.github_fake import FakeGitHub
from tests.support import CliResult, GitRepo, run_cli

FILE = "customers/acme/customer.yaml"
ACCOUNTS = {"Ann-Acme": ANN_ID, "raj-risk": 501, "eve-dev": 502, "pat-policy": 503}


@pytest.fixture
def repo(tmp_path: Path, github_env: FakeGitHub) -> GitRepo:
    github_env.accounts.update(ACCOUNTS)
    text = "# Acme's people: roles are reviewed by a policy-owner\n" + customer_yaml().replace(
        "github: raj-risk", "github: raj-risk   # Raj, risk office")
    return approvals_repo(tmp_path, text)


def ids(capsys: pytest.CaptureFixture[str], repo: GitRepo, *args: str) -> CliResult:
    return run_cli(capsys, "-C", str(repo.work), "people", "github-ids", "acme", *args)


def test_it_prints_the_ids_to_add_and_changes_nothing(capsys: pytest.CaptureFixture[str],
                                                      repo: GitRepo) -> None:
    before = (repo.work / FILE).read_text()
    result = ids(capsys, repo)
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        f"{FILE}:12: ann: githubId {ANN_ID} matches Ann-Acme\n"
        f"{FILE}:18: raj: to add githubId: 501 (raj-risk, created 2020-01-01)\n"
        f"{FILE}:23: eve: to add githubId: 502 (eve-dev, created 2020-01-01)\n"
        f"{FILE}:28: pat: to add githubId: 503 (pat-policy, created 2020-01-01)\n"
        "3 githubId lines to add; run again with --write to add them\n")
    assert (repo.work / FILE).read_text() == before


def test_write_adds_the_lines_and_keeps_the_rest_of_the_file(
        capsys: pytest.CaptureFixture[str], repo: GitRepo) -> None:
    before = (repo.work / FILE).read_text()
    result = ids(capsys, repo, "--write")
    assert result.code == 0, result.out + result.err
    assert result.out.endswith(f"added 3 githubId lines to {FILE}\n")
    expected = before.replace("# Raj, risk office\n", "# Raj, risk office\n      githubId: 501\n")
    expected = expected.replace("github: eve-dev\n", "github: eve-dev\n      githubId: 502\n")
    expected = expected.replace("github: pat-policy\n",
                                "github: pat-policy\n      githubId: 503\n")
    assert (repo.work / FILE).read_text() == expected
    assert repo.git("diff", "--numstat") == f"3\t0\t{FILE}"
    assert run_cli(capsys, "-C", str(repo.work), "validate", str(repo.work / FILE)).code == 0
    again = ids(capsys, repo, "--write")
    assert (again.code, again.out.splitlines()[-1]) == (0, "nothing to add")
    assert (repo.work / FILE).read_text() == expected


def test_a_login_now_held_by_another_account_is_reported_and_never_changed(
        capsys: pytest.CaptureFixture[str], repo: GitRepo, github_env: FakeGitHub) -> None:
    github_env.accounts["Ann-Acme"] = 4242  # ann's account is gone; someone took the login
    result = ids(capsys, repo, "--write")
    assert result.code == 1
    assert (f"{FILE}:12: ann: customer.yaml records githubId {ANN_ID}, but Ann-Acme is now "
            "account 4242 (Ann-Acme, created 2020-01-01); githubId "
            f"{ANN_ID} is no longer an account. Left as it is: find out who holds the login "
            "before changing either\n") in result.out
    text = (repo.work / FILE).read_text()
    assert f"githubId: {ANN_ID}\n" in text and "4242" not in text
    assert "githubId: 501" in text


def test_a_login_nobody_holds_is_reported(capsys: pytest.CaptureFixture[str], repo: GitRepo,
                                          github_env: FakeGitHub) -> None:
    del github_env.accounts["raj-risk"]
    result = ids(capsys, repo)
    assert result.code == 1
    assert f"{FILE}:18: raj: no GitHub account has the login raj-risk\n" in result.out


def test_a_layout_it_cannot_edit_safely_gets_the_lines_to_add_by_hand(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, github_env: FakeGitHub) -> None:
    github_env.accounts.update(ACCOUNTS)
    flow = customer_yaml().replace(
        "    - id: raj\n      name: Raj Example\n      email: raj@acme.example\n"
        "      github: raj-risk\n      roles: [risk-officer]\n",
        "    - {id: raj, name: Raj Example, email: raj@acme.example, github: raj-risk, "
        "roles: [risk-officer]}\n")
    repo = approvals_repo(tmp_path, flow)
    result = ids(capsys, repo, "--write")
    assert result.code == 1
    assert result.out.endswith(
        f"{FILE}: its layout does not allow a safe edit (flow style or a value over several "
        "lines); add these lines by hand, each below the person's github line:\n"
        "  raj: githubId: 501\n  eve: githubId: 502\n  pat: githubId: 503\n")
    assert (repo.work / FILE).read_text() == flow


def test_github_failing_exits_3_and_writes_nothing(capsys: pytest.CaptureFixture[str],
                                                   repo: GitRepo,
                                                   github_env: FakeGitHub) -> None:
    before = (repo.work / FILE).read_text()
    github_env.fail[("users", 1)] = 502
    result = ids(capsys, repo, "--write")
    assert (result.code, result.err) == (3, "error: GitHub API GET /users/Ann-Acme answered "
                                            "HTTP 502\n")
    assert (repo.work / FILE).read_text() == before


def test_an_unknown_customer_is_an_input_error(capsys: pytest.CaptureFixture[str],
                                               repo: GitRepo) -> None:
    result = run_cli(capsys, "-C", str(repo.work), "people", "github-ids", "nobody")
    assert (result.code, result.err) == (
        2, "error: no such customer 'nobody': customers/nobody/customer.yaml does not exist\n")
