"""The evidence document a dry run writes (pipeline.dryrun.record), as every reader sees it.

Evidence is JSON written by ailoop, read by the reconciler, the PR comment, updates and
reviews. It is validated as JSON (strict: `true` is a boolean, "1" is not a number) against
this model, so a reader never meets a missing key or a wrong type: a file that does not fit
is one message naming the file and the field. What a gate decides on is required; the
details a report shows (latency, categories, comparison, actions) may be absent and are
then shown as absent. Unknown fields are ignored: a newer ailoop may add some.
"""

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from pipeline.model.base import API_VERSION

# The name of every noRegressionOn gate starts so ("no regression on critical"): the reconciler
# finds them by it (pipeline.dryrun.versus names them).
NO_REGRESSION_GATE = "no regression on "

# How evidence no trusted run committed is labelled wherever it is shown (DESIGN.md, "Trust").
UNVERIFIED = "from the PR, not yet verified"

Count = Annotated[int, Field(ge=0)]
Rate = Annotated[float, Field(ge=0, le=1)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Record(BaseModel):
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True,
                              frozen=True, strict=True, defer_build=True)


class Digests(Record):
    spec: Sha256
    dataset: Sha256
    workflow: Sha256


class Latency(Record):
    p50: float = 0.0
    p95: float = 0.0
    max: float = 0.0


class Interval(Record):
    low: Rate
    high: Rate


class RepeatStats(Record):
    """What the runs of repeated cases say (pipeline.dryrun.repeat); absent when every case
    ran once, as in all evidence written before repeats."""

    cases: Count
    runs: Count
    passed_runs: Count
    mean_pass_rate: Rate
    pass_at_k: Rate  # share of cases with at least one passing run
    pass_all_k: Rate  # share of cases whose every run passed: what the gate counted
    ci95: Interval  # Wilson score interval of the mean pass rate
    flaky: list[str] = []


class Summary(Record):
    cases: Count
    failed: Count
    pass_rate: Rate
    passed: Count | None = None  # None: an older file; cases - failed
    errors: Count = 0
    latency_ms: Latency | None = None
    repeat: RepeatStats | None = None
    judge_cost: float | None = None  # only with judges: their calls, apart from the workflow's
    total_cost: float | None = None

    @property
    def passed_cases(self) -> int:
        return self.passed if self.passed is not None else self.cases - self.failed


class GateResult(Record):
    name: str
    required: str
    actual: str
    passed: bool
    repeat: RepeatStats | None = None


class FailureCategory(Record):
    category: str
    count: Count
    cases: list[str] = []


class RunCount(Record):
    total: Count
    passed: Count


class CaseRecord(Record):
    id: str
    passed: bool  # every run passed
    tags: list[str] = []
    runs: RunCount | None = None  # only when the case ran more than once
    flaky: bool = False


class Comparison(Record):
    previous: str
    newly_failing: list[str] = []
    fixed: list[str] = []
    still_failing: list[str] = []
    added: list[str] = []
    removed: list[str] = []


class PairwiseJudge(Record):
    """A judge's pairwise comparison of the candidate's outputs with serving's
    (pipeline.dryrun.pairwise): a win or loss needs both presentation orders to agree."""

    name: str
    wins: Count
    losses: Count
    ties: Count
    no_verdict: Count = 0
    win_rate: Rate | None = None  # wins / (wins + losses); None when neither
    interval: Interval | None = None  # Wilson 95 % of the win rate
    calibrated: bool = False
    cost: float = 0.0
    won: list[str] = []
    lost: list[str] = []
    tied: list[str] = []
    no_verdict_cases: list[str] = []
    no_verdict_reason: str = ""
    advisory: str = ""  # "advisory: not calibrated"; "" when the judge may gate


class VersusServing(Record):
    """The serving version run on the same cases (pipeline.dryrun.versus)."""

    version: str
    evidence_id: str
    workflow_digest: str = ""
    compared: bool = False
    reason: str = ""  # why no comparison was made
    cases: Count = 0
    improved: list[str] = []
    regressed: list[str] = []
    unchanged: Count = 0
    unchanged_pass: Count = 0
    unchanged_fail: Count = 0
    p_value: Rate = 1.0
    judges: list[PairwiseJudge] = []  # the pairwise judge win rates (report only)


class ActionRow(Record):
    name: str
    action_class: str = Field("", alias="class")
    would_wait: list[str] = []
    would_run: list[str] = []
    refused: list[str] = []


class Actions(Record):
    proposed: Count = 0
    by_action: list[ActionRow] = []


class CalibrationRecord(Record):
    """How far a judge agrees with people on its calibration set (pipeline.dryrun.calibration)."""

    file: str | None = None
    cases: Count
    kappa: float | None = None
    agreement: Rate | None = None
    min_kappa: float
    calibrated: bool
    reason: str


class JudgeRecord(Record):
    name: str
    model: str
    rubric_digest: Sha256
    calibration: CalibrationRecord
    advisory: str = ""  # "advisory: not calibrated (why)"; "" when the judge may gate
    self_grading: bool = False  # the workflow's own model at the same endpoint


class Evidence(Record):
    api_version: Literal["ailoop.dev/v1"]  # API_VERSION
    kind: Literal["Evidence"]
    id: str
    priority: str
    created: AwareDatetime
    passed: bool
    fingerprint: Digests
    summary: Summary
    thresholds: list[GateResult] = []
    success_criteria: list[GateResult] = []
    failure_categories: list[FailureCategory] = []
    comparison: Comparison | None = None
    versus_serving: VersusServing | None = None
    actions: Actions | None = None
    judges: list[JudgeRecord] = []
    cases: list[CaseRecord] = []

    @property
    def compared_with(self) -> str | None:
        """The serving evidence id its noRegressionOn gates were measured against ("":
        nothing was serving); None when it has no such gate."""
        if not any(g.name.startswith(NO_REGRESSION_GATE) for g in self.thresholds):
            return None
        return self.versus_serving.evidence_id if self.versus_serving else ""


def evidence_error(err: ValidationError) -> str:
    """The first problem of a file that is not evidence: 'summary.passRate: <what>'."""
    first = err.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"])
    if first["type"] == "literal_error" and where in ("apiVersion", "kind"):
        return f"not evidence (apiVersion must be {API_VERSION}, kind Evidence)"
    message = first["msg"]
    if first["type"] == "missing":
        message = "is required"
    return f"{where}: {message}" if where else message
