"""The built-in guardrails: rules that ship with ailoop and that a repo cannot switch off.

A repo adds rules; it can set a guardrail aside for one customer or priority only with an
approved, unexpired Waiver. Each guardrail is a pure function over the document's data
(the model dump, with YAML field names) and the repo context; messages are exact and
pinned by the built-in policy tests (pipeline/policy/builtin_tests/).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, NamedTuple

from pipeline.model.base import format_duration, parse_duration
from pipeline.model.priority import EXPOSED_CLASSES
from pipeline.policy.rules import MIN_BAKE_TIME_HIGH_RISK, Env, Subject, Violation

Check = Callable[[Subject, Env], Iterator[Violation]]
HIGH_RISK = frozenset({"high", "critical"})
PROJECT_BAKE_FIELD = ("spec", "minBakeTimeHighRisk")


class Guardrail(NamedTuple):
    id: str
    description: str
    check: Check


def hours(value: timedelta) -> str:
    """Bake times read best in hours (24h, 72h); other durations as usual."""
    whole, rest = divmod(int(value.total_seconds()), 3600)
    return f"{whole}h" if whole and not rest else format_duration(value)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _target(spec: dict[str, Any]) -> tuple[str, int | None]:
    target = spec["rollout"]["target"]
    names = [s["name"] for s in spec["rollout"]["stages"]]
    return target, names.index(target) if target in names else None


def beyond_first_stage(spec: dict[str, Any]) -> bool:
    """True when the rollout target sends traffic: past the first stage or above 0%."""
    _, index = _target(spec)
    if index is None:
        return False  # the target is not a stage; that has its own finding
    return index > 0 or spec["rollout"]["stages"][index]["percent"] > 0


def _exposing_stages(spec: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    for i, stage in enumerate(spec["rollout"]["stages"]):
        if stage["percent"] > 0:
            yield i, stage


def dry_run_defined(s: Subject, env: Env) -> Iterator[Violation]:
    spec = s.data["spec"]
    if not beyond_first_stage(spec):
        return
    target = spec["rollout"]["target"]
    why = f"rollout target '{target}' is beyond the first stage, so dry-run"
    if not spec["dryRun"]["assertions"]:
        yield Violation("guardrail/dry-run-defined", ("spec", "dryRun", "assertions"),
                        f"{why} assertions are required")
    if spec["dryRun"]["thresholds"] is None:
        yield Violation("guardrail/dry-run-defined", ("spec", "dryRun", "thresholds"),
                        f"{why} thresholds are required")


def monitoring_gates(s: Subject, env: Env) -> Iterator[Violation]:
    spec = s.data["spec"]
    if beyond_first_stage(spec) and not spec["monitoring"]["gates"]:
        yield Violation("guardrail/monitoring-gates", ("spec", "monitoring", "gates"),
                        f"rollout target '{spec['rollout']['target']}' is beyond the first "
                        "stage, so monitoring gates are required")


def stage_approvals(s: Subject, env: Env) -> Iterator[Violation]:
    spec = s.data["spec"]
    if not beyond_first_stage(spec):
        return
    for i, stage in _exposing_stages(spec):
        if not stage["approvals"]:
            yield Violation("guardrail/stage-approvals",
                            ("spec", "rollout", "stages", i, "approvals"),
                            f"stage '{stage['name']}' sends {_num(stage['percent'])}% of "
                            "traffic, so it needs at least one required approval")


def _exposed(spec: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return [(i, a) for i, a in enumerate(spec["actions"]) if a["class"] in EXPOSED_CLASSES]


def _describe(actions: list[tuple[int, dict[str, Any]]]) -> str:
    if len(actions) == 1:
        action = actions[0][1]
        return f"{action['class']} action '{action['name']}'"
    return "actions " + ", ".join(f"'{a['name']}' ({a['class']})" for _, a in actions)


def exposed_action_approval(s: Subject, env: Env) -> Iterator[Violation]:
    spec = s.data["spec"]
    exposed = _exposed(spec)
    if not exposed:
        return
    for i, stage in _exposing_stages(spec):
        if not stage["approvals"]:
            yield Violation("guardrail/exposed-action-approval",
                            ("spec", "rollout", "stages", i, "approvals"),
                            f"stage '{stage['name']}' exposes {_describe(exposed)} to "
                            f"{_num(stage['percent'])}% of traffic, so it needs a human approval")


def human_confirmation(s: Subject, env: Env) -> Iterator[Violation]:
    for i, action in _exposed(s.data["spec"]):
        if not action["humanConfirmation"]:
            yield Violation("guardrail/human-confirmation",
                            ("spec", "actions", i, "humanConfirmation"),
                            f"{action['class']} action '{action['name']}' must be confirmed by "
                            "a human in production; set humanConfirmation: true")


def risk_officer_approval(s: Subject, env: Env) -> Iterator[Violation]:
    spec = s.data["spec"]
    if spec["risk"] not in HIGH_RISK:
        return
    for i, stage in _exposing_stages(spec):
        if not any(a["role"] == "risk-officer" for a in stage["approvals"]):
            yield Violation("guardrail/risk-officer-approval",
                            ("spec", "rollout", "stages", i, "approvals"),
                            f"risk is {spec['risk']}, so stage '{stage['name']}' "
                            f"({_num(stage['percent'])}%) needs a risk-officer approval")


def bake_time(s: Subject, env: Env) -> Iterator[Violation]:
    spec = s.data["spec"]
    if spec["risk"] not in HIGH_RISK:
        return
    minimum = max(env.min_bake_time_high_risk, MIN_BAKE_TIME_HIGH_RISK)
    for i, stage in enumerate(spec["rollout"]["stages"]):
        if stage["bakeTime"] < minimum:
            yield Violation("guardrail/bake-time", ("spec", "rollout", "stages", i, "bakeTime"),
                            bake_time_message(spec["risk"], stage["name"], minimum,
                                              stage["bakeTime"]))


def bake_time_message(risk: str, stage: str, minimum: timedelta, bake: timedelta) -> str:
    return (f"risk is {risk}, so stage '{stage}' must bake at least {hours(minimum)} "
            f"(ailoop.yaml spec.minBakeTimeHighRisk), not {hours(bake)}")


def project_bake_time(value: timedelta) -> str | None:
    """The finding message for ailoop.yaml spec.minBakeTimeHighRisk, or None when fine."""
    if value >= MIN_BAKE_TIME_HIGH_RISK:
        return None
    return (f"must be at least {hours(MIN_BAKE_TIME_HIGH_RISK)}, not "
            f"{hours(value)}: the minimum bake time for high and critical risk can "
            "be raised, never lowered")


def personal_data(s: Subject, env: Env) -> Iterator[Violation]:
    data = s.data["spec"]["inputData"]
    if not data["personalData"]:
        return
    at = ("spec", "inputData")
    rule = "guardrail/personal-data"
    retention = (data["retention"] or "").strip()
    if not retention:
        yield Violation(rule, (*at, "retention"), "input data holds personal data, so a "
                        "retention period is required (e.g. retention: 30d)")
    elif not _is_duration(retention):
        yield Violation(rule, (*at, "retention"), f"retention '{retention}' is not a duration; "
                        "write it like 30d or 12h")
    redaction = data["redaction"]
    if redaction is None:
        yield Violation(rule, (*at, "redaction"), "input data holds personal data, so "
                        "redaction settings are required (fields and detectors)")
    elif not redaction["fields"] and not redaction["detect"]:
        yield Violation(rule, (*at, "redaction"), "redaction must name the personal-data "
                        "fields or the detectors to apply")


def _is_duration(text: str) -> bool:
    try:
        return parse_duration(text) > timedelta(0)
    except ValueError:
        return False


def measurable_success(s: Subject, env: Env) -> Iterator[Violation]:
    criteria = s.data["spec"]["successCriteria"]
    if not criteria:
        yield Violation("guardrail/measurable-success", ("spec", "successCriteria"),
                        "at least one measurable success criterion (metric, comparison, "
                        "threshold) is required")
    for i, criterion in enumerate(criteria):
        if not str(criterion["metric"]).strip():
            yield Violation("guardrail/measurable-success",
                            ("spec", "successCriteria", i, "metric"),
                            "a success criterion needs the name of the metric it measures")


_ROI_NUMBERS = (("baseline", "minutesPerCase"), ("baseline", "casesPerMonth"),
                ("expected", "valuePerMonth"))


def roi_numbers(s: Subject, env: Env) -> Iterator[Violation]:
    roi = s.data["spec"]["roi"]
    if roi is None:
        yield Violation("guardrail/roi-numbers", ("spec", "roi"), "an ROI hypothesis with "
                        "numbers is required (currency, baseline and expected)")
        return
    for part, name in _ROI_NUMBERS:
        if not roi[part][name] > 0:
            yield Violation("guardrail/roi-numbers", ("spec", "roi", part, name),
                            "must be greater than 0: the ROI hypothesis must carry numbers")


def owner_exists(s: Subject, env: Env) -> Iterator[Violation]:
    if s.customer is None:
        return  # the missing or invalid customer file has its own finding
    owner = s.data["spec"]["owner"]
    if owner not in s.customer["people"]:
        yield Violation("guardrail/owner-exists", ("spec", "owner"),
                        owner_message(owner, s.customer))


def owner_message(owner: str, customer: dict[str, Any]) -> str:
    return (f"owner '{owner}' is not a person at customer '{customer['name']}' "
            f"(people: {', '.join(customer['people']) or 'none'})")


GUARDRAILS: tuple[Guardrail, ...] = (
    Guardrail("guardrail/dry-run-defined", "A rollout target beyond the first (0%, shadow) "
              "stage needs dry-run assertions and thresholds.", dry_run_defined),
    Guardrail("guardrail/monitoring-gates", "A rollout target beyond the first stage needs "
              "monitoring gates.", monitoring_gates),
    Guardrail("guardrail/stage-approvals", "A rollout target beyond the first stage needs "
              "required approvals on every stage above 0%.", stage_approvals),
    Guardrail("guardrail/exposed-action-approval", "Sensitive, irreversible, financial and "
              "customer-facing actions need a human approval on every stage that sends them "
              "traffic.", exposed_action_approval),
    Guardrail("guardrail/human-confirmation", "Sensitive, irreversible, financial and "
              "customer-facing actions can never run without human confirmation in "
              "production.", human_confirmation),
    Guardrail("guardrail/risk-officer-approval", "High or critical risk needs a risk-officer "
              "approval on every stage that sends traffic.", risk_officer_approval),
    Guardrail("guardrail/bake-time", "High or critical risk needs a minimum bake time on every "
              "stage: 24h, or more when ailoop.yaml spec.minBakeTimeHighRisk raises it (a value "
              "below 24h is itself a finding).", bake_time),
    Guardrail("guardrail/personal-data", "Input data with personal data needs a retention "
              "period and redaction settings.", personal_data),
    Guardrail("guardrail/measurable-success", "Success criteria must be measurable: at least "
              "one, each with a metric, a comparison and a threshold.", measurable_success),
    Guardrail("guardrail/roi-numbers", "The ROI hypothesis must carry numbers: baseline minutes "
              "and cases, and the expected value per month.", roi_numbers),
    Guardrail("guardrail/owner-exists", "The priority's owner must be a person in the "
              "customer's people.", owner_exists),
)
BY_ID = {g.id: g for g in GUARDRAILS}
