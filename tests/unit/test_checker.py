"""The early checker (pipeline.checker): a real forked worker checks and judges what a run
hands it, exactly as the run itself would, and any failure of it falls back to the run."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline import checker as checker_module
from pipeline.checker import Checker
from pipeline.cli.entry import guess_validate
from pipeline.policy import repo as repo_module
from pipeline.validate import ValidateOptions, ValidationReport, validate
from tests.acceptance.test_validate_cli import broken_repo
from tests.support import copy_example

NOW = datetime(2026, 11, 24, tzinfo=UTC)


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    return broken_repo(tmp_path / "repo")


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Records, per request, whether the worker answered (True) or the run fell back."""
    answers: list[bool] = []
    original = Checker.check

    def check(self: Checker, *args: object, **kwargs: object) -> object:
        reply = original(self, *args, **kwargs)  # type: ignore[arg-type]
        answers.append(reply is not None)
        return reply

    monkeypatch.setattr(Checker, "check", check)
    yield answers


def _run(root: Path, checker: Checker | None, cache: bool = False) -> ValidationReport:
    return validate(ValidateOptions(root=str(root), paths=(str(root / "customers"),),
                                    use_cache=cache, now=NOW, checker=checker))


def _started() -> Checker:
    assert threading.active_count() == 1, "the checker forks only a single-threaded process"
    checker = Checker.start()
    assert checker is not None
    return checker


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True  # reaped: no zombie left behind
    return False


@pytest.mark.parametrize("cache", [False, True])
def test_the_worker_finds_what_the_run_finds(broken: Path, served: list[bool],
                                             cache: bool) -> None:
    alone = _run(broken, None, cache=False)
    assert alone.errors > 3  # the broken repo has findings in several documents
    checker = _started()
    with_worker = _run(broken, checker, cache=cache)
    assert served == [True]
    assert with_worker.findings == alone.findings
    assert with_worker.files_checked == alone.files_checked
    assert _gone(checker.pid)


def test_a_killed_worker_leaves_the_run_to_check_itself(broken: Path,
                                                        served: list[bool]) -> None:
    expected = _run(broken, None)
    checker = _started()
    os.kill(checker.pid, signal.SIGKILL)
    assert _run(broken, checker).findings == expected.findings
    assert served == [False]
    assert _gone(checker.pid)


def test_a_failing_worker_leaves_the_run_to_check_itself(
        broken: Path, served: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _run(broken, None)

    def fail(*args: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(checker_module, "_answer", fail)  # inherited by the fork
    checker = _started()
    assert _run(broken, checker).findings == expected.findings
    assert served == [False]


def test_an_unused_worker_is_stopped_and_reaped() -> None:
    checker = _started()
    checker.close()
    assert _gone(checker.pid)
    checker.close()  # twice is harmless


def test_a_process_with_other_threads_does_not_fork() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert Checker.start() is None
    finally:
        stop.set()
        thread.join()


def test_take_hands_over_the_early_worker_once() -> None:
    early = Checker.start_early()
    assert early is not None
    assert Checker.take() is early
    again = Checker.take()  # none left: a new one
    assert again is not None and again is not early
    for checker in (early, again):
        checker.close()
        assert _gone(checker.pid)


def test_take_stops_the_early_worker_when_not_wanted() -> None:
    early = Checker.start_early()
    assert early is not None
    assert Checker.take(wanted=False) is None
    assert _gone(early.pid)


@pytest.mark.parametrize(("argv", "few"), [
    (["validate"], False),
    (["validate", "--format", "json"], False),
    (["validate", "--no-cache", "--jobs", "2"], False),
    (["validate", "--changed-since", "HEAD"], True),
    (["validate", "--changed-since=origin/main"], True),
    (["-C", "repo", "validate", "--changed-since", "main"], True),
    (["--repo", "validate", "status"], False),  # "validate" is the value of --repo
    (["validate", "--format", "json", "customers/acme"], True),
    (["validate", "customers/acme"], True),
    (["status", "validate"], False),
    (["--help"], False),
    ([], False),
])
def test_the_console_script_forks_early_only_for_a_few_files(argv: list[str],
                                                              few: bool) -> None:
    guess = guess_validate(argv)
    assert (guess is not None and guess.few_files) == few


@pytest.mark.parametrize(("argv", "repo", "ref"), [
    (["validate", "--changed-since", "HEAD"], None, "HEAD"),
    (["-C", "repo", "validate", "--changed-since=origin/main"], "repo", "origin/main"),
    (["--repo=repo", "validate", "--format", "json", "--changed-since", "v1"], "repo", "v1"),
    (["-Crepo", "validate", "customers"], "repo", None),
    (["validate", "--changed-since"], None, None),  # no value: click says so
])
def test_the_console_script_reads_the_repo_and_the_ref(argv: list[str], repo: str | None,
                                                       ref: str | None) -> None:
    guess = guess_validate(argv)
    assert guess is not None
    assert (guess.repo, guess.changed_since) == (repo, ref)


def test_the_guessed_root_is_the_one_the_command_uses(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ailoop.yaml").write_text("kind: Project\n", encoding="utf-8")
    (tmp_path / "customers").mkdir()
    monkeypatch.chdir(tmp_path / "customers")
    guess = guess_validate(["validate", "--changed-since", "HEAD"])
    assert guess is not None and guess.root() == str(tmp_path)
    named = guess_validate(["-C", str(tmp_path / "customers"), "validate", "x"])
    assert named is not None and named.root() == str(tmp_path / "customers")
    missing = guess_validate(["-C", str(tmp_path / "nowhere"), "validate", "x"])
    assert missing is not None and missing.root() is None



def test_the_worker_judges_against_the_customers_the_run_has_cached(
        tmp_path: Path, served: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    """The run hands the worker the customer results it found in its cache; the worker's
    guardrails see the same people as when it reads the customer files itself."""
    root = copy_example(tmp_path / "example")
    rel = "customers/helio-saas/ticket-triage/priority.yaml"

    def run(checker: Checker | None, cache: bool) -> ValidationReport:
        return validate(ValidateOptions(root=str(root), paths=(str(root / rel),),
                                        use_cache=cache, now=NOW, checker=checker))

    run(None, cache=True)  # fills the cache: the customer's result among the rest
    path = root / rel
    path.write_text(path.read_text(encoding="utf-8").replace("owner: tomas", "owner: nobody"),
                    encoding="utf-8")
    expected = run(None, cache=False)
    assert any(f.rule == "guardrail/owner-exists" for f in expected.findings)

    def not_read(root: str, rel: str) -> object:
        raise AssertionError(f"{rel} was read again")

    monkeypatch.setattr(repo_module, "check_file", not_read)  # inherited by the fork
    assert run(_started(), cache=True).findings == expected.findings
    assert served == [True]
