"""flagd flag export: customers/<c>/flags.flagd.json, one flag per priority.

Each flag has two object variants, and production serves exactly what they name:

    "serving":   {"version": "1.0", "evidenceId": "ev-…", "workflowDigest": "sha256:…"}
                 or {"version": "off"} while no version has completed a rollout (the
                 customer's existing process, no AI); at a shadow stage (0 %) it also
                 carries "shadow": the candidate to run beside it, never acted on;
    "candidate": {"version": "1.1", "evidenceId": "ev-…", "workflowDigest": "sha256:…",
                  "stage": "canary"}

The candidate's share is the stage's percent, with flagd's `fractional` operator (inside
the stage's segment when it has `targeting`: `{"if": [segment, fractional, "serving"]}`);
everything else, and the default, is the serving variant. Weights are in basis points (total
10,000) and "candidate" always comes first, so raising the percent only moves keys from
serving to candidate, whatever hash the evaluator uses. ailoop does not bucket keys itself:
which key gets which variant is the evaluator's alone (production's is the flagd provider
ailoop-runtime pins), and the tests check these files with the official evaluators
(tests/acceptance/test_flagd_evaluators.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pipeline.model.status import StatusBody, Version

FLAGD_SCHEMA = "https://flagd.dev/schema/v0/flags.json"
FLAGS_FILE = "flags.flagd.json"
TOTAL_WEIGHT = 10_000  # basis points: 0.01% steps
CANDIDATE, SERVING = "candidate", "serving"
OFF = "off"  # the serving variant's version when no version has completed a rollout
DIGEST_PREFIX = "sha256:"


def weights(percent: float) -> tuple[int, int]:
    candidate = max(0, min(TOTAL_WEIGHT, round(percent * TOTAL_WEIGHT / 100)))
    return candidate, TOTAL_WEIGHT - candidate


def _version(held: Version) -> dict[str, Any]:
    return {"version": held.version, "evidenceId": held.evidence_id,
            "workflowDigest": DIGEST_PREFIX + held.workflow_digest if held.workflow_digest
            else ""}


def flag(status: StatusBody) -> dict[str, Any] | None:
    """The flag of one priority, or None while nothing of it is exposed (no serving
    version, no candidate at a stage): production then keeps its existing process."""
    cand = status.candidate
    staged = cand if cand is not None and cand.stage is not None else None
    if staged is None and status.serving is None:
        return None
    serving: dict[str, Any] = _version(status.serving) if status.serving else {"version": OFF}
    if staged is None:
        return {"state": "ENABLED", "variants": {SERVING: serving}, "defaultVariant": SERVING}
    candidate = {**_version(staged), "stage": staged.stage}
    if staged.percent <= 0:  # shadow: run it beside the serving version, act on neither
        return {"state": "ENABLED", "variants": {SERVING: {**serving, "shadow": candidate}},
                "defaultVariant": SERVING}
    share, rest = weights(staged.percent)
    # No bucketing expression: flagd then buckets by the flag key and the targeting key.
    split: dict[str, Any] = {"fractional": [[CANDIDATE, share], [SERVING, rest]]}
    return {"state": "ENABLED", "variants": {CANDIDATE: candidate, SERVING: serving},
            "defaultVariant": SERVING, "targeting": segmented(staged.segment, split)}


def segmented(segment: Mapping[str, Any] | None, split: dict[str, Any]) -> dict[str, Any]:
    """The targeting of a stage: SPLIT everywhere, or, with a segment, SPLIT inside it and
    the serving variant outside it. The split is the same fractional as without a segment
    (same bucketing key), so a key inside the segment gets what it would get without one,
    and raising the percent only adds keys there."""
    if segment is None:
        return split
    return {"if": [dict(segment), split, SERVING]}


def customer_flags(entries: Iterable[tuple[str, StatusBody]],
                   kept: Mapping[str, object] | None = None) -> dict[str, object]:
    """The flagd document for one customer from (priority name, status); `kept`: flags
    copied as they are (priorities held because their status cannot be acted on)."""
    flags: dict[str, object] = {name: found for name, status in entries
                                if (found := flag(status)) is not None}
    flags.update(kept or {})
    return {"$schema": FLAGD_SCHEMA, "flags": dict(sorted(flags.items()))}


def render(document: dict[str, object]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
