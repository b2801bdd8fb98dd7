"""What cached answers are keyed by besides ailoop's code: pipeline.machine.identity, and
the attributes files git reads outside the work tree (part of git.state())."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline import machine


def test_where_ailoop_runs_from_does_not_change_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sys.path starts with the script's folder or the working folder: a checkout holding
    an .egg-info there must not make every run from it a cold one."""
    before = machine.identity()
    (tmp_path / "something-1.0.dist-info").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert machine.identity() == before


def test_an_installed_library_changes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "lib" / "site-packages"
    site.mkdir(parents=True)
    monkeypatch.syspath_prepend(str(site))
    before = machine.identity()
    (site / "pydantic-99.0.dist-info").mkdir()
    assert machine.identity() != before


def test_the_validator_package_changes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = machine.identity()
    monkeypatch.setenv("AILOOP_FLAGD_CORE_DIR", str(tmp_path))  # no flagd package there
    assert machine.identity() != before


def test_another_node_changes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = machine.identity()
    (tmp_path / "node").write_text("#!/bin/sh\n", encoding="utf-8")
    (tmp_path / "node").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    assert machine.node() == str(tmp_path / "node")
    assert machine.identity() != before


def test_the_time_zone_database_changes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import zoneinfo

    before = machine.identity()
    monkeypatch.setattr(zoneinfo, "TZPATH", (str(tmp_path),))
    assert machine.identity() != before


def test_the_same_node_through_another_path_entry_does_not_change_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """/bin and /usr/bin are one folder on many systems: a PATH in another order finds the
    same Node.js under another name, which must not make every cache file unusable."""
    real = tmp_path / "usr-bin"
    real.mkdir()
    (real / "node").write_text("#!/bin/sh\n", encoding="utf-8")
    (real / "node").chmod(0o755)
    (tmp_path / "bin").symlink_to(real)
    monkeypatch.setenv("PATH", f"{real}{os.pathsep}{tmp_path / 'bin'}")
    one = machine.identity()
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{real}")
    assert machine.node() != str(real / "node")
    assert machine.identity() == one


def test_git_reads_the_system_attributes_file_too(tmp_path: Path) -> None:
    """$(prefix)/etc/gitattributes (/etc/gitattributes where git's prefix is /usr) is part
    of git.state(); writing it here would touch the machine, so the list is checked."""
    from pipeline import git

    files = git.attributes_files(str(tmp_path), "core.attributesfile\n~/a\0"
                                                "core.attributesfile\nrel/b\0")
    assert "/etc/gitattributes" in files
    assert str(tmp_path / "rel" / "b") in files  # the last value, from the top folder
    assert str(tmp_path / ".git" / "info" / "attributes") in files
