"""The warm standby (pipeline.standby): real detached processes on a real Unix socket, started
by the installed console script as users run it."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline import standby
from tests.acceptance.test_validate_cli import broken_repo

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or not hasattr(standby.socket,
                                                                      "SO_PEERCRED"),
                                reason="standbys need fork and SO_PEERCRED (Linux)")


@pytest.fixture
def standby_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Standbys on, in a private runtime folder of this test; whatever a test leaves
    running is stopped, and seen to exit, afterwards."""
    runtime = tempfile.mkdtemp(prefix="ails-", dir="/tmp")  # short: a socket path is bounded
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
    monkeypatch.setenv(standby.ENV, "on")
    monkeypatch.delenv(standby.IDLE_ENV, raising=False)
    monkeypatch.delenv("CI", raising=False)
    yield
    state = standby.status()
    standby.stop()
    if state is not None:
        _wait_for(lambda: _gone(int(state["pid"])), "the standby to exit")
    shutil.rmtree(runtime, ignore_errors=True)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # exited, and not yet reaped by whoever adopted it
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds}s for {what}"
        time.sleep(0.05)


def _ailoop(*args: str) -> subprocess.CompletedProcess[str]:
    """The console script, as installed. The timeout is short on purpose: a standby that
    kept the run's output pipe open would keep this waiting for its end."""
    exe = shutil.which("ailoop", path=str(Path(sys.executable).parent)) or "ailoop"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=60,
                          check=False)


def _validate(repo: Path) -> tuple[int, str, str]:
    run = _ailoop("-C", str(repo), "validate", "--no-cache", str(repo / "customers"))
    return run.returncode, run.stdout, run.stderr


def _running() -> dict[str, int | float]:
    _wait_for(lambda: standby.status() is not None, "a standby to answer")
    state = standby.status()
    assert state is not None
    return state


def test_a_standby_serves_later_runs_with_the_same_findings(
        tmp_path: Path, standby_on: None, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = broken_repo(tmp_path / "repo")
    monkeypatch.setenv(standby.ENV, "off")
    expected = _validate(repo)
    assert expected[0] == 1 and "customers/" in expected[1]
    assert standby.status() is None  # off: none was left

    monkeypatch.setenv(standby.ENV, "on")
    assert _validate(repo) == expected  # the first run checks itself and leaves one
    first = _running()
    assert first["served"] == 0
    folder = Path(standby.socket_path() or "").parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for served in (1, 2):
        assert _validate(repo) == expected
        state = _running()
        assert (state["pid"], state["served"]) == (first["pid"], served)


def test_a_run_of_other_code_makes_the_standby_make_way(
        tmp_path: Path, standby_on: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _validate(broken_repo(tmp_path / "repo"))
    pid = int(_running()["pid"])
    monkeypatch.setattr(standby, "fingerprint", lambda: b"0" * 64)  # as after an upgrade
    assert standby.connect() is None
    _wait_for(lambda: _gone(pid), "the stale standby to exit")
    assert not os.path.exists(standby.socket_path() or "")  # the next run leaves a new one


def test_stop_ends_the_standby(tmp_path: Path, standby_on: None) -> None:
    _validate(broken_repo(tmp_path / "repo"))
    pid = int(_running()["pid"])
    shown = _ailoop("standby")
    assert shown.returncode == 0 and f"running, pid {pid}, served 0 run(s)" in shown.stdout
    stopped = _ailoop("standby", "stop")
    assert (stopped.returncode, stopped.stdout) == (0, "standby: stopped\n")
    _wait_for(lambda: _gone(pid), "the stopped standby to exit")
    assert _ailoop("standby").stdout == "standby: none running (standbys are on here)\n"
    assert _ailoop("standby", "stop").stdout == "standby: none running\n"


def test_an_idle_standby_exits_by_itself(tmp_path: Path, standby_on: None,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(standby.IDLE_ENV, "1")
    _validate(broken_repo(tmp_path / "repo"))
    pid = int(_running()["pid"])
    _wait_for(lambda: _gone(pid), "the idle standby to exit")
    assert standby.status() is None


def test_under_ci_no_standby_is_left_unless_asked(tmp_path: Path, standby_on: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(standby.ENV)
    monkeypatch.setenv("CI", "true")
    repo = broken_repo(tmp_path / "repo")
    assert _validate(repo)[0] == 1
    time.sleep(0.5)  # a worker that left one would have bound its socket by now
    assert standby.status() is None
    assert _ailoop("standby").stdout == "standby: none running (standbys are off here)\n"


@pytest.mark.parametrize(("env", "on"), [
    ({}, True),
    ({"CI": "true"}, False),
    ({"CI": "false"}, True),
    ({"CI": "true", "AILOOP_STANDBY": "on"}, True),
    ({"AILOOP_STANDBY": "off"}, False),
    ({"AILOOP_STANDBY": "0"}, False),
    ({"AILOOP_STANDBY": "later"}, True),  # not a switch: the default
])
def test_when_standbys_are_on(env: dict[str, str], on: bool) -> None:
    assert standby.enabled(env) is on


@pytest.mark.parametrize(("value", "seconds"), [
    ("", 600.0), ("30", 30.0), ("0.5", 0.5), ("-1", 600.0), ("soon", 600.0)])
def test_idle_seconds(value: str, seconds: float) -> None:
    assert standby.idle_seconds({standby.IDLE_ENV: value}) == seconds


def test_a_folder_others_may_enter_is_not_used(standby_on: None) -> None:
    path = standby.socket_path()
    assert path is not None
    os.chmod(os.path.dirname(path), 0o755)
    assert standby.socket_path() is None
    assert standby.connect() is None
