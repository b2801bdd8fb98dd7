"""The fast YAML path and the full builder give identical values and positions.

parse_yaml takes `_fast_parse` for the common case and falls back to `_Builder` for
anything unusual; both must agree exactly on every document the fast path accepts (values,
their types, and the line and column of every key and value). The corpus: every YAML file
in the repository (the example, the valid and invalid cases, policies, schemas, workflows)
and generated documents in every style."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.documents.yamlio import _Builder, _events, _fast_parse
from tests.support import ROOT

CORPUS = sorted(p for pattern in ("**/*.yaml", "**/*.yml") for p in ROOT.glob(pattern)
                if ".venv" not in p.parts and "node_modules" not in p.parts)


def _full(text: str) -> tuple[Any, Any, dict[int, Any]] | None:
    builder = _Builder("doc.yaml")
    try:
        for event in _events(text):
            builder.feed(event)
    except Exception:
        return None
    return builder.root, builder.root_pos, builder.positions


def _mark(mark: Any) -> tuple[int, int]:
    return (mark.line, mark.column) if mark is not None else (-1, -1)


def _walk(node: Any, positions: dict[int, Any], path: tuple[Any, ...] = ()) -> dict[Any, Any]:
    """path -> (type, key mark, value mark) for every node, so two trees compare by value."""
    out: dict[Any, Any] = {path: type(node).__name__}
    table = positions.get(id(node), {})
    items = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else ()
    for key, child in items:
        marks = table.get(key)
        out[(*path, key, "@")] = (_mark(marks[0]), _mark(marks[1])) if marks else None
        out.update(_walk(child, positions, (*path, key)))
    return out


def agree(text: str) -> bool:
    """True when the fast path declined the document or gave exactly the builder's result."""
    fast = _fast_parse(text)
    if fast is None or fast[3] != 1 or fast[0] is None:
        return False  # declined: parse_yaml runs the builder alone
    full = _full(text)
    assert full is not None, "the fast path accepted what the builder refuses"
    assert fast[0] == full[0] and fast[1] == full[1]
    assert _walk(fast[0], fast[2]) == _walk(full[0], full[2])
    return True


def test_the_corpus_parses_identically_on_both_paths() -> None:
    taken = [path for path in CORPUS if agree(path.read_text(encoding="utf-8", errors="replace"))]
    assert len(CORPUS) > 100 and len(taken) > len(CORPUS) * 0.8  # the fast path is the norm


scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=False), st.text(max_size=20))
keys = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1,
               max_size=12)
trees = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(keys, inner, max_size=4), max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(keys, trees, min_size=1, max_size=5),
       flow=st.sampled_from([False, True, None]), width=st.sampled_from([20, 80, 1000]),
       indent=st.sampled_from([2, 4]))
def test_generated_documents_parse_identically(data: dict[str, Any], flow: bool | None,
                                               width: int, indent: int) -> None:
    agree(yaml.safe_dump(data, default_flow_style=flow, width=width, indent=indent,
                         allow_unicode=True, sort_keys=False))


def test_declined_documents_are_the_unusual_ones(tmp_path: Path) -> None:
    for text in ("a: &x 1\nb: *x\n", "a: !!str 1\n", "a: 1\na: 2\n", "<<: {a: 1}\n",
                 "---\na: 1\n---\nb: 2\n", "a: [\n"):
        assert not agree(text), text
