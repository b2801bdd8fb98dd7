"""The fast YAML path and the full builder give identical results.

parse_yaml takes `_fast_parse` for the common case and falls back to `_full_parse` for
anything else. Every document of the corpus goes through both and through parse_yaml:

  * parse_yaml always gives exactly what the full builder gives: the same values, the same
    types (PlainScalar or str, keys included), the same line and column for every key and
    value and the root, or the same error with the same place;
  * where the fast path takes a document, its own result is that result;
  * where it declines, the builder either refuses the document or the document holds a tag
    or an anchor: the only plain data the fast path leaves to the builder. So the documents
    the fast path declines are the only ones whose fast result is not compared, and they
    are declined for a reason.

The corpus: every YAML file in the repository (customers/, tests/cases/, policies, schemas,
workflows, ...), the loader fuzz corpus of tests/unit/test_fuzz_loader.py (byte, line and
structural mutations of real documents, random text, YAML punctuation), documents dumped
from random data in every style, and hand-written unusual documents."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.documents.yamlio import (
    MAX_DEPTH,
    Loaded,
    _decode_yaml,
    _events,
    _fast_parse,
    _full_parse,
    parse_yaml,
)
from pipeline.errors import InputError
from tests.support import ROOT
from tests.unit.test_fuzz_loader import (
    CUSTOMERS,
    PRIORITIES,
    byte_mutation,
    line_mutation,
    structural_mutation,
)

REL = "customers/acme/triage/priority.yaml"
CORPUS = sorted(p for pattern in ("**/*.yaml", "**/*.yml") for p in ROOT.glob(pattern)
                if not {".venv", "node_modules", ".git"} & set(p.parts))
DIFF = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def _mark(mark: Any) -> tuple[int, int]:
    return mark.line, mark.column


def _tree(node: Any, loaded: Loaded, path: tuple[Any, ...] = ()) -> dict[Any, Any]:
    """path -> type and value of every node, and the type and marks of every key or index:
    two trees that compare equal hold the same data, typed the same, at the same places."""
    out: dict[Any, Any] = {path: type(node).__name__}
    table = loaded.positions.get(id(node))
    if isinstance(node, dict | list):
        assert table is not None and len(table) == len(node), path  # every entry placed
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            key_mark, value_mark = table[key]
            out[(*path, key, "@")] = (type(key).__name__, _mark(key_mark), _mark(value_mark))
            out.update(_tree(child, loaded, (*path, key)))
    else:
        out[(*path, "=")] = node
    return out


def _outcome(parse: Any, raw: bytes | str) -> tuple[Any, ...]:
    try:
        loaded = parse(raw, REL)
    except InputError as e:
        return "refused", str(e), e.path, e.line, e.col
    return "loaded", loaded.path, loaded.root, _tree(loaded.data, loaded)


def _full(raw: bytes | str) -> Loaded:
    return _full_parse(_decode_yaml(raw, REL), REL)


def _has_tag_or_anchor(text: str) -> bool:
    return any(getattr(event, "tag", None) is not None
               or getattr(event, "anchor", None) is not None for event in _events(text))


def check(raw: bytes | str) -> str:
    """Compare the paths on one document; say which way parse_yaml took it."""
    full = _outcome(lambda r, p: _full(r), raw)
    assert _outcome(parse_yaml, raw) == full
    try:
        text = _decode_yaml(raw, REL)
    except InputError:
        return "undecodable"  # refused before either path runs
    fast = _fast_parse(text, REL)
    if fast is not None:
        assert full[0] == "loaded", "the fast path took what the builder refuses"
        assert ("loaded", fast.path, fast.root, _tree(fast.data, fast)) == full
        return "fast"
    # Declined: the builder's result (checked above) is all there is; it must be an
    # error, or a document the fast path is not meant to take.
    assert full[0] == "refused" or _has_tag_or_anchor(text), text
    return "declined"


def test_every_yaml_file_in_the_repository_parses_identically_on_both_paths() -> None:
    ways = {path: check(path.read_bytes()) for path in CORPUS}
    assert len(CORPUS) > 100
    declined = {path.relative_to(ROOT).as_posix() for path, way in ways.items()
                if way != "fast"}
    # Every valid file takes the fast path; only the invalid cases the builder refuses don't.
    assert declined == {"tests/cases/invalid/Priority/duplicate-key/document.yaml",
                        "tests/cases/invalid/Priority/yaml-syntax-error/document.yaml"}


UNUSUAL = [
    "a: &x 1\nb: *x\n", "a: !!str 1\n", "a: ! 5\n", "a: !!int 5\n", "a: !!int x\n",
    "a: !!float 1\nb: !!bool true\nc: !!null ''\n", "a: !!map {b: 1}\n", "a: !foo 1\n",
    "a: &m {b: 1}\nc: *m\n", "a: 1\na: 2\n", "'a': 1\na: 2\n", "<<: {a: 1}\n",
    "'<<': 1\n", "~: 1\n", "'~': 1\n", "null: 1\n", "'': 1\n", ": 1\n", "[a]: 1\n",
    "? {a: 1}\n: 2\n", "---\na: 1\n---\nb: 2\n", "a: 1\n---\n", "---\n...\n", "", "~\n",
    "# only a comment\n", "a: [\n", "a: b: c\n", "a:\n\t- 1\n", "[]\n", "{}\n", "5\n",
    "'text'\n", "- 1\n- [2, {b: 3}]\n", "a:\n- 1\n-\n- ''\n", "a: |\n  x\n  y\nb: >-\n  z\n",
    "\ufeffa: 1\n", "a: 1\r\nb:\r\n  c: 2\r\n", "{a: 1, b: [x, y], c: {d: ~}}\n",
    "a: 'x'\nb: \"y\\n\"\nc: plain text\n", "a: *nope\n", "a: \x00\n", "- é: ü\n",
    "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n", "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
    "a: 1 # c\n# d\nb:   2\n", "? a\n: 1\n", "a: 010\nb: no\nc: 0x1F\nd: 1e3\n",
]


@pytest.mark.parametrize("text", UNUSUAL)
def test_unusual_documents_parse_identically_or_are_declined(text: str) -> None:
    check(text)
    check(text.encode("utf-8", ))


def test_declined_documents_are_the_unusual_ones() -> None:
    declined = [t for t in UNUSUAL if check(t) == "declined"]
    assert "a: &x 1\nb: *x\n" in declined and "a: ! 5\n" in declined
    assert "- 1\n- [2, {b: 3}]\n" not in declined and "'<<': 1\n" not in declined


scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=False), st.text(max_size=20),
                    st.sampled_from(["no", "~", "null", "<<", "010", "", " x", "a: b", "- c"]))
keys = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1,
               max_size=12) | st.sampled_from(["<<", "~", "null", "", "a"])
trees = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(keys, inner, max_size=4), max_leaves=25)


@DIFF
@given(data=st.dictionaries(keys, trees, min_size=1, max_size=5) | trees,
       flow=st.sampled_from([False, True, None]), width=st.sampled_from([20, 80, 1000]),
       indent=st.sampled_from([2, 4]), canonical=st.booleans())
def test_dumped_documents_parse_identically(data: Any, flow: bool | None, width: int,
                                            indent: int, canonical: bool) -> None:
    # canonical YAML tags every node: the builder's side of the split
    check(yaml.safe_dump(data, default_flow_style=flow, width=width, indent=indent,
                         allow_unicode=True, sort_keys=False, canonical=canonical))


MUTATIONS = [byte_mutation(PRIORITIES), byte_mutation(CUSTOMERS), line_mutation(PRIORITIES),
             line_mutation(CUSTOMERS), structural_mutation(PRIORITIES),
             structural_mutation(CUSTOMERS)]


@DIFF
@given(raw=st.one_of(MUTATIONS))
def test_the_fuzz_corpus_parses_identically(raw: bytes) -> None:
    check(raw)


@DIFF
@given(text=st.text(max_size=200) | st.binary(max_size=200)
       | st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#%@`?,\n \t0~<")),
                 max_size=80))
def test_random_text_parses_identically(text: str | bytes) -> None:
    check(text)
