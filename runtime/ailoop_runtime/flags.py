"""Which variant serves a request: the flags the reconciler writes, evaluated by OpenFeature
with the official flagd provider in its in-process file mode (it watches the file).

A flag's variants are objects: {"version", "evidenceId", "workflowDigest"} (+ "stage" for
the candidate); the serving variant is {"version": "off"} while no AI version has completed
a rollout, and carries "shadow" (the candidate to run beside it) at a shadow stage. A
priority with no flag is not exposed: the existing process serves.

At a stage with a segment the flag's targeting is {"if": [segment, fractional, "serving"]}:
the request's attributes (its evaluation context) decide whether it is inside, and the
choice says so (`segment`), decided by flagd-core's own JSONLogic evaluator with flagd's
operators, so that the metrics can count the split inside the segment.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from openfeature import api
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.contrib.tools.flagd.core.targeting.targeting import targeting
from openfeature.evaluation_context import EvaluationContext

OFF = "off"
DIGEST_PREFIX = "sha256:"


@dataclass(frozen=True)
class Variant:
    version: str  # "off": the existing process, no AI
    evidence_id: str = ""
    workflow_digest: str = ""  # hex, without the sha256: prefix
    stage: str = ""

    @property
    def off(self) -> bool:
        return self.version == OFF

    @classmethod
    def of(cls, value: Any) -> Variant:
        if not isinstance(value, dict) or not isinstance(value.get("version"), str):
            return cls(OFF)
        digest = str(value.get("workflowDigest") or "").removeprefix(DIGEST_PREFIX)
        return cls(value["version"], str(value.get("evidenceId") or ""), digest,
                   str(value.get("stage") or ""))


@dataclass(frozen=True)
class Choice:
    """What serves one request: `variant` is the flag's variant name."""

    variant: Literal["serving", "candidate"]
    chosen: Variant
    shadow: Variant | None = None  # a candidate to run beside it, never acted on
    segment: bool | None = None  # inside the stage's segment; None: the stage has none


class FlagSource:
    """One customer's flags file, evaluated by the official flagd provider."""

    def __init__(self, path: str, *, poll_ms: int = 500) -> None:
        self.path = os.path.abspath(path)
        self._provider = FlagdProvider(resolver_type=ResolverType.FILE,
                                       offline_flag_source_path=self.path,
                                       deadline_ms=poll_ms)
        # Waits until the file is loaded: before that every evaluation would fall back to
        # the default (the existing process), which is safe but not what the flag says.
        api.set_provider_and_wait(self._provider, domain=self.path)
        self._client = api.get_client(domain=self.path)
        self._lock = threading.Lock()
        self._flags: dict[str, _Flag] = {}
        self._seen: float | None = None

    def choose(self, flag: str, key: str,
               context: Mapping[str, Any] | None = None) -> Choice:
        """The variant flagd serves `key` (the targeting key: a user, a case id) for the
        priority named `flag`; `context`: the request's attributes a stage's segment reads
        (amount, region, group...)."""
        attributes = dict(context or {})
        details = self._client.get_object_details(
            flag, {}, EvaluationContext(targeting_key=key, attributes=attributes))
        known = self._flag(flag)
        if details.error_code is not None or details.variant not in ("serving", "candidate"):
            if known.segment is not None and not known.serving.off:
                # The rule could not be evaluated on this context: outside the segment,
                # where the flag serves the serving version.
                return Choice("serving", known.serving, None, False)
            return Choice("serving", Variant(OFF))
        value: Any = details.value
        shadow = value.get("shadow") if isinstance(value, dict) else None
        segment = known.segment
        inside = None if segment is None else \
            details.variant == "candidate" or _inside(flag, segment, attributes)
        return Choice(details.variant,  # type: ignore[arg-type]
                      Variant.of(value), Variant.of(shadow) if shadow else None, inside)

    def serving(self, flag: str) -> Variant:
        """The flag's serving variant, read from the file: what a request falls back to
        when the candidate's code cannot be served."""
        return self._flag(flag).serving

    def stage(self, flag: str) -> str | None:
        """The stage the flag's candidate is at (None: no candidate is out): the stage the
        readings of this priority belong to."""
        return self._flag(flag).stage

    def _flag(self, flag: str) -> _Flag:
        with self._lock:
            try:
                mtime = os.path.getmtime(self.path)
            except OSError:
                return _Flag(Variant(OFF), None, None)
            if mtime != self._seen:
                self._flags = _read_flags(self.path)
                self._seen = mtime
            return self._flags.get(flag, _Flag(Variant(OFF), None, None))

    def close(self) -> None:
        self._provider.shutdown()


@dataclass(frozen=True)
class _Flag:
    serving: Variant
    stage: str | None
    segment: dict[str, Any] | None  # the stage's segment rule (the condition of the if)


def _inside(flag: str, segment: dict[str, Any], attributes: dict[str, Any]) -> bool:
    """Whether a request is inside the segment; a rule flagd cannot evaluate is outside,
    as flagd then serves the default (serving) variant."""
    try:
        return bool(targeting(flag, segment, EvaluationContext(attributes=attributes)))
    except Exception:  # flagd-core raises whatever its JSONLogic engine raises
        return False


def _read_flags(path: str) -> dict[str, _Flag]:
    try:
        with open(path, encoding="utf-8") as fh:
            flags = json.load(fh).get("flags", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {name: _parsed(flag.get("variants") or {}, flag.get("targeting"))
            for name, flag in flags.items() if isinstance(flag, dict)}


def _parsed(variants: dict[str, Any], rule: Any) -> _Flag:
    serving = variants.get("serving")
    shadow = serving.get("shadow") if isinstance(serving, dict) else None
    staged = Variant.of(variants.get("candidate") or shadow)
    return _Flag(Variant.of(serving), None if staged.off else staged.stage or None,
                 _segment(rule))


def _segment(rule: Any) -> dict[str, Any] | None:
    """The segment of a targeting the reconciler wrote: {"if": [segment, split, "serving"]}."""
    found = rule.get("if") if isinstance(rule, dict) and len(rule) == 1 else None
    if isinstance(found, list) and len(found) == 3 and isinstance(found[0], dict) \
            and found[2] == "serving":
        return found[0]
    return None
