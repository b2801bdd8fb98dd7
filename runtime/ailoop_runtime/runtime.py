"""Serving one priority in production: choose the variant, check its code, run it, put its
actions through the guard, run a shadow candidate beside it, and count what happened."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ailoop_runtime.digest import workflow_digest
from ailoop_runtime.flags import OFF, Choice, FlagSource, Variant
from ailoop_runtime.guard import (
    Decision,
    Executor,
    Guard,
    MemoryQueue,
    Queue,
    actions_from_priority,
)
from ailoop_runtime.metrics import Metrics

log = logging.getLogger("ailoop_runtime")


class VariantRefused(Exception):
    """Neither the chosen variant's code nor the serving version's matches its digest."""


@dataclass(frozen=True)
class Installed:
    """One version of the workflow as this service runs it."""

    run: Callable[[dict[str, Any]], Any]
    folder: str  # where its code is installed: it must hash to the flag's workflowDigest


@dataclass(frozen=True)
class Answer:
    variant: str  # serving | candidate | off (the existing process serves: output is None)
    version: str
    output: Any
    actions: tuple[Decision, ...] = ()
    trace: str = ""
    shadow: Future[Any] | None = None  # the shadow run, when there is one (never acted on)


class TraceStore:
    """Serving and shadow outputs under one trace id, appended to a JSONL file (kept by the
    customer's service: `ailoop dataset add --from-trace` turns one into a case). Shadow
    runs are always recorded; with `served=True` every answered request is too, so a
    production failure can become a case whether or not a shadow ran beside it."""

    def __init__(self, path: str | None = None, *, served: bool = False) -> None:
        self.path = path
        self.served = served
        self._lock = threading.Lock()
        self.recent: list[dict[str, Any]] = []

    def add(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.recent = [*self.recent[-999:], record]
            if self.path:
                with open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(record, default=str) + "\n")


class Runtime:
    def __init__(self, flags: FlagSource, priority: str, versions: Mapping[str, Installed],
                 guard: Guard, metrics: Metrics | None = None, *,
                 traces: TraceStore | None = None,
                 agree: Callable[[Any, Any], bool] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.flags, self.priority = flags, priority  # priority: "customer/name"
        self.flag = priority.split("/")[-1]
        self.versions = dict(versions)
        self.guard = guard
        self.metrics = metrics or Metrics()
        self.traces = traces or TraceStore()
        self._agree = agree or _same_answer
        self.clock = clock  # trace times (a replay passes its own clock)
        self._checked: dict[tuple[str, str], bool] = {}
        self._shadow = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ailoop-shadow")

    @classmethod
    def for_priority(cls, *, flags: str, priority: str, key: str,
                     versions: Mapping[str, Installed], executors: Mapping[str, Executor],
                     queue: Queue | None = None, metrics: Metrics | None = None,
                     traces: str | None = None, trace_served: bool = False,
                     clock: Callable[[], float] = time.time) -> Runtime:
        """Everything from the repository's files: `flags` (the customer's
        flags.flagd.json), `priority` (its priority.yaml, for the declared actions) and
        `key` ("customer/priority"). `clock`: the time decisions and traces carry."""
        metrics = metrics or Metrics()
        guard = Guard(actions_from_priority(priority), executors, queue or MemoryQueue(),
                      priority=key, on_decision=_counting(metrics, key), clock=clock)
        return cls(FlagSource(flags), key, versions, guard, metrics,
                   traces=TraceStore(traces, served=trace_served), clock=clock)

    def handle(self, request: dict[str, Any], key: str, *,
               context: Mapping[str, Any] | None = None) -> Answer:
        """Serve one request; `key` buckets it (a user, a case id: the same key keeps its
        variant while the percent stays); `context`: the attributes a stage's segment
        reads (e.g. {"amount": 420, "region": "eu"})."""
        choice = self.flags.choose(self.flag, key, context)
        variant, chosen = choice.variant, choice.chosen
        installed = self._verified(variant, chosen)
        if installed is None and variant == "candidate":
            variant, chosen = "serving", self.flags.serving(self.flag)
            installed = self._verified(variant, chosen)
        trace = uuid.uuid4().hex
        if chosen.off:  # the existing process answers; a shadow candidate still runs
            return Answer("off", OFF, None, (), trace,
                          self._start_shadow(choice, request, None, trace, key))
        if installed is None:
            raise VariantRefused(f"{self.priority}: no installed code matches the flag's "
                                 f"{variant} version {chosen.version}")
        served = Choice(variant, chosen, choice.shadow, choice.segment)  # what served
        try:
            output, decisions = self._run(installed, chosen, variant, request, trace,
                                          segment=choice.segment)
        except Exception as e:
            if self.traces.served:  # a failure is the trace most worth keeping
                self.traces.add(self._trace(trace, key, request, served, None, None,
                                            "", error=f"{type(e).__name__}: {e}"))
            raise
        shadow = self._start_shadow(served, request, output, trace, key)
        if shadow is None and self.traces.served:
            self.traces.add(self._trace(trace, key, request, served, output, None, ""))
        return Answer(variant, chosen.version, output, decisions, trace, shadow)

    def export_readings(self, path: str, now: datetime) -> list[dict[str, Any]]:
        """Append this priority's readings since the last export to PATH, the JSONL file
        ailoop's `file` monitoring provider reads, tagged with the stage the flag names:
        the path for a service whose gates read a file instead of Prometheus."""
        lines = self.metrics.readings(now, self.flags.stage(self.flag), priority=self.priority)
        with open(path, "a", encoding="utf-8") as fh:
            fh.writelines(json.dumps(line) + "\n" for line in lines)
        return lines

    def close(self) -> None:
        self._shadow.shutdown(wait=True)
        self.flags.close()

    def _verified(self, variant: str, chosen: Variant) -> Installed | None:
        if chosen.off:
            return None
        installed = self.versions.get(chosen.version)
        ok = installed is not None and bool(chosen.workflow_digest) and self._checked.setdefault(
            (chosen.version, chosen.workflow_digest),
            workflow_digest(installed.folder) == chosen.workflow_digest)
        if not ok:
            log.error("REFUSED %s %s version %s: the installed code does not match the digest "
                      "the flag names (%s)", self.priority, variant, chosen.version,
                      chosen.workflow_digest or "none")
            self.metrics.refused_variant(self.priority, variant, chosen.version)
            return None
        return installed

    def _run(self, installed: Installed, chosen: Variant, variant: str,
             request: dict[str, Any], trace: str, *, record_only: bool = False,
             segment: bool | None = None) -> tuple[Any, tuple[Decision, ...]]:
        started = time.perf_counter()
        try:
            output = installed.run(dict(request))
        except Exception:
            self.metrics.request(self.priority, variant, time.perf_counter() - started,
                                 error=True, segment=segment)
            raise
        output, proposed, usage = _split(output)
        self.metrics.request(self.priority, variant, time.perf_counter() - started,
                             cost=float(usage.get("cost", 0.0)),
                             tokens=usage.get("tokens") or {}, segment=segment)
        decisions = tuple(self.guard.propose(p["name"], p.get("payload", {}), variant=variant,
                                             request=trace, record_only=record_only)
                          for p in proposed)
        return output, decisions

    def _start_shadow(self, choice: Choice, request: dict[str, Any], served: Any,
                      trace: str, key: str) -> Future[Any] | None:
        if choice.shadow is None:
            return None
        candidate = self._verified("candidate", choice.shadow)
        if candidate is None:
            return None
        return self._shadow.submit(self._shadow_run, candidate, choice, request, served,
                                   trace, key)

    def _shadow_run(self, candidate: Installed, choice: Choice, request: dict[str, Any],
                    served: Any, trace: str, key: str) -> Any:
        shadow = choice.shadow
        assert shadow is not None
        try:
            output, _ = self._run(candidate, shadow, "candidate", request, trace,
                                  record_only=True)  # its actions are only recorded
        except Exception as e:  # a failing shadow never touches the served answer
            self._shadow_agreement(choice, "error")
            self.traces.add(self._trace(trace, key, request, choice, served, None,
                                        f"{type(e).__name__}: {e}"))
            return None
        # Beside the existing process there is no AI answer to agree with.
        agreement = "unjudged" if choice.chosen.off else \
            "agree" if self._agree(served, output) else "disagree"
        self._shadow_agreement(choice, agreement)
        self.traces.add(self._trace(trace, key, request, choice, served, output, agreement))
        return output

    def _shadow_agreement(self, choice: Choice, agreement: str) -> None:
        if not choice.chosen.off:
            self.metrics.shadow_run(self.priority, agreement)

    def _trace(self, trace: str, key: str, request: dict[str, Any], choice: Choice,
               served: Any, shadow: Any, agreement: str, *, error: str = ""
               ) -> dict[str, Any]:
        record = {"trace": trace, "priority": self.priority, "key": key, "time": self.clock(),
                  "input": request,
                  "variant": OFF if choice.chosen.off else choice.variant,
                  # the evidence ids bind an output to the candidate that gave it (a
                  # version string alone may name other code): ailoop's human review
                  # samples the candidate's outputs by it
                  "serving": {"version": choice.chosen.version,
                              "evidenceId": choice.chosen.evidence_id, "output": served},
                  "shadow": {"version": choice.shadow.version if choice.shadow else "",
                             "evidenceId": choice.shadow.evidence_id if choice.shadow else "",
                             "output": shadow}, "agreement": agreement}
        if choice.segment is not None:  # whether it was inside the stage's segment
            record["segment"] = "in" if choice.segment else "out"
        return {**record, "error": error} if error else record


def _split(output: Any) -> tuple[Any, list[dict[str, Any]], dict[str, Any]]:
    """A workflow may return {"output": ..., "actions": [...], "usage": {...}}."""
    if isinstance(output, dict) and ("actions" in output or "usage" in output):
        rest = {k: v for k, v in output.items() if k not in ("actions", "usage")}
        value = rest.get("output", rest) if set(rest) <= {"output"} else rest
        return value, list(output.get("actions") or []), dict(output.get("usage") or {})
    return output, [], {}


def _same_answer(served: Any, shadow: Any) -> bool:
    return bool(served == shadow)


def _counting(metrics: Metrics, priority: str) -> Callable[[Decision, bool], None]:
    def count(decision: Decision, override: bool) -> None:
        metrics.action(priority, decision.variant, decision.action, decision.status, override)
    return count


__all__ = ["Answer", "Installed", "Runtime", "TraceStore", "VariantRefused"]
