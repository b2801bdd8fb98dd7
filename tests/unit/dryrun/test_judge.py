"""Judge assertions: Cohen's kappa, the judge's answer, the calibration file and verdict."""

from __future__ import annotations

import json

import pytest

from pipeline.dryrun.calibration import (
    MAX_BYTES,
    MAX_CASES,
    MIN_CASES,
    Labelled,
    cohens_kappa,
    decide,
    read_calibration,
)
from pipeline.dryrun.judge import parse_verdict


def _raters(pairs: dict[tuple[bool, bool], int]) -> tuple[list[bool], list[bool]]:
    a: list[bool] = []
    b: list[bool] = []
    for (x, y), count in pairs.items():
        a += [x] * count
        b += [y] * count
    return a, b


def test_kappa_of_the_textbook_example() -> None:
    # 50 items: both yes 20, a yes b no 5, a no b yes 10, both no 15.
    # p_o = 35/50 = 0.7; p_e = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = 0.2/0.5 = 0.4
    a, b = _raters({(True, True): 20, (True, False): 5, (False, True): 10,
                    (False, False): 15})
    assert cohens_kappa(a, b) == pytest.approx(0.4)


def test_kappa_of_a_skewed_set_is_far_below_its_agreement() -> None:
    # 100 items, 90 labelled correct; the judge passes all but 2 of them and 2 wrong ones.
    # p_o = (88 + 8) / 100 = 0.96; p_e = 0.9*0.9 + 0.1*0.1 = 0.82; kappa = 0.14/0.18
    a, b = _raters({(True, True): 88, (True, False): 2, (False, True): 2,
                    (False, False): 8})
    assert cohens_kappa(a, b) == pytest.approx(0.14 / 0.18)


def test_kappa_bounds_and_undefined_cases() -> None:
    assert cohens_kappa([True, False] * 5, [True, False] * 5) == 1.0
    assert cohens_kappa([True, False] * 5, [False, True] * 5) == -1.0
    # a judge that passes everything knows nothing, however often it agrees
    assert cohens_kappa([True] * 9 + [False], [True] * 10) == 0.0
    assert cohens_kappa([True] * 10, [True] * 10) is None  # chance explains everything
    assert cohens_kappa([], []) is None


@pytest.mark.parametrize(("text", "wanted"), [
    ('{"score": 0.8, "reason": "polite and complete"}', (0.8, "polite and complete")),
    ('```json\n{"score": 1, "reason": "ok"}\n```', (1.0, "ok")),
    ('{"score": 0}', (0.0, "")),
    ('{"score": 0.5, "reason": "two\\n lines"}', (0.5, "two lines")),
])
def test_parse_verdict(text: str, wanted: tuple[float, str]) -> None:
    assert parse_verdict(text) == wanted


@pytest.mark.parametrize(("text", "message"), [
    ("looks good to me", "the judge's answer is not JSON"),
    ('{"reason": "no score"}', "the judge's answer has no score"),
    ('[0.5]', "the judge's answer has no score"),
    ('{"score": "high"}', "the judge's score is not a number (high)"),
    ('{"score": true}', "the judge's score is not a number (true)"),
    ('{"score": 1.5}', "the judge's score 1.5 is outside 0..1"),
    ('{"score": -0.1}', "the judge's score -0.1 is outside 0..1"),
    ('{"score": NaN}', "the judge's score is not a number (NaN)"),
])
def test_parse_verdict_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_verdict(text)
    assert str(e.value) == message


def _line(i: int, label: str) -> str:
    return json.dumps({"id": f"c{i}", "input": {"q": i}, "output": "x", "label": label})


def test_read_calibration() -> None:
    raw = (_line(1, "correct") + "\n\n" + _line(2, "wrong") + "\n").encode()
    assert read_calibration(raw, "cal.jsonl") == [
        Labelled("c1", {"q": 1}, "x", True), Labelled("c2", {"q": 2}, "x", False)]


@pytest.mark.parametrize(("line", "message"), [
    ('{"id": "a", "output": 1, "label": "maybe"}',
     'cal.jsonl:2: label: must be "correct" or "wrong"'),
    ('{"id": "a", "label": "wrong"}', "cal.jsonl:2: output: is required"),
    ('{"id": 3, "output": 1, "label": "wrong"}', "cal.jsonl:2: id: must be a non-empty string"),
    ("not json", "cal.jsonl:2: not a JSON object"),
    ('{"id": "c1", "output": 1, "label": "wrong"}', "cal.jsonl:2: id 'c1' appears twice"),
])
def test_read_calibration_names_the_line(line: str, message: str) -> None:
    with pytest.raises(ValueError) as e:
        read_calibration((_line(1, "correct") + "\n" + line + "\n").encode(), "cal.jsonl")
    assert str(e.value) == message


def test_read_calibration_refuses_what_would_cost_without_bound() -> None:
    with pytest.raises(ValueError) as e:
        read_calibration(b"[" * 100_000 + b"\n", "cal.jsonl")
    assert str(e.value) == "cal.jsonl:1: not a JSON object"
    many = "".join(_line(i, "correct") + "\n" for i in range(MAX_CASES + 1)).encode()
    with pytest.raises(ValueError) as e:
        read_calibration(many, "cal.jsonl")
    assert str(e.value) == f"cal.jsonl: more than {MAX_CASES} labelled cases"
    with pytest.raises(ValueError) as e:
        read_calibration(b" " * (MAX_BYTES + 1), "cal.jsonl")
    assert str(e.value) == "cal.jsonl: larger than 16 MB"


def _set(labels: list[bool]) -> list[Labelled]:
    return [Labelled(f"c{i}", None, "x", label) for i, label in enumerate(labels)]


def test_decide_calibrated_at_or_above_min_kappa() -> None:
    people = [True] * 10 + [False] * 10
    judged = [True] * 9 + [False] + [False] * 9 + [True]  # two disagreements: kappa 0.8
    c = decide("cal.jsonl", _set(people), judged, 0.6)
    assert c.calibrated and c.kappa == pytest.approx(0.8) and c.agreement == 0.9
    assert c.disagreements == ("c9", "c19") and c.advisory == ""
    assert c.reason == "kappa 0.80 >= 0.6 over 20 cases"


def test_decide_below_min_kappa_is_advisory() -> None:
    people = [True] * 10 + [False] * 10
    c = decide("cal.jsonl", _set(people), [True] * 20, 0.6)
    assert not c.calibrated and c.kappa == 0.0 and c.agreement == 0.5
    assert c.advisory == "advisory: not calibrated (kappa 0.00 is below 0.6 over 20 cases)"


def test_decide_too_few_cases() -> None:
    n = MIN_CASES - 1
    c = decide("cal.jsonl", _set([True, False] * 9 + [True]), [True, False] * 9 + [True], 0.6)
    assert not c.calibrated and c.cases == n
    assert c.reason == f"{n} labelled cases, at least {MIN_CASES} needed"


def test_decide_one_class_of_labels_is_undefined() -> None:
    c = decide("cal.jsonl", _set([True] * 20), [True] * 20, 0.6)
    assert not c.calibrated and c.kappa is None and c.agreement == 1.0
    assert c.reason.startswith("every label is 'correct': agreement with people cannot be "
                               "told from chance (kappa undefined)")
