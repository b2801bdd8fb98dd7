"""Attacks on a stage's segment through its rule (the pull request's author writes it).
What was approved must stay what is served: a rule whose members change with the time, with
no edit for anyone to approve again, is refused by `ailoop validate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import CASES, run_cli
from tests.unit.test_cases import build_case

BROKEN = CASES / "invalid" / "Priority" / "broken-segment-targeting"


def segment_case(root: Path, rule: str) -> Path:
    """The BROKEN case with a canary stage whose segment is RULE (JSON Logic)."""
    root = build_case(BROKEN, root)
    spec = root / "customers/acme/triage/priority.yaml"
    text = spec.read_text(encoding="utf-8")
    start, end = text.index("      - name: shadow"), text.index("      - name: full")
    spec.write_text(text[:start] + f"""\
      - name: shadow
        percent: 0
        bakeTime: 1h
      - name: canary
        percent: 50
        bakeTime: 1h
        targeting: {rule}
        approvals:
          - role: customer-reviewer
""" + text[end:], encoding="utf-8")
    return root


@pytest.mark.parametrize("rule", [
    '{"<": [{"var": "$flagd.timestamp"}, 1798761600]}',
    '{"or": [{"in": [{"var": "group"}, ["internal"]]}, '
    '{">": [{"var": ["$flagd.timestamp", 0]}, 1798761600]}]}',
])
def test_a_segment_that_grows_with_the_clock_is_refused(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, rule: str) -> None:
    """The time bomb: internal users now, everyone after a date nobody reads twice. The
    segment gate holds an edited rule until it is approved again; this one never changes."""
    root = segment_case(tmp_path / "repo", rule)
    result = run_cli(capsys, "-C", str(root), "validate")
    assert result.code == 1, result.out
    assert ("spec.rollout.stages[1].targeting: the rule reads the time ($flagd.timestamp): "
            "who is in the segment would change after the stage was approved, with no edit "
            "to approve again") in " ".join(result.out.split())
