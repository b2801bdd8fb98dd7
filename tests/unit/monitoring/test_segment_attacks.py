"""Attack on segment monitoring: a segment nobody falls in (a rule that is always false,
or an attribute the service never sends) gives the candidate no traffic. A stage baked on
no readings must not count as monitored: the gate is inconclusive, never a pass."""

from __future__ import annotations

from pathlib import Path

from tests.unit.monitoring.test_segment_srm import _reading, _write


def test_a_segment_no_request_falls_in_is_never_a_monitored_pass(tmp_path: Path) -> None:
    verdict, reason = _reading(_write(tmp_path / "r.jsonl", 0, 0, 400), segmented=True)
    assert verdict == "inconclusive", reason
    assert "no request fell inside the stage's segment" in reason
