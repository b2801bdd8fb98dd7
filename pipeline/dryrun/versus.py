"""Candidate versus serving: the same cases run on the serving version and on the candidate,
compared case by case, with an exact paired test and the `noRegressionOn` gates. Pure
functions of results (pipeline.dryrun.serving runs the serving version)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from pipeline.dryrun.results import CaseResult
from pipeline.dryrun.thresholds import Gate
from pipeline.model.evidence import NO_REGRESSION_GATE

CRITICAL = "critical"  # in noRegressionOn: the cases the dataset marks critical
_MAX_NAMED = 10


@dataclass(frozen=True)
class ServingRef:
    """The serving version as the bot-written status names it."""

    version: str
    evidence_id: str
    workflow_digest: str


@dataclass(frozen=True)
class Versus:
    """The comparison with the serving version, or why none could be made (reason)."""

    serving: ServingRef
    reason: str = ""  # "" when the comparison was made
    cases: int = 0
    improved: list[str] = field(default_factory=list)  # serving failed, candidate passed
    regressed: list[str] = field(default_factory=list)  # serving passed, candidate failed
    unchanged_pass: int = 0
    unchanged_fail: int = 0
    p_value: float = 1.0
    reused: int = 0  # serving runs taken from the cache
    regressed_tags: dict[str, list[str]] = field(default_factory=dict)  # gate tag -> ids
    tagged: dict[str, int] = field(default_factory=dict)  # gate tag -> cases that have it
    # each judge's pairwise win rate (pipeline.dryrun.pairwise), as evidence records
    judges: tuple[dict[str, Any], ...] = ()
    # gate tag -> ids of cases the serving version's dataset guards and this one lacks
    dropped: dict[str, list[str]] = field(default_factory=dict)
    # gate tag -> ids of such cases with another input or expected output here
    changed: dict[str, list[str]] = field(default_factory=dict)

    @property
    def made(self) -> bool:
        return not self.reason

    def to_json(self) -> dict[str, Any]:
        head = {"version": self.serving.version, "evidenceId": self.serving.evidence_id,
                "workflowDigest": self.serving.workflow_digest}
        if not self.made:
            return {**head, "compared": False, "reason": self.reason}
        return {**head, "compared": True, "cases": self.cases, "improved": self.improved,
                "regressed": self.regressed,
                "unchanged": self.unchanged_pass + self.unchanged_fail,
                "unchangedPass": self.unchanged_pass, "unchangedFail": self.unchanged_fail,
                "pValue": round(self.p_value, 6),
                **({"judges": list(self.judges)} if self.judges else {})}


def mcnemar_exact(improved: int, regressed: int) -> float:
    """Two-sided exact McNemar test: the binomial test of the discordant pairs against an
    even split. 1.0 when no case changed."""
    n = improved + regressed
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(improved, regressed) + 1))
    return min(1.0, float(Fraction(2 * tail, 2 ** n)))  # exact: n may be thousands


def matches(result: CaseResult, tag: str) -> bool:
    return result.critical if tag == CRITICAL else tag in result.tags


def guarded(now: CaseResult, was: CaseResult, tag: str) -> bool:
    """A gate guards a case tagged so in either dataset: WAS carries the serving version's
    tags, so a pull request that drops a case's flag does not drop it from the gate."""
    return matches(now, tag) or matches(was, tag)


def compare(serving: ServingRef, candidate: Sequence[CaseResult],
            before: Sequence[CaseResult], tags: Sequence[str], reused: int = 0) -> Versus:
    """CANDIDATE and BEFORE (the serving version's results) hold the same cases in the same
    order; ids are the candidate's (already through the redactor's detectors). BEFORE's
    tags are those of the serving version's dataset (its own where it has the case)."""
    improved, regressed = [], []
    same_pass = same_fail = 0
    by_tag: dict[str, list[str]] = {t: [] for t in tags}
    for now, was in zip(candidate, before, strict=True):
        if now.passed and not was.passed:
            improved.append(now.id)
        elif was.passed and not now.passed:
            regressed.append(now.id)
            for tag in tags:
                if guarded(now, was, tag):
                    by_tag[tag].append(now.id)
        elif now.passed:
            same_pass += 1
        else:
            same_fail += 1
    tagged = {t: sum(guarded(now, was, t) for now, was in zip(candidate, before, strict=True))
              for t in tags}
    return Versus(serving, "", len(candidate), improved, regressed, same_pass, same_fail,
                  mcnemar_exact(len(improved), len(regressed)), reused, by_tag, tagged)


def no_regression_gates(tags: Sequence[str], versus: Versus | None,
                        candidate_version: str) -> list[Gate]:
    """One gate per noRegressionOn tag. Fail closed: a serving version that could not be
    compared fails every gate with the reason; none serving passes them."""
    gates: list[Gate] = []
    for tag in tags:
        name = f"{NO_REGRESSION_GATE}{tag}"
        if versus is None:
            gates.append(Gate(name, "no case passing on serving fails", "nothing serving to "
                              "compare with", True, 0.0))
            continue
        serving = f"serving v{versus.serving.version} ({versus.serving.evidence_id})"
        required = f"no {tag} case passing on {serving} fails"
        if not versus.made:
            gates.append(Gate(name, required, f"not compared: {versus.reason}", False))
            continue
        # Not compared: a deleted case, or one made to expect what the candidate answers,
        # must not hide its regression.
        uncompared = [(ids, what) for ids, what in (
            (versus.dropped.get(tag, []), ("is not", "are not")),
            (versus.changed.get(tag, []), ("has another input or expected output",
                                           "have other inputs or expected outputs"))) if ids]
        if uncompared:
            ids, what = uncompared[0]
            many = len(ids) > 1
            gates.append(Gate(name, required, f"case{'s' if many else ''} {_named(ids)}, "
                              f"{tag if tag == CRITICAL else 'tagged ' + tag} in the dataset "
                              f"of serving v{versus.serving.version}, {what[many]} in this "
                              f"dataset: {'they' if many else 'it'} cannot be compared",
                              False, float(sum(len(i) for i, _ in uncompared))))
            continue
        if not versus.tagged.get(tag):  # a misspelt tag must not pass unseen (as perTag)
            gates.append(Gate(name, required, "no critical cases" if tag == CRITICAL else
                              f"no cases tagged {tag}", False))
            continue
        ids = versus.regressed_tags.get(tag, [])
        if not ids:
            gates.append(Gate(name, required, f"none regressed against {serving}", True, 0.0))
            continue
        named = _named(ids)
        plural = len(ids) > 1
        gates.append(Gate(name, required, f"case{'s' if plural else ''} {named} passed on "
                          f"serving v{versus.serving.version} and fail{'' if plural else 's'} "
                          f"on v{candidate_version}", False, float(len(ids))))
    return gates


def _named(ids: Sequence[str]) -> str:
    return ", ".join(ids[:_MAX_NAMED]) + (f" and {len(ids) - _MAX_NAMED} more"
                                          if len(ids) > _MAX_NAMED else "")
