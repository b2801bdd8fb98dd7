"""Customer updates rendered from a scripted loop history."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.i18n import LANGUAGES, Audience
from pipeline.publish.charts import Bar, bars_chart, rollout_chart
from pipeline.publish.snapshot import EvidenceView, IncidentView, PriorityView, RoiView, StepView
from pipeline.publish.update import (
    JARGON,
    Readings,
    Subject,
    build_update,
    previous_state,
    render_html,
    render_markdown,
)

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
SECTIONS = ["What changed since the last update", "Where it stands",
            "Test results on your sample data", "Production health", "Value against the plan",
            "Next step", "Blockers"]


def _view(**changes: object) -> PriorityView:
    base = PriorityView(
        key="acme/triage", customer="acme", customer_name="Acme Ltd", name="ticket-triage",
        goal="Route tickets", owner="Ann Owner", risk="medium",
        stages=(("shadow", 0.0), ("canary", 5.0), ("early", 25.0), ("full", 100.0)),
        target="full", phase="progressing", serving=None, candidate="1.2", stage="early",
        percent=25.0,
        since=T0 + timedelta(days=4),
        history=(StepView(T0, "shadow", 0, "promote", "dry run passed and approved"),
                 StepView(T0 + timedelta(days=2), "canary", 5, "promote", "shadow baked 48h"),
                 StepView(T0 + timedelta(days=4), "early", 25, "promote", "canary healthy")),
        terminal="stage-reached", terminal_reason="reached early", terminal_owner=None,
        next_check=None,
        evidence=EvidenceView("ev-1", T0, True, 0.93, 60, 4, 0.9, {"wrong queue": 3}, 2,
                              fixed=("c-7", "c-9"), newly_failing=()),
        incidents=(), feedback=1,
        roi=RoiView("EUR", 12000.0, 900.0, 5000, 0.7),
        gates=(("error rate", "error_rate", "<=", 0.02),),
        review_cadence="30d", bake=(("shadow", timedelta(hours=48)),
                                    ("canary", timedelta(hours=48)),
                                    ("early", timedelta(hours=72)),
                                    ("full", timedelta(hours=24))),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_every_section_is_present_and_numbers_match_the_view() -> None:
    now = T0 + timedelta(days=5)
    update = build_update(_view(), None, now, Readings({"error_rate": (0.012, 840)}))
    text = render_markdown(update)
    for title in SECTIONS:
        assert f"## {title}" in text
    assert ("Version 1.2 is at step 3 of 4 (early), handling 25% of live traffic; your "
            "existing process handles the rest.") in text
    assert "handled 56 of 60 sample cases correctly, 93% (the bar is 90%)" in text
    assert "2 cases that failed before now pass." in text
    assert "2 unusual cases still need work." in text
    assert "Open issue: wrong queue (3 cases)." in text
    assert "error rate: 0.012 (target <= 0.02, 840 requests)." in text
    assert "Planned: €12,000 of saved work per month at €900 running cost." in text
    assert "Move to the full step, no earlier than November 8, 2026, 9:00\u202fAM UTC" in text
    assert "- None." in text
    assert "This is the first update on this work." in text


def test_plain_language_no_jargon() -> None:
    text = render_markdown(build_update(_view(), None, T0)).lower()
    body = text.split("<!--")[0]
    for word in JARGON:
        assert word not in body, word


def test_what_changed_since_the_previous_update() -> None:
    first = render_markdown(build_update(_view(stage="canary", percent=5.0,
                                               history=_view().history[:2]), None,
                                         T0 + timedelta(days=3)))
    state = previous_state(first)
    assert state is not None and state["stage"] == "canary"
    later = _view(evidence=replace(_view().evidence, id="ev-2", pass_rate=0.95),  # type: ignore[type-var]
                  incidents=(IncidentView("INC-3", "high", "Urgent tickets queued late.",
                                          T0 + timedelta(days=4), False),))
    text = render_markdown(build_update(later, state, T0 + timedelta(days=5)))
    assert "Release step changed to early (25% of traffic) on November 5: canary healthy" in text
    assert "A new test run passed 95% of 60 sample cases, up from 93%." in text
    assert "A production problem was reported (INC-3)." in text
    assert "INC-3 (high): Urgent tickets queued late. Owner: Ann Owner." in text


def test_blocked_names_the_owner_and_the_next_step() -> None:
    view = _view(phase="blocked", terminal="blocked",
                 terminal_reason="The dry run keeps failing on German tickets.",
                 terminal_owner="Ann Owner")
    text = render_markdown(build_update(view, None, T0))
    assert "The dry run keeps failing on German tickets. Owner: Ann Owner." in text
    assert "Fix the problem below, test again, and ask for approval again." in text


def test_html_embeds_both_charts_as_svg_and_escapes_text() -> None:
    view = _view(goal="<script>alert(1)</script>",
                 incidents=(IncidentView("INC-1", "low", "<b>bold</b>", T0, False),))
    html = render_html(build_update(view, None, T0 + timedelta(days=5)), T0 + timedelta(days=5))
    assert html.count("<svg") == 2
    assert "Share of live traffic over time" in html
    assert "Key measures against their targets" in html
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_charts_show_steps_and_thresholds() -> None:
    svg = rollout_chart([(T0, 0), (T0 + timedelta(days=1), 5), (T0 + timedelta(days=2), 25)],
                        T0 + timedelta(days=3), "Rollout")
    assert svg.count("<circle") == 3
    bars = bars_chart([Bar("pass rate", 0.95, 0.9, True), Bar("errors", 0.05, 0.02, False),
                       Bar("latency", None, 800, False)], "Metrics")
    assert bars.count('fill="#15803d"') == 1  # pass rate meets its threshold
    assert bars.count('fill="#b91c1c"') == 1  # errors above their ceiling
    assert "no data" in bars


def test_a_run_no_trusted_run_committed_is_labelled_and_does_not_count() -> None:
    view = _view()
    assert view.evidence is not None
    unverified = replace(view, evidence=replace(view.evidence, verified=False))
    text = render_markdown(build_update(unverified, None, T0 + timedelta(days=5)))
    assert ("The latest run, from the PR, not yet verified, on November 1 handled 56 of 60 "
            "sample cases correctly, 93% (the bar is 90%). It does not count until a trusted "
            "run repeats it.") in text


def test_a_german_update_in_berlin_time() -> None:
    reader = Audience("de", "Europe/Berlin")
    now = T0 + timedelta(days=5)
    update = build_update(_view(), None, now, Readings({"error_rate": (0.012, 840)}), reader)
    text = render_markdown(update)
    assert text.startswith("# Acme Ltd: ticket triage, Update vom 6. November 2026\n")
    for title in ("Was sich seit dem letzten Update geändert hat", "Aktueller Stand",
                  "Nächster Schritt", "Hindernisse"):
        assert f"## {title}" in text
    assert ("Version 1.2 ist bei Schritt 3 von 4 (early) und bearbeitet 25\xa0% der echten "
            "Vorgänge; den Rest bearbeitet Ihr bisheriger Prozess.") in text
    assert "2 Fälle, die vorher fehlschlugen, bestehen jetzt." in text
    assert ("Geplant: 12.000\xa0€ eingesparte Arbeit pro Monat bei 900\xa0€ laufenden "
            "Kosten.") in text
    # the bake ends 08 November 09:00 UTC: 10:00 in Berlin, winter time
    assert "Weiter zum Schritt full, frühestens am 8. November 2026, 10:00 MEZ" in text
    html = render_html(update, now)
    assert "<html lang='de'>" in html and "Anteil an echten Vorgängen im Zeitverlauf" in html


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_branch_of_an_update_renders_in_every_language(language: str) -> None:
    reader = Audience(language, "Europe/Berlin")
    views = [_view(), _view(phase="blocked", terminal="blocked", terminal_reason="Stuck."),
             _view(stage=None, serving="1.1", candidate=None, next_check=T0),
             _view(stage="shadow", percent=0.0, serving="1.0"), _view(evidence=None, roi=None),
             _view(stage="full", percent=100.0)]
    for view in views:
        assert view.evidence is None or view.evidence.threshold is not None
        for previous in (None, {"date": T0.isoformat(), "passRate": 0.5, "serving": "0.9",
                                "openIncidents": ["INC-0"]}):
            update = build_update(view, previous, T0 + timedelta(days=5),
                                  Readings({}, 100.0, 10.0, Subject("1.2", "early")), reader)
            assert render_html(update, T0).startswith(
                f"<!doctype html><html lang='{language}'>")


def test_shadow_runs_are_summarised_with_a_few_different_answers() -> None:
    from pipeline.monitoring.shadow import Disagreement, ShadowSummary

    shadow = ShadowSummary("1.2", 40, 4, 1, (
        Disagreement("a" * 32, {"text": "x"}, {"queue": "billing"}, {"queue": "sales"}),
        Disagreement("b" * 32, {"text": "y"}, "x" * 200, None)))
    view = _view(stage="shadow", percent=0.0, serving="1.1")
    text = render_markdown(build_update(view, None, T0, shadow=shadow))
    assert ("- In shadow, version 1.2 answered 40 requests beside the current version and "
            "gave the same answer 36 times (90%).") in text
    assert ('- Different answer (trace aaaaaaaaaaaa): the current version said '
            '{"queue": "billing"}, the new one {"queue": "sales"}.') in text
    assert "x" * 79 + "…" in text and "x" * 81 not in text  # outputs are cut short
    assert "- … and 2 more different answers." in text
    german = render_markdown(build_update(view, None, T0, audience=Audience("de", "UTC"),
                                          shadow=shadow))
    assert "Im Schattenbetrieb hat Version 1.2 40 Anfragen" in german


def test_a_case_added_since_the_last_run_is_not_said_to_have_passed_before() -> None:
    from pipeline.documents.evidence import evidence_model
    from pipeline.publish.snapshot import case_changes

    def run(**cases: bool) -> object:
        return evidence_model({
            "apiVersion": "ailoop.dev/v1", "kind": "Evidence", "priority": "acme/triage",
            "id": "ev-0123456789abcdef", "created": "2026-11-20T10:00:00Z", "passed": False,
            "fingerprint": {"spec": "a" * 64, "dataset": "b" * 64, "workflow": "c" * 64},
            "summary": {"cases": len(cases), "passed": 0, "failed": 0, "errors": 0,
                        "passRate": 0.0},
            "cases": [{"id": k, "passed": v} for k, v in cases.items()]})

    before = run(a=True, b=False, c=True)
    after = run(a=False, b=True, c=True, fresh=False)
    assert case_changes(after, before) == (("b",), ("a",))  # (fixed, newly failing)
    assert case_changes(after, None) == ((), ())


def test_a_stage_with_a_segment_says_its_share_is_of_that_group_only() -> None:
    text = render_markdown(build_update(_view(segmented=True), None, T0))
    assert ("Version 1.2 is at step 3 of 4 (early), handling 25% of the live work in the "
            "group chosen for this step; your existing process handles the rest.") in text
    german = render_markdown(build_update(_view(segmented=True), None, T0,
                                          audience=Audience("de", "UTC")))
    assert "25\u00a0% der echten Vorgänge der für diesen Schritt gewählten Gruppe" in german


def test_a_move_to_a_new_segment_says_the_group_changed() -> None:
    moved = StepView(T0 + timedelta(days=5), "early", 25, "resegment",
                     "the segment (targeting) of stage early changed and was approved again")
    view = _view(segmented=True, history=(*_view().history, moved))
    state = {"date": (T0 + timedelta(days=4, hours=12)).isoformat()}
    text = render_markdown(build_update(view, state, T0 + timedelta(days=6)))
    assert ("On November 6 the group chosen for the early step changed, and the new version "
            "now handles 25% of the live work in the new group: the segment (targeting) of "
            "stage early changed and was approved again") in text
    assert "Release step changed to early" not in text
    for language, words in (("de", "die für den Schritt early gewählte Gruppe geändert"),
                            ("fr", "le groupe choisi pour l\u2019étape early a changé")):
        other = render_markdown(build_update(view, state, T0 + timedelta(days=6),
                                             audience=Audience(language, "UTC")))
        assert words in other, other
