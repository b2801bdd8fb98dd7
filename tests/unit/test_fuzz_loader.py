"""No input gives a traceback: mutated real documents and random YAML, through the CLI
(exit 0, 1 or 2 only, never 4) and through parse_yaml / document_from directly. Every
finding and every error names the file."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.documents.layout import expected_kinds
from pipeline.documents.load import document_from
from pipeline.documents.yamlio import dump_yaml, parse_yaml
from pipeline.errors import InputError
from pipeline.model.scalars import typed
from tests.support import CASES, ROOT, minimal_repo, run_cli

PRIORITY = "customers/acme/triage/priority.yaml"
CUSTOMER = "customers/acme/customer.yaml"
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _sources(pattern: str, fallback: str) -> list[bytes]:
    """The real example documents when present, and the small base case."""
    found = sorted((ROOT / "customers").glob(pattern))[:2]
    return [p.read_bytes() for p in found] + [(CASES / "base" / fallback).read_bytes()]


PRIORITIES = _sources("*/*/priority.yaml", PRIORITY)
CUSTOMERS = _sources("*/customer.yaml", CUSTOMER)

YAML_WORDS = ["no", "NO", "yes", "on", "off", "010", "0x1F", "1e3", ".inf", ".nan", "~",
              "null", "", "- x", "{a: 1}", "[1", "&a", "*a", "!!python/object:os.system",
              "<<", "'", '"', "#", ":", "2026-01-01", "12:30:00", "\t", "é"]
scalars = (st.none() | st.booleans() | st.integers() | st.floats()
           | st.text(max_size=20) | st.sampled_from(YAML_WORDS))


@pytest.fixture(scope="module")
def fuzz_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = minimal_repo(tmp_path_factory.mktemp("fuzz") / "repo")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _check_cli(capsys: object, root: Path, rel: str, content: bytes) -> None:
    original = (root / rel).read_bytes()
    (root / rel).write_bytes(content)
    try:
        result = run_cli(capsys, "-C", str(root), "validate", "--no-cache")
    finally:
        (root / rel).write_bytes(original)
    assert result.code in (0, 1, 2), result.err
    assert "Traceback" not in result.out + result.err
    lines = result.out.splitlines()
    if result.code == 2:
        assert rel in result.err, result.err
        return
    assert lines, result.err
    for line in lines[:-1]:
        path = line.split(":", 1)[0]
        assert (root / path).is_file() and path.startswith(("customers/", "ailoop.yaml")), line
    assert (result.code == 1) == (len(lines) > 1), result.out


def _check_direct(rel: str, content: bytes | str) -> None:
    try:
        loaded = parse_yaml(content, rel)
    except InputError as e:
        assert e.path == rel
        assert str(e).startswith(rel)
        return
    doc, findings = document_from(loaded, expected_kinds(rel))
    assert (doc is None) == bool(findings)
    for finding in findings:
        assert finding.path == rel
        assert finding.line >= 1 and finding.col >= 1


# ---- byte and line mutations of real documents -------------------------------------

@st.composite
def byte_mutation(draw: st.DrawFn, sources: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(sources)))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if op == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4)
                                 | st.sampled_from([b":", b"- ", b"\n", b"  ", b"&x ", b"*x",
                                                    b"!!", b"{", b"]", b"\x00", b"\xff"]))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 8))]
        else:
            del data[pos:]
    return bytes(data)


@st.composite
def line_mutation(draw: st.DrawFn, sources: list[bytes]) -> bytes:
    lines = draw(st.sampled_from(sources)).split(b"\n")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "indent", "dedent"]))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "indent":
            lines[i] = b"  " + lines[i]
        else:
            lines[i] = lines[i][2:]
    return b"\n".join(lines)


# ---- structural mutations: delete or duplicate keys, replace scalars ----------------

def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    items = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else []
    for key, child in items:
        out.extend(_paths(child, (*prefix, key)))
    return out


def _parent(tree: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        tree = tree[part]
    return tree


@st.composite
def structural_mutation(draw: st.DrawFn, sources: list[bytes]) -> bytes:
    tree = typed(parse_yaml(draw(st.sampled_from(sources)), "x.yaml").data)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from([p for p in _paths(tree) if p]))
        parent, key = _parent(tree, path), path[-1]
        op = draw(st.sampled_from(["delete", "replace", "duplicate", "rename"]))
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(scalars | st.lists(scalars, max_size=3)
                               | st.dictionaries(st.text(max_size=5), scalars, max_size=3))
        elif op == "duplicate" and isinstance(parent, list):
            parent.append(parent[key])
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = parent.pop(key)
        if not isinstance(tree, dict) or not tree:
            break
    text = dump_yaml(tree)
    if draw(st.booleans()):  # a duplicated key line, which dump_yaml cannot produce
        lines = text.splitlines(keepends=True)
        i = draw(st.integers(0, len(lines) - 1))
        lines.insert(i, lines[i])
        text = "".join(lines)
    return text.encode()


MUTATIONS = {
    "bytes": byte_mutation,
    "lines": line_mutation,
    "structure": structural_mutation,
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
@pytest.mark.parametrize(("rel", "sources"), [(PRIORITY, PRIORITIES), (CUSTOMER, CUSTOMERS)],
                         ids=["priority", "customer"])
def test_mutated_documents_never_crash_the_cli(mutation: str, rel: str, sources: list[bytes],
                                               fuzz_repo: Path, capsys: object) -> None:
    @FUZZ
    @given(content=MUTATIONS[mutation](sources))
    def check(content: bytes) -> None:
        _check_cli(capsys, fuzz_repo, rel, content)
        _check_direct(rel, content)

    check()


# ---- random YAML and random text ---------------------------------------------------

documents = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8) | st.sampled_from(
        ["kind", "apiVersion", "metadata", "spec", "name", "rollout", "stages"]),
        children, max_size=4),
    max_leaves=25,
)
kinded = st.fixed_dictionaries(
    {"apiVersion": st.just("ailoop.dev/v1"), "kind": st.sampled_from(["Priority", "Customer"]),
     "metadata": st.fixed_dictionaries({"name": st.sampled_from(["triage", "acme", "X"])}),
     "spec": documents})


@FUZZ
@given(data=documents | kinded)
def test_random_yaml_never_crashes_the_loader(data: Any) -> None:
    _check_direct(PRIORITY, dump_yaml(data))


@FUZZ
@given(data=kinded)
def test_random_yaml_never_crashes_the_cli(data: Any, fuzz_repo: Path, capsys: object) -> None:
    _check_cli(capsys, fuzz_repo, PRIORITY, dump_yaml(data).encode())


@FUZZ
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(bytes))
def test_random_text_never_crashes_the_loader(text: str | bytes) -> None:
    _check_direct(PRIORITY, text)
    _check_direct("customers/acme/triage/events/e.yaml", text)


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#%@`?,\n \t0~")),
                    max_size=80))
def test_yaml_punctuation_never_crashes_the_cli(text: str, fuzz_repo: Path,
                                                capsys: object) -> None:
    _check_cli(capsys, fuzz_repo, PRIORITY, text.encode())
