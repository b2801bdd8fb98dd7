"""Production in the demo: Northwind's claims service, in-process, serving through
ailoop-runtime on the flags CI's clone holds.

Before every reconcile the service replays the traffic since the last one on the demo's
clock: e-mails drawn from the priority's dataset (a fixed seed), each bucketed by the
official flagd provider, run by the workflow version the flag names (installed from the
repository's history, so its code hashes to the flag's digest), with its actions put
through the guard, where a scripted claims handler confirms or rejects every escalation.
Every hour the runtime's readings are appended to monitoring/readings.jsonl, which is all
the gates read. The story can also send one e-mail of its own at a given time (an
`Arrival`): it is served, guarded and traced like any other.
"""

from __future__ import annotations

import importlib.util
import io
import json
import random
import shutil
import subprocess
import tarfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ailoop_runtime import Answer, Installed, Runtime, workflow_digest

from pipeline.documents.yamlio import read_yaml

RUNS_PER_HOUR = 12.5  # the ROI hypothesis' 9,000 cases a month
HANDLER = "sam"  # the claims handler who confirms or rejects escalations
ESCALATE, CATEGORY = "escalate-urgent-claim", "set-claim-category"
# E-mails with only an attachment are rare in production: one in about 400.
ATTACHMENT_ONLY_EVERY = 400


@dataclass(frozen=True)
class Arrival:
    """An e-mail the story sends into production at a given time (beside the replay)."""

    time: datetime
    input: dict[str, Any]
    expected: dict[str, Any]
    label: str


@dataclass
class Window:
    """What one replay served, for the story to tell."""

    requests: Counter[str] = field(default_factory=Counter)  # by "variant vVERSION"
    errors: int = 0
    shadows: int = 0
    decisions: Counter[str] = field(default_factory=Counter)  # by "action status"
    hours: float = 0.0
    flag: str = ""  # what the flag said while it served
    answers: dict[str, Answer] = field(default_factory=dict)  # label -> answer


@dataclass
class Production:
    """The claims service: its installed versions, traces and the handler's queue."""

    base: Path  # the service's own disk (installed versions, traces): not the repository
    clone: Path  # CI's clone: the flag file and where readings go
    key: str  # customer/priority
    seed: int = 7
    last: datetime | None = None
    arrivals: list[Arrival] = field(default_factory=list)
    _served: int = 0
    _drawn: int = 0
    _installed: dict[str, Installed] = field(default_factory=dict)  # digest -> code

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.base.mkdir(parents=True, exist_ok=True)
        self.traces = self.base / "traces.jsonl"
        rows = [json.loads(line) for line in self._dataset().splitlines() if line.strip()]
        self.pool = [(r["input"], r["expected"]) for r in rows if r["input"].get("body")]
        self.attachments = [(r["input"], r["expected"]) for r in rows
                            if not r["input"].get("body")]

    @property
    def folder(self) -> Path:
        return self.clone / "customers" / self.key

    @property
    def readings(self) -> Path:
        return self.clone / "monitoring" / "readings.jsonl"

    def replay(self, now: datetime) -> Window | None:
        """Serve the traffic from the last replay (a day, the first time) until NOW; None
        when no AI version is out (the existing process handles every e-mail)."""
        start = self.last or now - timedelta(hours=24)
        self.last = max(start, now)
        flags = self.clone / "customers" / self.key.split("/")[0] / "flags.flagd.json"
        flag = _flag(flags, self.key.split("/")[1])
        if flag is None:
            return None
        if start >= now:
            return Window(flag=_describe(flag))
        clock = _Clock(start)
        runtime = Runtime.for_priority(
            flags=str(flags), priority=str(self.folder / "priority.yaml"), key=self.key,
            versions=self._versions(flag), executors={ESCALATE: _done, CATEGORY: _done},
            traces=str(self.traces), trace_served=True, clock=clock.timestamp)
        try:
            return self._serve(runtime, clock, start, now)
        finally:
            runtime.close()

    def _serve(self, runtime: Runtime, clock: _Clock, start: datetime,
               now: datetime) -> Window:
        window = Window(hours=(now - start) / timedelta(hours=1),
                        flag=_describe(_flag(Path(runtime.flags.path), runtime.flag) or {}))
        expected: dict[str, dict[str, Any]] = {}  # what the handler knows, by decision id
        due = 0.0
        while clock.now < now:
            hour_end = min(clock.now + timedelta(hours=1), now)
            due += RUNS_PER_HOUR * ((hour_end - clock.now) / timedelta(hours=1))
            batch = [(self._next(), "") for _ in range(int(due))]
            due -= int(due)
            batch += [((a.input, a.expected), a.label) for a in self.arrivals
                      if clock.now <= a.time < hour_end]
            shadows = self._hour(runtime, clock, hour_end, batch, expected, window)
            for shadow in shadows:
                shadow.result(timeout=30)  # its counts belong to this hour's readings
            clock.now = hour_end
            _handler(runtime, expected, window)
            runtime.export_readings(str(self.readings), hour_end)
        return window

    def _hour(self, runtime: Runtime, clock: _Clock, end: datetime,
              batch: list[tuple[tuple[dict[str, Any], dict[str, Any]], str]],
              expected: dict[str, dict[str, Any]], window: Window) -> list[Future[Any]]:
        start, shadows = clock.now, []
        for i, ((request, truth), label) in enumerate(batch):
            clock.now = start + (end - start) * i / max(len(batch), 1)
            self._served += 1
            try:
                answer = runtime.handle(request, key=f"claim-{self._served:06d}")
            except Exception:
                # The workflow failed (the runtime counted it) or no installed code matched
                # the flag (it logged REFUSED): a person handles the e-mail.
                window.errors += 1
                continue
            window.requests["the existing process" if answer.variant == "off"
                            else f"{answer.variant} v{answer.version}"] += 1
            for decision in answer.actions:
                expected[decision.id] = truth
                window.decisions[f"{decision.action} {decision.status}"] += 1
            if answer.shadow is not None:
                shadows.append(answer.shadow)
                window.shadows += 1
            if label:
                window.answers[label] = answer
        return shadows

    def _next(self) -> tuple[dict[str, Any], dict[str, Any]]:
        self._drawn += 1
        if self.attachments and self._drawn % ATTACHMENT_ONLY_EVERY == 0:
            return self.rng.choice(self.attachments)
        return self.rng.choice(self.pool)

    def _versions(self, flag: dict[str, Any]) -> dict[str, Installed]:
        """Every version the flag names, installed from the repository's history."""
        named = [v for v in (flag.get("serving"), flag.get("candidate"),
                             (flag.get("serving") or {}).get("shadow")) if isinstance(v, dict)]
        out = {}
        for variant in named:
            digest = str(variant.get("workflowDigest") or "").removeprefix("sha256:")
            code = self._install(digest) if digest else None
            if code is not None:
                out[str(variant["version"])] = code
        return out

    def _install(self, digest: str) -> Installed | None:
        """The workflow folder whose code hashes to DIGEST, from the first commit of the
        priority that has it (as a deploy would ship that version); None if no commit has
        it, and the runtime then refuses that variant."""
        if digest in self._installed:
            return self._installed[digest]
        target = self.base / "versions" / digest[:12]
        if not target.is_dir():
            # Only commits that changed code can have produced a new digest.
            for sha in _git(self.clone, "rev-list", "--reverse", "HEAD", "--",
                            f":(glob)customers/{self.key}/**/*.py").split():
                _extract(self.clone, sha, f"customers/{self.key}", target)
                if workflow_digest(str(target)) == digest:
                    break
                shutil.rmtree(target)
            else:
                return None
        self._installed[digest] = code = Installed(_load(target), str(target))
        return code

    def _dataset(self) -> str:
        return (self.folder / "dataset.jsonl").read_text(encoding="utf-8")


@dataclass
class _Clock:
    now: datetime

    def timestamp(self) -> float:
        return self.now.timestamp()


def _handler(runtime: Runtime, expected: dict[str, dict[str, Any]], window: Window) -> None:
    """The claims handler works through the queue at the end of each hour: an escalation of
    a claim that is really urgent is confirmed (with the claim type corrected when the
    workflow got it wrong: an override), a false alarm is rejected."""
    for decision in runtime.guard.queue.pending():
        truth = expected.pop(decision.id, {})
        if truth.get("urgency") != "urgent":
            runtime.guard.reject(decision.id, by=HANDLER)
            window.decisions[f"{decision.action} rejected"] += 1
            continue
        fixed = ({**decision.payload, "claim_type": truth["claim_type"]}
                 if truth.get("claim_type") not in (None, decision.payload.get("claim_type"))
                 else None)
        runtime.guard.confirm(decision.id, by=HANDLER, payload=fixed)
        window.decisions[f"{decision.action} confirmed"] += 1


def _load(folder: Path) -> Callable[[dict[str, Any]], Any]:
    """The service's wrapper around the installed workflow: it proposes the actions that
    follow from the answer (a category always; an escalation for an urgent claim)."""
    spec = read_yaml(str(folder / "priority.yaml"), "priority.yaml").data["spec"]["workflow"]
    file, _, name = str(spec["entrypoint"]).partition(":")
    loader = importlib.util.spec_from_file_location(f"claims_{folder.name}", folder / file)
    assert loader is not None and loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    triage = getattr(module, name)

    def run(request: dict[str, Any]) -> dict[str, Any]:
        output = triage(request)
        payload = {"claim_type": output["claim_type"]}
        actions = [{"name": CATEGORY, "payload": payload}]
        if output["urgency"] == "urgent":
            actions.append({"name": ESCALATE, "payload": payload})
        return {"output": output, "actions": actions, "usage": {"cost": 0.21}}
    return run


def _done(payload: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, **payload}  # ClaimCenter's answer, in the demo


def _flag(path: Path, name: str) -> dict[str, Any] | None:
    try:
        flag = json.loads(path.read_text(encoding="utf-8"))["flags"][name]
    except (OSError, ValueError, KeyError):
        return None
    variants = flag.get("variants") or {}
    return variants if isinstance(variants, dict) else None


def _describe(variants: dict[str, Any]) -> str:
    serving = variants.get("serving") or {}
    candidate = variants.get("candidate") or serving.get("shadow") or {}
    now = ("the existing process" if serving.get("version") in (None, "off")
           else f"v{serving['version']}")
    if not candidate:
        return f"flag: serving = {now}"
    return (f"flag: serving = {now}, candidate = v{candidate['version']} at "
            f"{candidate.get('stage')}")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout


def _extract(clone: Path, sha: str, path: str, target: Path) -> None:
    archive = subprocess.run(["git", "archive", "--format=tar", sha, path], cwd=clone,
                             capture_output=True, check=True).stdout
    depth = len(Path(path).parts)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts[depth:]
            if member.isfile() and parts:
                dest = target.joinpath(*parts)
                dest.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                dest.write_bytes(source.read())


