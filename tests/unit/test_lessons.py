from __future__ import annotations

import datetime as dt

import pytest

from pipeline.errors import InputError
from pipeline.lessons.memory import (
    from_failure_categories,
    from_incident,
    lesson_id,
    new_lesson,
    rank,
)
from pipeline.model.lessons import Lesson

DAY = dt.date(2026, 11, 20)


def _lesson(text: str, *, tags: tuple[str, ...] = (), systems: tuple[str, ...] = (),
            date: dt.date = DAY) -> Lesson:
    return new_lesson("failure", text, source="person", tags=tags, systems=systems, date=date)


LESSONS = [
    (_lesson("German e-mails were misclassified: keywords were English only",
             tags=("de", "email"), systems=("ClaimCenter",)), "northwind"),
    (_lesson("Refunds above 500 EUR need a second approver", tags=("refunds",)), "helio"),
    (_lesson("Empty ticket bodies crashed the parser", tags=("edge-case",),
             systems=("Zendesk",)), "helio"),
    (_lesson("Customers prefer weekly updates by e-mail", tags=("updates",)), None),
    (_lesson("Duplicates of one ticket were routed twice"), "helio"),
]


def test_rank_puts_the_most_relevant_first() -> None:
    ranked = rank(LESSONS, "german emails misclassified")
    assert ranked[0].lesson.text.startswith("German e-mails")
    assert ranked[0].customer == "northwind"


def test_rank_skips_lessons_that_do_not_match() -> None:
    ranked = rank(LESSONS, "parser crashed")
    assert [r.lesson.text for r in ranked] == ["Empty ticket bodies crashed the parser"]


def test_tags_and_systems_filter_without_text() -> None:
    assert [r.lesson.tags for r in rank(LESSONS, tags=["refunds"])] == [["refunds"]]
    assert [r.customer for r in rank(LESSONS, systems=["zendesk"])] == ["helio"]


def test_tag_match_boosts_an_otherwise_equal_lesson() -> None:
    a = _lesson("timeouts on the mail system", tags=("email",))
    b = _lesson("timeouts on the mail system again", tags=("other",))
    ranked = rank([(b, None), (a, None)], "timeouts", tags=["email"])
    assert ranked[0].lesson == a
    assert ranked[0].score > ranked[1].score


def test_ties_break_by_newest_date() -> None:
    old = _lesson("same words here", date=dt.date(2026, 1, 1))
    new = _lesson("same words here!", date=dt.date(2026, 6, 1))
    assert rank([(old, None), (new, None)], "same words")[0].lesson == new


def test_ids_are_content_derived_so_capture_is_idempotent() -> None:
    assert lesson_id("failure", "Text ", "a/b") == lesson_id("failure", "text", "a/b")
    assert lesson_id("failure", "text", "a/b") != lesson_id("rule", "text", "a/b")


def test_capture_from_failure_categories_and_incident() -> None:
    lessons = from_failure_categories("helio-saas/ticket-triage", "ev-1",
                                      {"wrong queue": 3, "timeout": 0, "crash": 1},
                                      tags=["triage"], systems=["Zendesk"], date=DAY)
    assert [item.text for item in lessons] == [
        "Dry run of helio-saas/ticket-triage failed 1 case(s) on: crash.",
        "Dry run of helio-saas/ticket-triage failed 3 case(s) on: wrong queue.",
    ]
    assert all(item.source.type == "evidence" and item.source.ref == "ev-1" for item in lessons)
    incident = from_incident("a/b", "INC-3", "Urgent claims routed late.", "German keywords",
                             tags=[], systems=[], date=DAY)
    assert incident.text == "Incident INC-3: Urgent claims routed late. Fixed by: German keywords"
    assert incident.source.type == "incident"


def test_a_lesson_needs_text() -> None:
    with pytest.raises(InputError, match="a lesson needs some text"):
        _lesson("   ")


@pytest.mark.parametrize("query, found", [
    ("misclassification of german keyword", "German e-mails"),
    ("crashing parsers", "Empty ticket bodies"),
    ("approvers needed for refunding", "Refunds above"),
    ("preferred update", "Customers prefer"),
    ("duplicate", "Duplicates of one ticket"),
])
def test_search_finds_other_forms_of_the_same_word(query: str, found: str) -> None:
    ranked = rank(LESSONS, query)
    assert ranked and ranked[0].lesson.text.startswith(found), [r.lesson.text for r in ranked]
