"""The sandbox's command line: what a worker can see (the real runs are in
tests/acceptance/test_sandbox.py)."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.documents.inputs import resolve_input
from pipeline.providers.sandbox import (
    WORKER_PATH,
    Mounts,
    Sandbox,
    command,
    covering,
    python_paths,
)


def binds(argv: list[str]) -> dict[str, str]:
    """target -> source of every bind mount."""
    out = {}
    for i, arg in enumerate(argv):
        if arg in ("--ro-bind", "--ro-bind-try", "--bind"):
            out[argv[i + 2]] = argv[i + 1]
    return out


def test_only_the_folder_the_inputs_the_worker_and_python_are_mounted(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    folder = root / "customers" / "acme" / "p"
    (folder / "evidence").mkdir(parents=True)
    (root / "lib").mkdir()
    (root / ".git").mkdir()
    inp = resolve_input(str(root), "lib")
    code = (str(folder / "wf.py"), str(folder / "sub" / "helper.py"))
    argv = command("/usr/bin/bwrap", Mounts(str(folder), code, (inp,),
                                            "/src/python_worker.py"), ["python", "w.py"])
    mounted = binds(argv)
    assert "--bind" not in argv  # nothing is mounted writable
    assert mounted[str(root / "lib")] == inp.source
    assert mounted[WORKER_PATH] == "/src/python_worker.py"
    in_repo = {t for t in mounted if t.startswith(str(root))}
    assert in_repo == {*code, str(root / "lib")}  # not the root, .git, evidence or status
    assert argv.index("/tmp") < argv.index(code[0])  # the private /tmp is mounted first
    remounted = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--remount-ro"]
    assert remounted == [str(folder), "/"]  # the folder and what bwrap made: read-only
    assert argv[argv.index(str(folder)) - 1] == "--tmpfs"  # the folder holds only its code
    for flag in ("--unshare-all", "--share-net", "--die-with-parent", "--cap-drop"):
        assert flag in argv
    assert argv[-3:] == ["--", "python", "w.py"]
    assert set(python_paths()) <= set(mounted)


def test_a_python_installation_holding_the_repository_is_no_sandbox(tmp_path: Path) -> None:
    assert covering(["/opt/py", str(tmp_path)], str(tmp_path / "repo")) == str(tmp_path)
    assert covering(["/opt/py", str(tmp_path / "repo" / ".venv")], str(tmp_path / "repo")) is None
    python = python_paths()[0]
    refused = Sandbox("/usr/bin/bwrap").for_repo(os.path.join(python, "repo"))
    assert not refused.available
    assert refused.reason.startswith(f"the Python installation {python} contains the "
                                     "repository")
    assert Sandbox("/usr/bin/bwrap").for_repo(str(tmp_path)).available
