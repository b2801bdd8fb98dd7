from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.documents import dataset
from pipeline.documents.dataset import Case, parse_dataset, read_dataset
from pipeline.errors import InputError


def _error(raw: bytes, rel: str = "d.jsonl") -> str:
    with pytest.raises(InputError) as caught:
        parse_dataset(raw, rel)
    return str(caught.value)


def test_jsonl_cases_keep_their_line_numbers() -> None:
    raw = (b'{"id": "a", "input": {"x": 1}, "expected": {"y": 2}, "tags": ["de"]}\n'
           b"\n"
           b'  \n'
           b'{"id": 7, "input": {}, "critical": true}\n')
    assert parse_dataset(raw, "d.jsonl") == [
        Case(id="a", input={"x": 1}, expected={"y": 2}, tags=("de",), line=1),
        Case(id="7", input={}, critical=True, line=4),
    ]


def test_bom_and_ndjson_are_accepted() -> None:
    cases = parse_dataset(b'\xef\xbb\xbf{"id": "a", "input": {}}\r\n', "d.ndjson")
    assert [c.id for c in cases] == ["a"]


@pytest.mark.parametrize(("raw", "message"), [
    (b'{"id": "a", "input": {}}\n{"id": "b", "input": {}\n',
     "d.jsonl:2:24: line is not valid JSON (Expecting ',' delimiter)"),
    (b'{"id": "a", "input": {}}\n[1, 2]\n', "d.jsonl:2:1: each line must be a JSON object"),
    (b'{"id": "a", "input": {}, "inputs": {}}\n',
     "d.jsonl:1:1: unknown case field 'inputs'; a case has id, input, expected, tags, "
     "critical, regression, repeat"),
    (b'{"input": {}}\n', "d.jsonl:1:1: case needs an 'id' (string or number)"),
    (b'{"id": "", "input": {}}\n', "d.jsonl:1:1: case needs an 'id' (string or number)"),
    (b'{"id": true, "input": {}}\n', "d.jsonl:1:1: case needs an 'id' (string or number)"),
    (b'{"id": [1], "input": {}}\n', "d.jsonl:1:1: case needs an 'id' (string or number)"),
    (b'{"id": "a"}\n', "d.jsonl:1:1: case needs an 'input' object"),
    (b'{"id": "a", "input": "text"}\n', "d.jsonl:1:1: case needs an 'input' object"),
    (b'{"id": "a", "input": {}, "tags": "de"}\n', "d.jsonl:1:1: 'tags' must be a list of strings"),
    (b'{"id": "a", "input": {}, "tags": [1]}\n', "d.jsonl:1:1: 'tags' must be a list of strings"),
    (b'{"id": "a", "input": {}, "critical": "yes"}\n',
     "d.jsonl:1:1: 'critical' must be true or false"),
    (b'{"id": "a", "input": {}}\n{"id": "b", "input": {}}\n{"id": "a", "input": {}}\n',
     "d.jsonl:3:1: duplicate case id 'a' (first at line 1)"),
    (b'{"id": 1, "input": {}}\n{"id": "1", "input": {}}\n',
     "d.jsonl:2:1: duplicate case id '1' (first at line 1)"),
    (b"", "d.jsonl:1:1: dataset has no cases"),
    (b"\n\n", "d.jsonl:1:1: dataset has no cases"),
    (b'{"id": "a", "input": {}}\n\xff\n', "d.jsonl:2:1: dataset is not valid UTF-8"),
])
def test_jsonl_errors_name_the_line(raw: bytes, message: str) -> None:
    assert _error(raw) == message


def test_unknown_extension_is_refused() -> None:
    assert _error(b'{"id": 1, "input": {}}\n', "d.json") == (
        "d.json: dataset must be a .jsonl or .csv file")


def test_csv_columns_become_input_and_expected() -> None:
    raw = (b"id,text,input.lang,expected,tags,critical\n"
           b'c1,"refund, please",de,"{""queue"": ""billing""}",a; b,true\n'
           b"c2,printer,en,it,,\n")
    assert parse_dataset(raw, "d.csv") == [
        Case(id="c1", input={"text": "refund, please", "lang": "de"},
             expected={"queue": "billing"}, tags=("a", "b"), critical=True, line=2),
        Case(id="c2", input={"text": "printer", "lang": "en"}, expected="it", line=3),
    ]


def test_csv_expected_fields_build_an_object() -> None:
    raw = b"id,text,expected.queue,expected.urgency\nc1,x,billing,high\n"
    assert parse_dataset(raw, "d.csv")[0].expected == {"queue": "billing", "urgency": "high"}


def test_csv_expected_that_is_not_json_stays_text() -> None:
    raw = b'id,expected\nc1,"[not json"\n'
    assert parse_dataset(raw, "d.csv")[0].expected == "[not json"


def test_csv_line_numbers_count_quoted_newlines() -> None:
    raw = b'id,text\nc1,"two\nlines"\nc1,x\n'
    assert _error(raw, "d.csv") == "d.csv:4:1: duplicate case id 'c1' (first at line 3)"


@pytest.mark.parametrize(("raw", "message"), [
    (b"text,expected\nx,y\n", "d.csv:1:1: CSV header must have an 'id' column"),
    (b"", "d.csv:1:1: CSV header must have an 'id' column"),
    (b"id,text\nc1,x,extra\n", "d.csv:2:1: row has more values than the header has columns"),
    (b"id,text\n,x\n", "d.csv:2:1: case needs an 'id'"),
    (b"id,critical\nc1,maybe\n", "d.csv:2:1: 'critical' must be true or false"),
    (b"id,text\n", "d.csv:1:1: dataset has no cases"),
])
def test_csv_errors_name_the_line(raw: bytes, message: str) -> None:
    assert _error(raw, "d.csv") == message


def test_case_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dataset, "MAX_CASES", 2)
    jsonl = b"".join(b'{"id": %d, "input": {}}\n' % i for i in range(3))
    assert _error(jsonl) == "d.jsonl:3:1: dataset has more than 2 cases"
    csv = b"id\n1\n2\n3\n"
    assert _error(csv, "d.csv") == "d.csv:4:1: dataset has more than 2 cases"
    assert len(parse_dataset(b"".join(jsonl.splitlines(keepends=True)[:2]), "d.jsonl")) == 2


def test_size_is_bounded_before_parsing(monkeypatch: pytest.MonkeyPatch,
                                       tmp_path: Path) -> None:
    monkeypatch.setattr(dataset, "MAX_DATASET_BYTES", 30)
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"id": 1, "input": {}}\n' * 10)
    with pytest.raises(InputError) as caught:
        read_dataset(str(path), "x/d.jsonl")
    assert str(caught.value) == "x/d.jsonl: dataset is larger than 30 bytes"


def test_read_dataset_reports_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError) as missing:
        read_dataset(str(tmp_path / "nope.jsonl"), "x/nope.jsonl")
    assert str(missing.value) == "x/nope.jsonl: dataset file does not exist"
    with pytest.raises(InputError) as folder:
        read_dataset(str(tmp_path), "x/dir.jsonl")
    assert str(folder.value) == "x/dir.jsonl: cannot read dataset: Is a directory"


# --- regression cases ------------------------------------------------------------------

def test_a_regression_case_names_its_incident_or_trace() -> None:
    raw = (b'{"id": "r1", "input": {"x": 1}, "expected": {"y": 2}, "tags": ["regression"], '
           b'"critical": true, "regression": {"incident": "inc-7", "trace": "abc"}}\n'
           b'{"id": "plain", "input": {}}\n')
    cases = parse_dataset(raw, "d.jsonl")
    assert cases[0].regression == dataset.RegressionRef(incident="inc-7", trace="abc")
    assert cases[1].regression is None
    assert [c.id for c in dataset.regression_cases(cases)] == ["r1"]


@pytest.mark.parametrize(("field", "message"), [
    (b'"x"', "'regression' must be an object with 'incident' and/or 'trace'"),
    (b'{}', "'regression' must be an object with 'incident' and/or 'trace'"),
    (b'{"incident": 3}', "'regression.incident' must be a non-empty string"),
    (b'{"incident": "i", "confirmed": true}',
     "unknown field 'regression.confirmed'; 'regression' has incident, trace"),
])
def test_a_bad_regression_reference_names_the_field(field: bytes, message: str) -> None:
    raw = b'{"id": "r", "input": {}, "regression": ' + field + b'}\n'
    assert _error(raw) == f"d.jsonl:1:1: {message}"


def test_the_case_digest_binds_input_and_expected_output_only() -> None:
    one = Case(id="a", input={"x": 1}, expected={"y": 2})
    same = Case(id="a", input={"x": 1}, expected={"y": 2}, tags=("regression",), line=9)
    other = Case(id="a", input={"x": 1}, expected={"y": 3})
    assert dataset.case_digest(one) == dataset.case_digest(same)
    assert dataset.case_digest(one) != dataset.case_digest(other)
    assert dataset.case_digest(one).startswith("rc-") and len(dataset.case_digest(one)) == 19


def test_case_line_round_trips() -> None:
    case = Case(id="r", input={"x": "é"}, expected={"y": 1}, tags=("regression",),
                critical=True, regression=dataset.RegressionRef(incident="inc-1"))
    line = dataset.case_line(case)
    assert "\n" not in line
    assert parse_dataset(line.encode() + b"\n", "d.jsonl") == [
        Case(id="r", input={"x": "é"}, expected={"y": 1}, tags=("regression",),
             critical=True, regression=dataset.RegressionRef(incident="inc-1"), line=1)]


# --- repeated runs ---------------------------------------------------------------------

def test_a_case_may_name_its_own_repeat() -> None:
    raw = b'{"id": "a", "input": {}, "repeat": 5}\n{"id": "b", "input": {}}\n'
    assert [c.repeat for c in parse_dataset(raw, "d.jsonl")] == [5, None]
    case = Case(id="a", input={}, repeat=3)
    assert parse_dataset(dataset.case_line(case).encode(), "d.jsonl")[0].repeat == 3


@pytest.mark.parametrize("value", [b"0", b"21", b"true", b"2.5", b'"3"'])
def test_a_bad_repeat_names_the_line(value: bytes) -> None:
    raw = b'{"id": "a", "input": {}}\n{"id": "b", "input": {}, "repeat": ' + value + b'}\n'
    assert _error(raw) == "d.jsonl:2:1: 'repeat' must be a whole number from 1 to 20"
