"""pipeline.monitoring.shadow: the candidate's shadow runs from the TraceStore's JSONL, as
ailoop-runtime writes them (runtime/ailoop_runtime/runtime.py `_trace`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pipeline.monitoring.shadow import EXAMPLES, shadow_summary, summarise

KEY = "acme/claims"


def trace(n: int, agreement: str, *, version: str = "1.2", priority: str = KEY,
          time: float = 2000.0) -> str:
    return json.dumps({"trace": f"t{n:031d}", "priority": priority, "key": f"case-{n}",
                       "time": time, "input": {"text": f"mail {n}"}, "variant": "serving",
                       "serving": {"version": "1.1", "output": {"category": "water"}},
                       "shadow": {"version": version, "output": {"category": f"other {n}"}},
                       "agreement": agreement})


def test_counts_agreement_and_keeps_a_few_disagreements() -> None:
    lines = [trace(n, "disagree" if n % 2 else "agree") for n in range(10)]
    lines += [trace(20, "ZeroDivisionError: division by zero"), trace(21, "unjudged")]
    summary = summarise(lines, KEY, "1.2", None)
    assert summary is not None
    assert (summary.runs, summary.disagreements, summary.agreed, summary.errors) == (10, 5, 5, 1)
    assert len(summary.examples) == EXAMPLES and summary.more == 5 - EXAMPLES
    first = summary.examples[0]
    assert (first.serving, first.candidate) == ({"category": "water"}, {"category": "other 1"})


def test_only_this_priority_s_candidate_since_the_time_asked_and_bad_lines_skipped() -> None:
    lines = [trace(1, "disagree", version="1.1"), trace(2, "disagree", priority="acme/x"),
             trace(3, "disagree", time=10.0), "not json", "[1, 2]", "", trace(4, "agree")]
    summary = summarise(lines, KEY, "1.2", 1000.0)
    assert summary is not None
    assert (summary.runs, summary.disagreements, summary.skipped) == (1, 0, 2)
    assert summarise(lines[:3], KEY, "1.2", 1000.0) is None  # nothing to say


def test_a_missing_file_or_one_outside_the_repository_says_nothing(tmp_path: Path) -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    assert shadow_summary(str(tmp_path), "production/traces.jsonl", KEY, "1.2", since) is None
    assert shadow_summary(str(tmp_path), "../traces.jsonl", KEY, "1.2", since) is None
    (tmp_path / "traces.jsonl").write_text(trace(1, "agree", time=since.timestamp()) + "\n")
    found = shadow_summary(str(tmp_path), "traces.jsonl", KEY, "1.2", since)
    assert found is not None and found.runs == 1
