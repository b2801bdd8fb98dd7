"""Datasets for dry runs: JSONL or CSV cases, parsed strictly and bounded in size.

A regression case (`ailoop dataset add`) is a JSONL case tagged `regression`, marked
`critical`, with `"regression": {"incident": NAME, "trace": ID}` naming where it came from.
Its digest (input and expected output) is what a customer reviewer's confirmation binds to.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pipeline.errors import InputError
from pipeline.fsio import read_limited

MAX_DATASET_BYTES = 64 * 1024 * 1024
MAX_CASES = 200_000
_CASE_KEYS = frozenset({"id", "input", "expected", "tags", "critical", "regression",
                        "repeat"})
MAX_REPEAT = 20
_REGRESSION_KEYS = ("incident", "trace")
REGRESSION_TAG = "regression"


class RegressionRef(NamedTuple):
    """Where a regression case came from: an Incident event and/or a runtime trace."""

    incident: str = ""
    trace: str = ""

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in (("incident", self.incident), ("trace", self.trace)) if v}


@dataclass(frozen=True)
class Case:
    id: str
    input: dict[str, Any]
    expected: Any = None
    tags: tuple[str, ...] = ()
    critical: bool = False
    line: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    regression: RegressionRef | None = None
    repeat: int | None = None  # runs of this case; None: spec.dryRun.repeat


def regression_cases(cases: list[Case]) -> list[Case]:
    return [c for c in cases if c.regression is not None]


def case_digest(case: Case) -> str:
    """What a confirmation binds to: the input and the expected output (changing either
    needs a new confirmation; tags, id and line do not)."""
    text = json.dumps({"input": case.input, "expected": case.expected}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)
    return "rc-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def case_line(case: Case) -> str:
    """One JSONL line for CASE (no newline)."""
    data: dict[str, Any] = {"id": case.id, "input": case.input, "expected": case.expected,
                            "tags": list(case.tags), "critical": case.critical}
    if case.regression is not None:
        data["regression"] = case.regression.to_json()
    if case.repeat is not None:
        data["repeat"] = case.repeat
    return json.dumps(data, ensure_ascii=False)


def read_dataset(abs_path: str, rel_path: str) -> list[Case]:
    raw = read_limited(abs_path, rel_path, MAX_DATASET_BYTES,
                       missing="dataset file does not exist", unreadable="cannot read dataset")
    return parse_dataset(raw, rel_path)


def parse_dataset(raw: bytes, rel_path: str) -> list[Case]:
    if len(raw) > MAX_DATASET_BYTES:
        raise InputError(f"dataset is larger than {MAX_DATASET_BYTES} bytes", path=rel_path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise InputError("dataset is not valid UTF-8", path=rel_path, line=line, col=1) from None
    if rel_path.endswith(".csv"):
        cases = _parse_csv(text, rel_path)
    elif rel_path.endswith((".jsonl", ".ndjson")):
        cases = _parse_jsonl(text, rel_path)
    else:
        raise InputError("dataset must be a .jsonl or .csv file", path=rel_path)
    if not cases:
        raise InputError("dataset has no cases", path=rel_path, line=1, col=1)
    _check_unique(cases, rel_path)
    return cases


def _fail(rel: str, line: int, message: str) -> InputError:
    return InputError(message, path=rel, line=line, col=1)


def jsonl_lines(text: str, rel: str) -> Iterator[tuple[int, Any]]:
    """(line number, value) of every non-blank line; InputError naming the line if one is
    not JSON."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"line is not valid JSON ({e.msg})", path=rel, line=number,
                             col=e.colno) from None
        except RecursionError:  # hostile input: thousands of nested brackets
            raise InputError("line nests too deeply to be a dataset case", path=rel,
                             line=number, col=1) from None


def _parse_jsonl(text: str, rel: str) -> list[Case]:
    cases: list[Case] = []
    for number, obj in jsonl_lines(text, rel):
        if not isinstance(obj, dict):
            raise _fail(rel, number, "each line must be a JSON object")
        cases.append(_case(obj, rel, number))
        if len(cases) > MAX_CASES:
            raise _fail(rel, number, f"dataset has more than {MAX_CASES} cases")
    return cases


def _case(obj: dict[str, Any], rel: str, line: int) -> Case:
    unknown = sorted(set(obj) - _CASE_KEYS)
    if unknown:
        raise _fail(rel, line, f"unknown case field '{unknown[0]}'; a case has "
                               "id, input, expected, tags, critical, regression, repeat")
    case_id = obj.get("id")
    if not isinstance(case_id, (str, int)) or isinstance(case_id, bool) or str(case_id) == "":
        raise _fail(rel, line, "case needs an 'id' (string or number)")
    inputs = obj.get("input")
    if not isinstance(inputs, dict):
        raise _fail(rel, line, "case needs an 'input' object")
    tags = obj.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise _fail(rel, line, "'tags' must be a list of strings")
    critical = obj.get("critical", False)
    if not isinstance(critical, bool):
        raise _fail(rel, line, "'critical' must be true or false")
    return Case(id=str(case_id), input=inputs, expected=obj.get("expected"),
                tags=tuple(tags), critical=critical, line=line,
                regression=_regression(obj, rel, line), repeat=_repeat(obj, rel, line))


def _repeat(obj: dict[str, Any], rel: str, line: int) -> int | None:
    if "repeat" not in obj:
        return None
    value = obj["repeat"]
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_REPEAT:
        raise _fail(rel, line, f"'repeat' must be a whole number from 1 to {MAX_REPEAT}")
    return value


def _regression(obj: dict[str, Any], rel: str, line: int) -> RegressionRef | None:
    if "regression" not in obj:
        return None
    value = obj["regression"]
    if not isinstance(value, dict) or not value:
        raise _fail(rel, line, "'regression' must be an object with 'incident' and/or 'trace'")
    unknown = sorted(set(value) - set(_REGRESSION_KEYS))
    if unknown:
        raise _fail(rel, line, f"unknown field 'regression.{unknown[0]}'; 'regression' has "
                               "incident, trace")
    for key in _REGRESSION_KEYS:
        if key in value and (not isinstance(value[key], str) or not value[key]):
            raise _fail(rel, line, f"'regression.{key}' must be a non-empty string")
    return RegressionRef(incident=value.get("incident", ""), trace=value.get("trace", ""))


def _parse_csv(text: str, rel: str) -> list[Case]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or "id" not in reader.fieldnames:
        raise _fail(rel, 1, "CSV header must have an 'id' column")
    cases: list[Case] = []
    for row in reader:
        line = reader.line_num
        if None in row:
            raise _fail(rel, line, "row has more values than the header has columns")
        cases.append(_csv_case(row, rel, line))
        if len(cases) > MAX_CASES:
            raise _fail(rel, line, f"dataset has more than {MAX_CASES} cases")
    return cases


def _csv_case(row: dict[str, str], rel: str, line: int) -> Case:
    inputs: dict[str, Any] = {}
    expected_fields: dict[str, Any] = {}
    expected: Any = None
    for column, value in row.items():
        if column in ("id", "tags", "critical"):
            continue
        if column == "expected":
            expected = _maybe_json(value)
        elif column.startswith("expected."):
            expected_fields[column.removeprefix("expected.")] = value
        else:
            inputs[column.removeprefix("input.")] = value
    critical_text = (row.get("critical") or "false").strip().lower()
    if critical_text not in ("true", "false", ""):
        raise _fail(rel, line, "'critical' must be true or false")
    tags = tuple(t.strip() for t in (row.get("tags") or "").split(";") if t.strip())
    if not row.get("id"):
        raise _fail(rel, line, "case needs an 'id'")
    return Case(id=row["id"], input=inputs, expected=expected_fields or expected, tags=tags,
                critical=critical_text == "true", line=line)


def _maybe_json(value: str) -> Any:
    stripped = value.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except (json.JSONDecodeError, RecursionError):
            return value
    return value


def _check_unique(cases: list[Case], rel: str) -> None:
    seen: dict[str, int] = {}
    for case in cases:
        if case.id in seen:
            raise _fail(rel, case.line, f"duplicate case id '{case.id}' "
                                        f"(first at line {seen[case.id]})")
        seen[case.id] = case.line
