"""Calibration before trust: a judge may gate only when it agrees with people.

A calibration set is JSONL, one output people labelled per line:
  {"id": str, "input": any, "output": any, "label": "correct" | "wrong", "note": str}
The judge grades each line (pass <-> "correct"); Cohen's kappa between the judge and the
labels decides. Kappa, not raw agreement: on a set that is 90% "correct", a judge that
passes everything agrees 90% of the time and knows nothing (kappa 0).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MIN_CASES = 20  # below this kappa swings too far from one labelled case to the next
LABELS = {"correct": True, "wrong": False}
MAX_BYTES = 16 * 1024 * 1024
MAX_CASES = 5000  # each line is a paid judge call


@dataclass(frozen=True)
class Labelled:
    id: str
    input: Any
    output: Any
    correct: bool


def read_calibration(raw: bytes, rel: str) -> list[Labelled]:
    """The labelled lines of a calibration file; ValueError naming the line otherwise."""
    if len(raw) > MAX_BYTES:
        raise ValueError(f"{rel}: larger than {MAX_BYTES // (1024 * 1024)} MB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{rel}: not UTF-8 text") from None
    out: list[Labelled] = []
    seen: set[str] = set()
    shown: dict[str, int] = {}  # what the judge is shown -> the line that first showed it
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            item = _line(line, f"{rel}:{number}")
            if item.id in seen:
                raise ValueError(f"{rel}:{number}: id '{item.id}' appears twice")
            # A copy under a new id would count one agreement many times: twenty copies of
            # two outputs are not twenty labelled cases.
            same = json.dumps([item.input, item.output], sort_keys=True, ensure_ascii=False)
            if same in shown:
                raise ValueError(f"{rel}:{number}: the same input and output as line "
                                 f"{shown[same]} (each labelled output counts once)")
            seen.add(item.id)
            shown[same] = number
            out.append(item)
            if len(out) > MAX_CASES:
                raise ValueError(f"{rel}: more than {MAX_CASES} labelled cases")
    return out


def _line(line: str, where: str) -> Labelled:
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: thousands of nested brackets
        raise ValueError(f"{where}: not a JSON object") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where}: not a JSON object")
    if not isinstance(data.get("id"), str) or not data["id"]:
        raise ValueError(f"{where}: id: must be a non-empty string")
    if "output" not in data:
        raise ValueError(f"{where}: output: is required")
    if data.get("label") not in LABELS:
        raise ValueError(f"{where}: label: must be \"correct\" or \"wrong\"")
    return Labelled(data["id"], data.get("input"), data["output"], LABELS[data["label"]])


def cohens_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's kappa of two raters' pass/fail on the same items; None when it is undefined
    (no items, or both raters put every item in the same one class: chance explains all)."""
    n = len(a)
    if n == 0 or n != len(b):
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    a_yes, b_yes = sum(a) / n, sum(b) / n
    expected = a_yes * b_yes + (1 - a_yes) * (1 - b_yes)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


@dataclass(frozen=True)
class Calibration:
    file: str | None
    cases: int
    kappa: float | None
    agreement: float | None
    min_kappa: float
    calibrated: bool
    reason: str
    cost: float = 0.0
    disagreements: tuple[str, ...] = ()  # ids where the judge and people differ

    @property
    def advisory(self) -> str:
        """What every report says of a judge that may not gate; '' when it may."""
        return "" if self.calibrated else f"advisory: not calibrated ({self.reason})"

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "cases": self.cases,
                "kappa": None if self.kappa is None else round(self.kappa, 6),
                "agreement": None if self.agreement is None else round(self.agreement, 6),
                "minKappa": self.min_kappa, "calibrated": self.calibrated,
                "reason": self.reason, "disagreements": list(self.disagreements)}


def uncalibrated(file: str | None, min_kappa: float, reason: str, cases: int = 0,
                 cost: float = 0.0) -> Calibration:
    return Calibration(file, cases, None, None, min_kappa, False, reason, cost)


def decide(file: str, lines: Sequence[Labelled], judged: Sequence[bool], min_kappa: float,
           cost: float = 0.0) -> Calibration:
    """The verdict over LINES, given the judge's pass/fail on each (in the same order)."""
    people = [line.correct for line in lines]
    n = len(lines)
    if n < MIN_CASES:
        return uncalibrated(file, min_kappa, f"{n} labelled cases, at least {MIN_CASES} "
                            "needed", n, cost)
    agreement = sum(x == y for x, y in zip(people, judged, strict=True)) / n
    differ = tuple(line.id for line, j in zip(lines, judged, strict=True) if j != line.correct)
    kappa = cohens_kappa(people, judged)
    if len(set(people)) == 1:
        label = "correct" if people[0] else "wrong"
        return Calibration(file, n, None, agreement, min_kappa, False,
                           f"every label is '{label}': agreement with people cannot be told "
                           "from chance (kappa undefined); label outputs of both kinds",
                           cost, differ)
    assert kappa is not None  # people use both labels, so chance cannot explain all
    if kappa < min_kappa:
        return Calibration(file, n, kappa, agreement, min_kappa, False,
                           f"kappa {kappa:.2f} is below {min_kappa:g} over {n} cases",
                           cost, differ)
    return Calibration(file, n, kappa, agreement, min_kappa, True,
                       f"kappa {kappa:.2f} >= {min_kappa:g} over {n} cases", cost, differ)
