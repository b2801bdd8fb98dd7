"""The fix-and-rerun loop: what changed between two dry runs of the same priority."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunDiff:
    previous: str  # evidence id compared against
    newly_failing: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    still_failing: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"previous": self.previous, "newlyFailing": self.newly_failing,
                "fixed": self.fixed, "stillFailing": self.still_failing,
                "added": self.added, "removed": self.removed}

    def headline(self) -> str:
        counts = [f"{len(self.newly_failing)} newly failing", f"{len(self.fixed)} fixed",
                  f"{len(self.still_failing)} still failing"]
        counts += [f"{len(ids)} {label}" for label, ids in
                   (("added", self.added), ("removed", self.removed)) if ids]
        return f"compared with {self.previous}: {', '.join(counts)}"


def outcomes_of(cases: Iterable[Mapping[str, Any]]) -> dict[str, bool]:
    """case id -> passed, from the 'cases' list of an evidence file (bad rows ignored)."""
    out: dict[str, bool] = {}
    for case in cases:
        if isinstance(case, Mapping) and isinstance(case.get("id"), str):
            out[case["id"]] = case.get("passed") is True
    return out


def diff_runs(previous_id: str, before: Mapping[str, bool], after: Mapping[str, bool]
              ) -> RunDiff:
    """Cases are matched by id. A case new in this run is added (passing or not), never
    "newly failing": that is for a case that passed before."""
    newly, fixed, still, added = [], [], [], []
    for case_id, passed in after.items():
        was = before.get(case_id)
        if was is None:
            added.append(case_id)
        elif not passed and was:
            newly.append(case_id)
        elif not passed:
            still.append(case_id)
        elif was is False:
            fixed.append(case_id)
    removed = [c for c in before if c not in after]
    return RunDiff(previous_id, sorted(newly), sorted(fixed), sorted(still), sorted(added),
                   sorted(removed))
