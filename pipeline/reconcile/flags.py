"""flagd flag export: customers/<c>/flags.flagd.json, one flag per priority.

Each flag sends the priority's current rollout percent of targeting keys to the new
workflow version with flagd's `fractional` operator. Bucketing is flagd's: MurmurHash3
x86 32-bit (seed 0) of flag key + targeting key, bucket = hash * total weight >> 32, walked
over the variants in order. Weights are in basis points (total 10,000) and "new" always
comes first, so raising the percent only moves keys from "stable" into "new", never out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import mmh3

FLAGD_SCHEMA = "https://flagd.dev/schema/v0/flags.json"
FLAGS_FILE = "flags.flagd.json"
TOTAL_WEIGHT = 10_000  # basis points: 0.01% steps
NEW, STABLE = "new", "stable"


def bucket(flag_key: str, targeting_key: str, total_weight: int = TOTAL_WEIGHT) -> int:
    """flagd's bucket for a key: in [0, total_weight)."""
    digest = mmh3.hash((flag_key + targeting_key).encode("utf-8"), 0, signed=False)
    return (digest * total_weight) >> 32


def weights(percent: float) -> tuple[int, int]:
    new = max(0, min(TOTAL_WEIGHT, round(percent * TOTAL_WEIGHT / 100)))
    return new, TOTAL_WEIGHT - new


def variant_for(flag_key: str, targeting_key: str, percent: float) -> str:
    """The variant flagd serves this key for a flag exported at `percent`."""
    new, _stable = weights(percent)
    return NEW if bucket(flag_key, targeting_key) < new else STABLE


def flag(version: str, percent: float) -> dict[str, object]:
    new, stable = weights(percent)
    return {
        "state": "ENABLED",
        "variants": {NEW: version, STABLE: "stable"},
        "defaultVariant": STABLE,
        # No bucketing expression: flagd then hashes $flagd.flagKey + targetingKey.
        "targeting": {"fractional": [[NEW, new], [STABLE, stable]]},
    }


def customer_flags(entries: Iterable[tuple[str, str, float]]) -> dict[str, object]:
    """The flagd document for one customer from (priority name, version, percent)."""
    flags = {name: flag(version, percent) for name, version, percent in sorted(entries)}
    return {"$schema": FLAGD_SCHEMA, "flags": flags}


def render(document: dict[str, object]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
