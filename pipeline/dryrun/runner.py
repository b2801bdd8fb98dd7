"""Run a priority's workflow over its dataset: load, execute with bounded concurrency,
evaluate, redact, compare with the previous run and write evidence."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TextIO

from pipeline.documents.dataset import Case, case_digest, read_dataset
from pipeline.documents.evidence import (
    EvidenceSummary,
    Fingerprint,
    fingerprint,
    judge_files,
    load_evidence_file,
    read_evidence,
    workflow_files,
)
from pipeline.documents.inputs import declared_inputs, input_files
from pipeline.documents.layout import priority_dir, resolve_inside
from pipeline.documents.load import load_priority
from pipeline.dryrun.assertions import Assertions, Check, compile_assertions
from pipeline.dryrun.cache import CaseCache, run_key
from pipeline.dryrun.calibration import Calibration
from pipeline.dryrun.diff import RunDiff, diff_runs, outcomes_of
from pipeline.dryrun.judge import Judge, JudgeCache, calibrate, judge_check, make_judges
from pipeline.dryrun.pairwise import PairCache, compare_pairwise
from pipeline.dryrun.progress import make_reporter
from pipeline.dryrun.record import (
    RunFacts,
    Subject,
    Written,
    build_evidence,
    sha256_file,
    write_evidence,
)
from pipeline.dryrun.repeat import combine
from pipeline.dryrun.results import CaseResult, result_of
from pipeline.dryrun.serving import ServingCode, versus_serving
from pipeline.dryrun.thresholds import criteria_gates, threshold_gates
from pipeline.dryrun.versus import CRITICAL, ServingRef, Versus, no_regression_gates
from pipeline.errors import EXIT_FINDINGS, EXIT_OK, ExternalError, InputError
from pipeline.model.priority import Action, Priority
from pipeline.policy.actions import Proposed, decide, split_output
from pipeline.providers.base import MALFORMED_JSON, UNREACHABLE, CaseOutput, Provider, failed
from pipeline.providers.openai import OpenAIProvider
from pipeline.providers.python import PythonProvider, resolve_entrypoint
from pipeline.providers.replay import ReplayProvider, read_recordings
from pipeline.providers.sandbox import FIX, find_sandbox
from pipeline.redact import Redactor, handed_values, priority_redactor

ACTIONS_CHECK = "actions declared"
_FENCE_RE = re.compile(r"^\s*```[A-Za-z]*\s*\n(.*?)\n\s*```\s*$", re.DOTALL)


@dataclass(frozen=True)
class DryRunSettings:
    root: str
    key: str
    now: datetime
    env: Mapping[str, str]
    concurrency: int | None = None
    use_cache: bool = True
    since: str | None = None
    progress: TextIO | None = None
    backoff: float = 0.5  # first retry delay of HTTP providers (tests make it tiny)
    # A trusted run (its evidence may gate a rollout) needs the sandbox and reads no cache.
    trusted: bool = False
    # Run the serving version on the same cases too (off: a scratch re-run such as the
    # review's drift check, which has no history to take the serving code from).
    versus_serving: bool = True


@dataclass(frozen=True)
class DryRunReport:
    evidence: dict[str, Any]
    written: Written
    diff: RunDiff | None
    reused: int  # runs taken from the cache
    warnings: tuple[str, ...] = ()
    versus: Versus | None = None  # the comparison with the serving version

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.evidence["passed"] else EXIT_FINDINGS



def make_provider(settings: DryRunSettings, priority: Priority, concurrency: int) -> Provider:
    workflow = priority.spec.workflow
    where = f"{priority_dir(settings.key)}/priority.yaml"
    if workflow.provider == "python":
        inputs = declared_inputs(settings.root, settings.key, workflow)
        entry = resolve_entrypoint(settings.root, settings.key, workflow, inputs)
        sandbox = find_sandbox(settings.env).for_repo(settings.root)
        if settings.trusted and not sandbox.available:
            raise InputError(f"a trusted dry run runs workflow code only in a sandbox, and "
                             f"none can be made: {sandbox.reason}. To fix: {FIX}")
        return PythonProvider(entry, workflow, sandbox, settings.env)
    if workflow.provider == "openai":
        if workflow.openai is None:
            raise InputError("the openai provider needs spec.workflow.openai", path=where)
        return OpenAIProvider(workflow.openai, workflow.version, settings.env,
                              backoff=settings.backoff)
    if not workflow.replay:
        raise InputError("the replay provider needs spec.workflow.replay (a JSONL file)",
                         path=where)
    abs_path, rel = resolve_inside(settings.root, priority_dir(settings.key), workflow.replay)
    return ReplayProvider(read_recordings(abs_path, rel), rel, workflow.version)


def sandbox_warnings(provider: Provider) -> tuple[str, ...]:
    if not isinstance(provider, PythonProvider) or provider.sandbox.available:
        return ()
    return (f"NO SANDBOX: {provider.sandbox.reason}. The workflow ran with your rights: it "
            "could read and write this repository, its cache and its evidence. This "
            f"evidence records 'sandbox: none'; a trusted run (--trusted) refuses to run "
            f"like this. To fix: {FIX}",)


def normalise(out: CaseOutput, output_format: str) -> CaseOutput:
    """A JSON workflow may answer with JSON text (a model usually does): parse it."""
    if not out.ok or output_format != "json" or not isinstance(out.output, str):
        return out
    fenced = _FENCE_RE.match(out.output)
    try:
        value = json.loads(fenced.group(1) if fenced else out.output)
    except ValueError as e:
        reason = f"output is not valid JSON ({getattr(e, 'msg', 'parse error')})"
        return replace(out, fault=MALFORMED_JSON, reason=reason)
    except RecursionError:  # a hostile or broken model: thousands of nested brackets
        return replace(out, fault=MALFORMED_JSON, reason="output nests too deeply")
    return replace(out, output=value)


@dataclass(frozen=True)
class Evaluator:
    assertions: Assertions
    redactor: Redactor
    output_format: str
    actions: tuple[Action, ...] = ()  # the spec's declared actions (the guard's input)

    def __call__(self, case: Case, out: CaseOutput) -> tuple[CaseResult, dict[str, Any]]:
        """The case's result, redacted (and its JSON, for the cache). Proposed actions go
        through the guard in record-only mode: nothing runs, the evidence lists them."""
        out = normalise(out, self.output_format)
        proposed: list[Proposed] = []
        if out.ok:
            value, proposals = split_output(out.output)
            out = replace(out, output=value)
            proposed = decide(self.actions, proposals)
        checks = self.assertions.evaluate(case, out) if out.ok else ()
        refused = [p.name for p in proposed if p.verdict == "refused"]
        if refused:  # in production the guard raises: the request fails
            checks = (*checks, Check(ACTIONS_CHECK, False, f"proposes action "
                                     f"'{refused[0]}', which the spec does not declare: "
                                     "production's guard refuses it"))
        result = result_of(case, out, checks, tuple(p.to_json() for p in proposed))
        redacted = redact_result(self.redactor, result.to_json())
        redacted["class"] = self.redactor.deep(class_pair(case, out))
        return CaseResult.from_json(redacted), redacted


def class_pair(case: Case, out: CaseOutput) -> dict[str, Any]:
    """Only the short string labels of expected and output (e.g. {"queue": "billing"}):
    enough for recall and precision metrics, too little to carry personal data."""
    def labels(value: Any) -> dict[str, str]:
        if not isinstance(value, dict):
            return {}
        return {k: v for k, v in value.items()
                if isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", v)}
    return {"expected": labels(case.expected), "output": labels(out.output if out.ok else None)}


def label_pairs(results: Sequence[CaseResult]) -> list[tuple[Any, Any]]:
    return [(r.labels.get("expected"), r.labels.get("output")) for r in results if not r.fault]


def redact_result(redactor: Redactor, data: dict[str, Any]) -> dict[str, Any]:
    """Outputs and messages get every redaction; ids, tags and check names are the dataset
    author's and the spec's identifiers and only go through the detectors."""
    out: dict[str, Any] = redactor.deep({k: v for k, v in data.items()
                         if k not in ("id", "tags", "checks", "category")})
    out["id"] = redactor.detect(data["id"])
    if "tags" in data:
        out["tags"] = [redactor.detect(t) for t in data["tags"]]
    if "category" in data:
        out["category"] = data["category"]
    out["checks"] = [{**c, "message": redactor.text(c["message"])} if "message" in c else c
                     for c in data["checks"]]
    return out


def _safe_run(provider: Provider, case: Case) -> CaseOutput:
    try:
        return provider.run(case)
    except Exception as e:  # a provider bug fails the case, not the run
        return failed("provider error", f"provider error ({type(e).__name__})")


def runs_of(case: Case, default: int) -> int:
    """How many times CASE runs: its own `repeat` in the dataset, else spec.dryRun.repeat."""
    return case.repeat if case.repeat is not None else default


def execute(cases: Sequence[Case], provider: Provider, evaluate: Evaluator, cache: CaseCache,
            concurrency: int, advance: Callable[[bool], None], repeat: int = 1
            ) -> list[list[CaseResult]]:
    """Every run of every case, in dataset order (a case's runs in order). Workers evaluate
    their own runs, so the main thread is not woken per run (it matters at a thousand cases
    a second). Each repetition is a run of its own: run, evaluated and cached apart."""
    results: dict[tuple[str, int], CaseResult] = {}
    jobs = [(case, rep) for case in cases for rep in range(runs_of(case, repeat))]
    todo: list[tuple[Case, int]] = []
    for case, rep in jobs:
        hit = cache.get(case, rep)
        if hit is None:
            todo.append((case, rep))
            continue
        results[case.id, rep] = hit
        cache.keep(case, rep)
        advance(hit.passed)
    lock = threading.Lock()

    def one(case: Case, rep: int) -> None:
        result, redacted = evaluate(case, _safe_run(provider, case))
        with lock:
            cache.put(case, redacted, result, rep)
            results[case.id, rep] = result
            advance(result.passed)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="case") as pool:
        for future in [pool.submit(one, case, rep) for case, rep in todo]:
            future.result()
    return [[results[case.id, rep] for rep in range(runs_of(case, repeat))] for case in cases]


def subjects_of(root: str, key: str, priority: Priority, fp: Fingerprint) -> list[Subject]:
    folder = priority_dir(key)
    subjects = [Subject(f"{folder}/priority.yaml#spec", fp.spec)]
    _, dataset_rel = resolve_inside(root, folder, priority.spec.dry_run.dataset)
    subjects.append(Subject(dataset_rel, fp.dataset))
    for rel in workflow_files(os.path.join(root, folder)):
        subjects.append(Subject(f"{folder}/{rel}", sha256_file(os.path.join(root, folder, rel))))
    workflow = priority.spec.workflow
    if workflow.provider == "replay" and workflow.replay:
        abs_path, rel = resolve_inside(root, folder, workflow.replay)
        subjects.append(Subject(rel, sha256_file(abs_path)))
    for inp in declared_inputs(root, key, workflow):
        for rel, abs_path in input_files(inp):
            if not os.path.islink(abs_path):
                subjects.append(Subject(rel, sha256_file(abs_path)))
    for rel, abs_path, _ in judge_files(root, key, priority):
        if os.path.isfile(abs_path):  # a missing calibration set is in the fingerprint
            subjects.append(Subject(rel, sha256_file(abs_path)))
    return subjects


def previous_evidence(root: str, key: str, current: str, since: str | None,
                      now: datetime) -> EvidenceSummary | None:
    found = read_evidence(root, key)
    if since is not None:
        match = [s for s in found if s.evidence_id == since]
        if not match:
            known = ", ".join(s.evidence_id for s in found) or "none"
            raise InputError(f"--since: no evidence '{since}' for {key}; evidence: {known}")
        return match[-1]
    older = [s for s in found if s.evidence_id != current and s.created <= now]
    return older[-1] if older else None


def compare_with(root: str, previous: EvidenceSummary | None,
                 results: Sequence[CaseResult]) -> RunDiff | None:
    if previous is None:
        return None
    try:
        cases = load_evidence_file(root, previous.path).get("cases", [])
    except ValueError:
        return None
    before = outcomes_of(cases if isinstance(cases, list) else [])
    return diff_runs(previous.evidence_id, before, {r.id: r.passed for r in results})


def _checks_config(priority: Priority) -> dict[str, Any]:
    spec = priority.spec
    return {"assertions": [a.model_dump(mode="json", by_alias=True)
                           for a in spec.dry_run.assertions],
            "expectedOutput": spec.expected_output.model_dump(mode="json", by_alias=True),
            "inputData": spec.input_data.model_dump(mode="json", by_alias=True),
            "actions": [a.model_dump(mode="json", by_alias=True) for a in spec.actions]}


def run_dry_run(settings: DryRunSettings) -> DryRunReport:
    """The whole dry run. InputError for bad input, ExternalError when the provider could
    not be reached for any case (then nothing is written)."""
    root, key = settings.root, settings.key
    priority = load_priority(root, key)
    fp = fingerprint(root, key, priority)
    dataset_abs, dataset_rel = resolve_inside(root, priority_dir(key),
                                              priority.spec.dry_run.dataset)
    cases = read_dataset(dataset_abs, dataset_rel)
    spec = priority.spec
    previous = previous_evidence(root, key, fp.evidence_id, settings.since, settings.now)
    concurrency = settings.concurrency or spec.dry_run.concurrency
    judges = make_judges(root, key, priority, settings.env, settings.backoff)
    try:
        if judges:  # a bad assertion is reported before the judges' paid calibration
            compile_assertions(spec.dry_run.assertions, spec.expected_output.schema_,
                               dict.fromkeys((j.index for j in judges), _not_yet))
        provider = make_provider(settings, priority, concurrency)
    except BaseException:
        _close_judges(judges)
        raise
    warnings = sandbox_warnings(provider)
    if settings.progress is not None:
        for warning in warnings:  # before the cases run, not only in the report
            settings.progress.write(f"WARNING: {warning}\n")
    try:
        calibrations = _calibrate(settings, judges, concurrency)
        assertions = compile_assertions(
            spec.dry_run.assertions, spec.expected_output.schema_,
            {j.index: judge_check(j, c) for j, c in zip(judges, calibrations, strict=True)})
        secrets = [*getattr(provider, "secrets", ()), *handed_values(settings.env),
                   *(s for j in judges for s in j.provider.secrets)]
        redactor = priority_redactor(priority, cases, secrets)
        evaluate = Evaluator(assertions, redactor, spec.expected_output.format,
                             tuple(spec.actions))
        results, reused = _run_cases(settings, provider, evaluate, cases, fp, priority,
                                     concurrency, calibrations)
        described = provider.describe()
        judged = tuple(judge_record(j, c, redactor)
                       for j, c in zip(judges, calibrations, strict=True))
        if all(r.fault == UNREACHABLE for r in results):
            raise ExternalError(f"the {spec.workflow.provider} provider was unreachable for "
                                f"every case; no evidence was written")
        # Before the judges close: the serving version's outputs are judged by them too.
        versus, served = _versus(settings, priority, fp.evidence_id, cases, results,
                                 assertions, concurrency, _judged(judges, calibrations)) \
            if settings.versus_serving else (None, None)
        if versus is not None and served is not None and judges:
            versus = replace(versus, judges=_pairwise(
                settings, judges, calibrations, cases, results, served, redactor,
                concurrency))
    finally:
        provider.close()
        _close_judges(judges)
    if versus is not None and versus.reason:  # it may quote a provider's or git's message
        versus = replace(versus, reason=redactor.detect(versus.reason))
    no_regression = spec.dry_run.thresholds.no_regression_on \
        if spec.dry_run.thresholds and settings.versus_serving else []
    facts = RunFacts(key, fp, tuple(subjects_of(root, key, priority, fp)),
                     redactor.deep(described), tuple(results),
                     (*threshold_gates(results, spec.dry_run.thresholds),
                      *no_regression_gates(no_regression, versus, spec.workflow.version)),
                     tuple(criteria_gates(results, spec.success_criteria,
                                          gating_names(assertions.names, judges, calibrations),
                                          label_pairs(results))),
                     compare_with(root, previous, results), settings.now, judges=judged,
                     versus=versus)
    evidence = build_evidence(facts)
    subjects = facts.subjects
    written = write_evidence(root, evidence, subjects)
    return DryRunReport(evidence, written, facts.comparison, reused, warnings, versus)


def _judged(judges: Sequence[Judge], calibrations: Sequence[Calibration]) -> dict[str, Any]:
    """What a case's judge checks depend on beyond the spec's settings: each rubric's bytes
    and whether its judge may gate (part of the serving version's run key, whose cache is
    keyed by the serving evidence, not by the candidate's that holds them)."""
    if not judges:
        return {}
    return {"judgeRubrics": [j.rubric_digest for j in judges],
            "judgesCalibrated": [c.calibrated for c in calibrations]}


def _versus(settings: DryRunSettings, priority: Priority, candidate_id: str,
            cases: Sequence[Case], results: Sequence[CaseResult], assertions: Assertions,
            concurrency: int, judged: dict[str, Any]
            ) -> tuple[Versus | None, list[CaseResult] | None]:
    """The serving version (its own workflow settings) run on the same cases, judged by
    the candidate's checks, under the same sandbox rules, concurrency and repeat, and its
    results when it ran (None: it did not, or it is the candidate itself). Its results are
    cached under its own run key (a trusted run reads no cache)."""
    spec = priority.spec
    served: list[list[CaseResult]] = []
    thresholds = spec.dry_run.thresholds
    tags = thresholds.no_regression_on if thresholds else []
    dropped: dict[str, list[str]] = {}
    changed: dict[str, list[str]] = {}

    def run(code: ServingCode, serving: ServingRef) -> tuple[list[CaseResult], int] | str:
        provider = make_provider(replace(settings, root=code.root), code.priority,
                                 concurrency)
        try:
            redactor = priority_redactor(code.priority, cases, [
                *getattr(provider, "secrets", ()), *handed_values(settings.env)])
            evaluate = Evaluator(assertions, redactor, spec.expected_output.format,
                                 tuple(spec.actions))
            key = run_key(serving.workflow_digest, provider.describe(),
                          {**_checks_config(priority), **judged})
            cache = CaseCache(settings.root, f"{settings.key}#serving", key,
                              serving.evidence_id, enabled=settings.use_cache,
                              read=not settings.trusted)
            runs = execute(cases, provider, evaluate, cache, concurrency, lambda passed: None,
                           spec.dry_run.repeat)
            cache.save()
        finally:
            provider.close()
        combined = [combine(case_runs) for case_runs in runs]
        if all(r.fault == UNREACHABLE for r in combined):
            return (f"its {code.priority.spec.workflow.provider} provider was unreachable for "
                    "every case")
        # The gates guard what the serving version's own dataset tags (a pull request
        # controls the candidate's): its tags on the cases both have, and its guarded
        # cases this dataset lacks or changed (input or expected output).
        dataset_abs, dataset_rel = resolve_inside(code.root, priority_dir(settings.key),
                                                  code.priority.spec.dry_run.dataset)
        before = {c.id: c for c in read_dataset(dataset_abs, dataset_rel)}
        combined = [replace(r, tags=was.tags, critical=was.critical)
                    if (was := before.get(case.id)) else r
                    for case, r in zip(cases, combined, strict=True)]
        now = {case.id: case_digest(case) for case in cases}
        for tag in tags:
            guarded = [c for c in before.values()
                       if (c.critical if tag == CRITICAL else tag in c.tags)]
            gone = [redactor.detect(c.id) for c in guarded if c.id not in now]
            other = [redactor.detect(c.id) for c in guarded
                     if c.id in now and now[c.id] != case_digest(c)]
            dropped.update({tag: gone} if gone else {})
            changed.update({tag: other} if other else {})
        served.append(combined)
        return combined, sum(r.cached for case_runs in runs for r in case_runs)

    versus = versus_serving(settings.root, settings.key, candidate_id, results, tags, run)
    if versus is not None and versus.made and (dropped or changed):
        versus = replace(versus, dropped=dropped, changed=changed)
    return versus, served[0] if served and versus is not None and versus.made else None


def _pairwise(settings: DryRunSettings, judges: Sequence[Judge],
              calibrations: Sequence[Calibration], cases: Sequence[Case],
              results: Sequence[CaseResult], served: Sequence[CaseResult],
              redactor: Redactor, concurrency: int) -> tuple[dict[str, Any], ...]:
    """Each judge's pairwise win rate of the candidate against serving (evidence records:
    a failed call's message may quote a server, so it is redacted)."""
    cache = PairCache(settings.root, f"{settings.key}#pairwise", enabled=settings.use_cache,
                      read=not settings.trusted)
    try:
        found = [compare_pairwise(j, c.calibrated, cases, results, served, cache, concurrency)
                 for j, c in zip(judges, calibrations, strict=True)]
    finally:
        cache.save()
    return tuple({**r.to_json(), "noVerdictReason": redactor.text(r.first_error)}
                 if r.first_error else r.to_json() for r in found)


def _not_yet(case: Case, out: CaseOutput) -> Check:  # pragma: no cover - never called
    raise AssertionError("a judge's check before its calibration")


def _close_judges(judges: Sequence[Judge]) -> None:
    for judge in judges:
        judge.close()


def _calibrate(settings: DryRunSettings, judges: Sequence[Judge],
               concurrency: int) -> list[Calibration]:
    """Each judge on its calibration set, before any case: whether it may gate decides
    what its checks count for."""
    if not judges:
        return []
    cache = JudgeCache(settings.root, settings.key, enabled=settings.use_cache,
                       read=not settings.trusted)
    calibrations = [calibrate(settings.root, settings.key, j, cache, concurrency)
                    for j in judges]
    cache.save()
    return calibrations


def judge_record(judge: Judge, calibration: Calibration, redactor: Redactor
                 ) -> dict[str, Any]:
    """A judge in evidence. Its settings and digests are the spec's and ours; the reason
    may quote a server's message or a labelled case (redacted), and the calibration ids
    are the labeller's identifiers (detectors only, like case ids)."""
    cal = calibration.to_json()
    cal["reason"] = redactor.text(cal["reason"])
    cal["disagreements"] = [redactor.detect(i) for i in cal["disagreements"]]
    record = {**judge.describe(), "calibration": cal,
              "calibrationCost": round(calibration.cost, 8)}
    if calibration.advisory:
        record["advisory"] = f"advisory: not calibrated ({cal['reason']})"
    return record


def gating_names(names: Sequence[str], judges: Sequence[Judge],
                 calibrations: Sequence[Calibration]) -> list[str]:
    """Check names whose metrics success criteria may use: not an advisory judge's."""
    advisory = {j.name for j, c in zip(judges, calibrations, strict=True) if not c.calibrated}
    return [n for n in names if n not in advisory]


def _run_cases(settings: DryRunSettings, provider: Provider, evaluate: Evaluator,
               cases: Sequence[Case], fp: Fingerprint, priority: Priority,
               concurrency: int, calibrations: Sequence[Calibration] = ()
               ) -> tuple[list[CaseResult], int]:
    checks = _checks_config(priority)
    if calibrations:  # whether a judge counts is part of a case's result
        checks["judgesCalibrated"] = [c.calibrated for c in calibrations]
    key = run_key(fp.workflow, provider.describe(), checks)
    cache = CaseCache(settings.root, settings.key, key, fp.evidence_id,
                      enabled=settings.use_cache, read=not settings.trusted)
    stream = settings.progress
    repeat = priority.spec.dry_run.repeat
    total = sum(runs_of(case, repeat) for case in cases)
    # with repeats every run advances it: count runs, or "5/15 cases" would mislead
    reporter = make_reporter(total, stream, settings.env, f"dry-run {settings.key}",
                             quiet=stream is None,
                             unit="cases" if total == len(cases) else "runs") if stream else None
    try:
        runs = execute(cases, provider, evaluate, cache, concurrency,
                       reporter.advance if reporter else (lambda passed: None), repeat)
    finally:
        if reporter:
            reporter.close()
    cache.save()
    reused = sum(r.cached for case_runs in runs for r in case_runs)
    return [combine(case_runs) for case_runs in runs], reused
