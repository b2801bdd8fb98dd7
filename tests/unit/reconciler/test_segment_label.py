"""A stage's segment (a JSONLogic rule the priority's author wrote) as one short line for
`ailoop status`, `ailoop plan` and the dashboard: readable, bounded, and never carrying a
control character or markup of its own into a terminal or a page."""

from __future__ import annotations

import pytest

from pipeline.reconcile.segment_label import describe, markdown

SMALL = {"<": [0, {"var": "amount"}, 1000]}
COMBINED = {"and": [SMALL, {"or": [{"in": [{"var": "group"}, ["internal", "staff"]]},
                                   {"==": [{"var": "region"}, "eu"]}]}]}


@pytest.mark.parametrize(("rule", "text"), [
    ({"<": [{"var": "amount"}, 1000]}, "amount < 1000"),
    (SMALL, "0 < amount < 1000"),
    ({">=": [{"var": ["age", 0]}, 18]}, "age >= 18"),
    (COMBINED, '0 < amount < 1000 and (group in ["internal", "staff"] or region == "eu")'),
    ({"!": {"==": [{"var": "plan"}, "free"]}}, 'not (plan == "free")'),
    ({"starts_with": [{"var": "email"}, "ops@"]}, 'starts_with(email, "ops@")'),
    ({"in": ["@acme.example", {"var": "email"}]}, '"@acme.example" in email'),
    ({"==": [{"var": "beta"}, True]}, "beta == true"),
    ({"!=": [{"var": "tier"}, None]}, "tier != null"),
])
def test_rules_read_as_conditions(rule: dict[str, object], text: str) -> None:
    assert describe(rule) == text


def test_no_segment_is_empty() -> None:
    assert describe(None) == ""


def test_long_rules_are_cut_to_the_limit() -> None:
    rule = {"in": [{"var": "group"}, [f"team-{i}" for i in range(200)]]}
    text = describe(rule, limit=60)
    assert len(text) == 60 and text.endswith("…")
    assert text.startswith('group in ["team-0", "team-1"')


def test_deep_nesting_is_bounded() -> None:
    rule: dict[str, object] = {"==": [{"var": "x"}, 1]}
    for _ in range(500):  # deeper than Python's recursion would allow unbounded
        rule = {"!": rule}
    text = describe(rule, limit=200)
    assert len(text) <= 200 and "…" in text


@pytest.mark.parametrize("name", [
    "region\n\x1b[31mAPPROVED\x1b[0m",  # a terminal escape and a line break
    "region\u202etxt.exe",  # a right-to-left override
])
def test_control_and_format_characters_never_pass(name: str) -> None:
    text = describe({"==": [{"var": name}, f"eu{name}"]})
    assert "\n" not in text and "\x1b" not in text and "\u202e" not in text
    assert "\\u" in text  # shown, escaped, so a reader sees something is odd


def test_markdown_escapes_markup() -> None:
    rule = {"==": [{"var": "team"}, "[click](https://evil.example) <img src=x> `x` | *y*"]}
    text = markdown(describe(rule))
    for raw in ("[click]", "<img", "`x`", "| *"):
        assert raw not in text
    assert "&lt;img" in text and "\\|" in text and "\\[click\\]" in text
    assert markdown(describe(SMALL)) == "0 &lt; amount &lt; 1000"
