from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.documents.dataset import Case
from pipeline.errors import InputError
from pipeline.model.priority import Workflow
from pipeline.providers.base import CRASH, EXCEPTION, NOT_JSON, TIMEOUT
from pipeline.providers.python import PythonProvider, resolve_entrypoint
from tests.sandbox_support import real_sandbox as sandbox

WORKFLOW = '''
import os, sys, time
LOADED = os.getpid()

def run(inp):
    print("noise on stdout")
    print("noise on stderr", file=sys.stderr)
    mode = inp.get("mode")
    if mode == "raise":
        raise ValueError("bad input")
    if mode == "hang":
        time.sleep(60)
    if mode == "crash":
        os.kill(os.getpid(), 9)
    if mode == "exit":
        os._exit(3)
    if mode == "memory":
        return "x" * (1024 * 1024 * 1024)
    if mode == "set":
        return {1, 2}
    return {"echo": inp, "cwd": os.path.basename(os.getcwd()), "pid": LOADED}
'''


def make(tmp_path: Path, source: str = WORKFLOW, entry: str = "wf.py:run") -> tuple[str, Workflow]:
    folder = tmp_path / "customers" / "acme" / "p"
    folder.mkdir(parents=True)
    (folder / "wf.py").write_text(source)
    return str(tmp_path), Workflow(provider="python", version="1", entrypoint=entry,
                                   timeout_seconds=1, memory_mb=256)


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[PythonProvider]:
    root, workflow = make(tmp_path)
    p = PythonProvider(resolve_entrypoint(root, "acme/p", workflow), workflow, sandbox())
    yield p
    p.close()


def run(p: PythonProvider, mode: str) -> tuple[str, str]:
    out = p.run(Case(id="1", input={"mode": mode}))
    return out.fault, out.reason


def test_output_comes_from_a_long_lived_worker_in_the_priority_folder(
        provider: PythonProvider) -> None:
    first = provider.run(Case(id="1", input={"mode": "ok"}))
    second = provider.run(Case(id="2", input={"mode": "ok"}))
    assert first.ok and first.output["echo"] == {"mode": "ok"}
    assert first.output["cwd"] == "p"
    assert first.output["pid"] == second.output["pid"]  # imported once, reused


def test_faults_are_case_results_and_workers_are_replaced(provider: PythonProvider) -> None:
    assert run(provider, "raise") == (EXCEPTION, "ValueError: bad input")
    assert run(provider, "hang") == (TIMEOUT, "no answer within 1 s (worker replaced)")
    assert run(provider, "crash") == (CRASH, "worker crashed (signal 9)")
    assert run(provider, "exit") == (CRASH, "worker exited (code 3)")
    assert run(provider, "memory") == (EXCEPTION, "MemoryError: memory limit exceeded")
    assert run(provider, "set") == (NOT_JSON, "output is not JSON (a set)")
    assert run(provider, "ok") == ("", "")


def test_a_workflow_that_cannot_be_imported_is_an_input_error(tmp_path: Path) -> None:
    root, workflow = make(tmp_path, "def run(:\n")
    with pytest.raises(InputError) as err:
        PythonProvider(resolve_entrypoint(root, "acme/p", workflow), workflow, sandbox())
    assert str(err.value).startswith("customers/acme/p/wf.py: cannot load the workflow: "
                                     "SyntaxError: ")


def test_missing_function_and_file(tmp_path: Path) -> None:
    root, workflow = make(tmp_path, entry="wf.py:nope")
    with pytest.raises(InputError) as err:
        PythonProvider(resolve_entrypoint(root, "acme/p", workflow), workflow, sandbox())
    assert str(err.value) == ("customers/acme/p/wf.py: cannot load the workflow: "
                              "AttributeError: wf.py has no function 'nope'")
    missing = workflow.model_copy(update={"entrypoint": "other.py:run"})
    with pytest.raises(InputError, match="entrypoint file does not exist"):
        resolve_entrypoint(root, "acme/p", missing)
    outside = workflow.model_copy(update={"entrypoint": "../../../x.py:run"})
    with pytest.raises(InputError, match=r"leaves the repository|inside the priority folder"):
        resolve_entrypoint(root, "acme/p", outside)
