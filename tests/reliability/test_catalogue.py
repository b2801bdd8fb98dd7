"""docs/reliability.md and the tests agree: every test here is in the catalogue, every test
the catalogue names exists, and the summary counts what pytest collects."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.support import ROOT

DOC = ROOT / "docs" / "reliability.md"
HERE = ROOT / "tests" / "reliability"
MODULES = {"hostile YAML and files": "test_hostile_files.py",
           "hostile PRs": "test_hostile_prs.py", "approvals": "test_approvals_attacks.py",
           "faults": "test_faults.py", "concurrency": "test_concurrency.py",
           "crash consistency": "test_crash_consistency.py", "leaks": "test_leaks.py",
           "fuzzing (properties)": "test_fuzz.py"}


def _defined(path: str) -> set[str]:
    return set(re.findall(r"^def (test_\w+)", (ROOT / path).read_text(), re.MULTILINE))


def test_every_reliability_test_is_in_the_catalogue_and_every_reference_exists() -> None:
    text = DOC.read_text()
    for module in MODULES.values():
        for name in _defined(f"tests/reliability/{module}"):
            assert name in text, f"{module}::{name} is missing from docs/reliability.md"
    current = ""
    for ref in re.findall(r"`((?:tests/[\w/]+/)?test_\w+\.py)?::(test_\w+)", text):
        path, name = ref
        if path:
            found = [p for p in (ROOT / "tests").rglob(path.rsplit("/", 1)[-1])
                     if p.as_posix().endswith(path)]
            assert len(found) == 1, path
            current = found[0].relative_to(ROOT).as_posix()
        assert current and name in _defined(current), f"{current}::{name} does not exist"


def test_the_summary_counts_what_pytest_collects() -> None:
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-qq",
                           "-o", "addopts=", "-p", "no:cacheprovider", str(HERE)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    collected = dict(re.findall(r"tests/reliability/(test_\w+\.py): (\d+)", proc.stdout))
    rows = dict(re.findall(r"^\| ([^|]+?) \| (\d+) \| \d+ \| \d+ \|$", DOC.read_text(),
                           re.MULTILINE))
    assert {family: collected.get(module) for family, module in MODULES.items()} == rows
