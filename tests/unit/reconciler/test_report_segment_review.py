"""`ailoop status` and `ailoop plan` (every format) show the segment a candidate's stage
serves and, where the plan holds on it, how far the stage's human review got."""

from __future__ import annotations

import json
from dataclasses import replace

from pipeline.humanreview.verdict import LabelledItem, ReviewView, Setting
from pipeline.reconcile.plan import Plan, plan_priority
from pipeline.reconcile.report import (
    render_plan_json,
    render_plan_md,
    render_plan_text,
    render_status,
    status_json,
    status_rows,
)
from tests.unit.reconciler.table import NEW, NOW, STAGES, given, spec
from tests.unit.reconciler.test_plan_table_segment import status

SMALL = {"<": [0, {"var": "amount"}, 1000]}
HOSTILE = {"==": [{"var": "team"}, "<b>x</b> | [y](https://evil.example)\n\x1b[2J"]}


def _segmented(rule: dict[str, object]) -> tuple:  # type: ignore[type-arg]
    return tuple(replace(s, segment=json.dumps(rule, sort_keys=True))
                 if s.name == "canary" else s for s in STAGES)


def _at_canary(rule: dict[str, object]) -> tuple[list, Plan]:  # type: ignore[type-arg]
    inp = given(status("canary", segment=rule), the_spec=spec(stages=_segmented(rule)))
    return [inp], Plan((plan_priority(inp, NOW),))


def test_status_shows_the_segment_of_the_candidates_stage() -> None:
    inputs, result = _at_canary(SMALL)
    (row,) = status_rows(inputs, result)
    assert row[3] == "v2.0.0 canary 5% of segment 0 < amount < 1000"
    table = render_status(status_rows(inputs, result), result, wide=True)
    assert "v2.0.0 canary 5% of segment 0 < amount < 1000" in table
    (entry,) = json.loads(status_json(inputs, result))["priorities"]
    assert entry["candidate"] == "v2.0.0 canary 5% of segment 0 < amount < 1000"
    assert entry["segment"] == {"stage": "canary", "rule": SMALL,
                                "text": "0 < amount < 1000"}


def _into_canary(rule: dict[str, object]) -> Plan:
    """The plan promotes the candidate from shadow into the segmented canary."""
    inp = given(status("shadow"), the_spec=spec(stages=_segmented(rule)))
    return Plan((plan_priority(inp, NOW),))


def test_plan_shows_the_segment_in_every_format() -> None:
    result = _into_canary(SMALL)
    assert result.priorities[0].primary.kind == "promote"
    text = render_plan_text(result)
    assert "acme/triage: at canary 5% of segment 0 < amount < 1000\n" in text
    md = render_plan_md(result)
    assert "canary 5% of segment 0 &lt; amount &lt; 1000" in md
    (entry,) = json.loads(render_plan_json(result))["priorities"]
    assert entry["candidate"]["segment"] == SMALL
    assert entry["candidate"]["segmentText"] == "0 < amount < 1000"


def test_no_segment_adds_nothing() -> None:
    inp = given(status("canary"))
    result = Plan((plan_priority(inp, NOW),))
    assert "segment" not in render_plan_text(result)
    assert status_rows([inp], result)[0][3] == "v2.0.0 canary 5%"
    assert json.loads(status_json([inp], result))["priorities"][0]["segment"] is None


def test_an_authors_rule_cannot_inject_markup_or_control_characters() -> None:
    inputs, result = _at_canary(HOSTILE)
    promoted = _into_canary(HOSTILE)
    assert "of segment team == " in render_plan_text(promoted)
    for out in (render_plan_text(promoted), render_status(status_rows(inputs, result), result,
                                                          wide=True)):
        assert "\x1b" not in out and "\n\\u001b" not in out
        assert all("\x1b" not in line for line in out.splitlines())
        assert len(out.splitlines()) == len(out.rstrip("\n").split("\n"))
    md = render_plan_md(promoted)
    assert "of segment team == " in md
    assert "<b>" not in md and "](https" not in md and "\x1b" not in md
    assert md.count("\n") == render_plan_md(_into_canary(SMALL)).count("\n")
    row = status_rows(*_at_canary(HOSTILE))[0][3]
    assert len(row) <= len("v2.0.0 canary 5% of segment ") + 80


def _review(labels: dict[str, str | None]) -> ReviewView:
    items = tuple(LabelledItem(c, label, True) for c, label in labels.items())
    return ReviewView("customers/acme/triage/reviews/early-x.yaml", "early", NEW, items,
                      ("ann (customer-reviewer)",), "git-signed:abc")


def _held_on_review(labels: dict[str, str | None]) -> tuple[list, Plan]:  # type: ignore[type-arg]
    stages = tuple(replace(s, human_review=Setting(4, 0.9)) if s.name == "early" else s
                   for s in STAGES)
    inp = given(status("canary"), the_spec=spec(stages=stages), reviews=(_review(labels),))
    return [inp], Plan((plan_priority(inp, NOW),))


def test_status_and_plan_show_how_far_the_human_review_got() -> None:
    inputs, result = _held_on_review({"a": "correct", "b": None, "c": "correct", "d": None})
    assert result.priorities[0].primary.gate == "human-review"
    (row,) = status_rows(inputs, result)
    assert row[5] == "await-approval: human review for early: 2 of 4 labelled"
    (entry,) = json.loads(status_json(inputs, result))["priorities"]
    assert entry["humanReview"] == {"stage": "early", "labelled": 2, "total": 4,
                                    "sample": 4, "agreement": None, "minAgreement": 0.9}
    (planned,) = json.loads(render_plan_json(result))["priorities"]
    assert planned["humanReview"] == entry["humanReview"]
    assert "acme/triage: human review for early: 2 of 4 labelled\n" in render_plan_text(result)


def test_agreement_below_the_minimum_is_shown() -> None:
    inputs, result = _held_on_review({"a": "correct", "b": "wrong", "c": "correct",
                                      "d": "correct"})
    (row,) = status_rows(inputs, result)
    assert row[5] == ("await-approval: human review for early: 4 of 4 labelled, agreement "
                      "0.75 (needs 0.90)")
    (entry,) = json.loads(status_json(inputs, result))["priorities"]
    assert entry["humanReview"]["agreement"] == 0.75


def test_no_review_held_on_shows_none() -> None:
    inp = given(status("canary"))
    result = Plan((plan_priority(inp, NOW),))
    assert json.loads(status_json([inp], result))["priorities"][0]["humanReview"] is None
    assert "humanReview" not in json.loads(render_plan_json(result))["priorities"][0] or \
        json.loads(render_plan_json(result))["priorities"][0]["humanReview"] is None
