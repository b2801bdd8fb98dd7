"""Datasets for dry runs: JSONL or CSV cases, parsed strictly and bounded in size."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pipeline.errors import InputError
from pipeline.fsio import read_limited

MAX_DATASET_BYTES = 64 * 1024 * 1024
MAX_CASES = 200_000
_CASE_KEYS = frozenset({"id", "input", "expected", "tags", "critical"})


@dataclass(frozen=True)
class Case:
    id: str
    input: dict[str, Any]
    expected: Any = None
    tags: tuple[str, ...] = ()
    critical: bool = False
    line: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


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
                               "id, input, expected, tags, critical")
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
                tags=tuple(tags), critical=critical, line=line)


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
