"""The SRM gate at a stage with a segment: the stage's percent is the candidate's share of
the requests inside the segment, so only those are counted (ailoop-runtime labels each
reading "segment": "in" or "out"). Out-of-segment traffic, all of it served by the serving
version, must not look like a broken split, and a broken split inside the segment must
still fail."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from pipeline.monitoring.file import JsonlMonitoring
from tests.unit.monitoring.test_file_gates import GATE, NOW

KEY = "acme/triage"


def _write(path: Path, candidate: int, serving_in: int, serving_out: int,
           *, labelled: bool = True) -> JsonlMonitoring:
    """An hour of per-minute readings: requests per minute of each variant and segment."""
    lines = []
    for minute in range(60):
        when = (NOW - timedelta(minutes=minute)).isoformat()
        for variant, segment, samples in (("candidate", "in", candidate),
                                          ("serving", "in", serving_in),
                                          ("serving", "out", serving_out)):
            if not samples:
                continue
            line = {"priority": KEY, "metric": "error_rate", "time": when, "value": 0.01,
                    "samples": samples, "variant": variant, "stage": "canary"}
            if labelled:
                line["segment"] = segment
            lines.append(json.dumps(line))
    path.write_text("\n".join(lines) + "\n")
    return JsonlMonitoring(str(path), timedelta(minutes=15))


def _reading(source: JsonlMonitoring, *, segmented: bool) -> tuple[str, str]:
    (found,) = source.readings(KEY, "canary", [GATE], NOW, "candidate", 0.05,
                               segmented=segmented)
    return found.verdict, found.reason


def test_a_canary_at_5_percent_of_the_segment_that_gets_9_percent_fails(tmp_path: Path) -> None:
    verdict, reason = _reading(_write(tmp_path / "r.jsonl", 9, 91, 400), segmented=True)
    assert verdict == "fail"
    assert "sample ratio mismatch: the new variant got 9.0% of 6000 samples, the flag sends " \
           "5.0%" in reason


def test_out_of_segment_serving_traffic_is_not_a_false_mismatch(tmp_path: Path) -> None:
    source = _write(tmp_path / "r.jsonl", 5, 95, 400)
    assert _reading(source, segmented=True)[0] == "pass"
    # Counted as without a segment, the same traffic would look like a 1 % split.
    verdict, reason = _reading(source, segmented=False)
    assert verdict == "fail" and "the new variant got 1.0% of" in reason


def test_readings_that_do_not_say_their_segment_hold_at_a_stage_with_one(
        tmp_path: Path) -> None:
    # Serving readings without the label mix both sides of the segment: never judged.
    verdict, reason = _reading(_write(tmp_path / "r.jsonl", 5, 95, 400, labelled=False),
                               segmented=True)
    assert verdict == "inconclusive"
    assert "readings do not say whether they are inside the stage's segment" in reason


def test_without_a_segment_the_split_is_over_all_requests(tmp_path: Path) -> None:
    # The existing behaviour: every reading counts, labelled or not.
    assert _reading(_write(tmp_path / "r.jsonl", 5, 95, 0, labelled=False),
                    segmented=False)[0] == "pass"
    assert _reading(_write(tmp_path / "s.jsonl", 9, 91, 0, labelled=False),
                    segmented=False)[0] == "fail"
