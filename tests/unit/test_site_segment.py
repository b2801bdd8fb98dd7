"""The dashboard's priority table shows the segment the candidate's stage serves, escaped
(the rule is author-written text)."""

from __future__ import annotations

from pipeline.publish.site import render_index
from pipeline.reconcile.segment_label import describe
from tests.unit.test_update import T0, _view


def test_the_candidate_cell_names_the_segment() -> None:
    view = _view(segmented=True, segment=describe({"<": [0, {"var": "amount"}, 1000]}))
    page = render_index([view], T0)
    assert "v1.2 at early 25% of segment 0 &lt; amount &lt; 1000" in page


def test_a_hostile_segment_is_escaped() -> None:
    rule = {"==": [{"var": "team"}, "</td><script>alert(1)</script>"]}
    page = render_index([_view(segmented=True, segment=describe(rule))], T0)
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page


def test_no_segment_no_words() -> None:
    assert "of segment" not in render_index([_view()], T0)
