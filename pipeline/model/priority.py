"""kind: Priority, the spec engineers edit: everything the loop needs for one priority."""

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from pipeline.model.base import (
    Bool,
    Comparison,
    Duration,
    Float,
    Int,
    JsonObject,
    JsonValue,
    Metadata,
    Model,
    Role,
)
from pipeline.model.project import PrometheusMonitoring

RiskLevel = Literal["low", "medium", "high", "critical"]
ActionClass = Literal["internal", "sensitive", "irreversible", "financial", "customer-facing"]
Detector = Literal["email", "phone", "iban", "card"]
DETECTORS: tuple[Detector, ...] = ("email", "phone", "iban", "card")
EXPOSED_CLASSES = frozenset({"sensitive", "irreversible", "financial", "customer-facing"})


class UserGroup(Model):
    group: str
    count: Int = Field(ge=0)


class System(Model):
    name: str
    api: str = ""
    access: Literal["read", "write"]


class Redaction(Model):
    fields: list[str] = Field(default_factory=list,
                              description="Input fields that hold personal data.")
    detect: list[Detector] = Field(default_factory=lambda: list(DETECTORS))


class InputData(Model):
    source: str
    description: str = ""
    personal_data: Bool = False
    retention: str | None = Field(None, description="How long input data is kept, e.g. 30d.")
    redaction: Redaction | None = None


class ExpectedOutput(Model):
    description: str
    format: Literal["json", "text"] = "json"
    schema_: JsonObject | None = Field(None, alias="schema",
                                       description="JSON Schema the output must satisfy.")


class Action(Model):
    name: str
    description: str = ""
    class_: ActionClass = Field(alias="class")
    human_confirmation: Bool = Field(
        True, description="A human confirms each execution in production.")


class SuccessCriterion(Model):
    metric: str
    comparison: Comparison
    threshold: Float
    measured_in: Literal["dry-run", "production"]
    description: str = ""


class RoiBaseline(Model):
    minutes_per_case: Float = Field(ge=0)
    cases_per_month: Int = Field(ge=0)
    cost_per_hour: Float = Field(ge=0)


class RoiExpected(Model):
    automation_rate: Float = Field(ge=0, le=1, description="Share of cases handled by the AI.")
    value_per_month: Float = Field(ge=0)
    cost_per_month: Float = Field(ge=0)


class RoiHypothesis(Model):
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    baseline: RoiBaseline
    expected: RoiExpected
    statement: str = ""


class OpenAISettings(Model):
    base_url: str
    model: str
    api_key_env: str = Field("OPENAI_API_KEY", pattern=r"^[A-Z_][A-Z0-9_]*$",
                             description="Name of the environment variable holding the key.")
    prompt_template: str
    system_prompt: str = ""
    # Sampling parameters are sent only when set: otherwise the model's own default holds
    # (reasoning models refuse some of them, e.g. max_tokens and a temperature other than 1).
    temperature: Float | None = Field(None, ge=0, le=2)
    top_p: Float | None = Field(None, ge=0, le=1)
    seed: Int | None = None
    max_tokens: Int | None = Field(None, ge=1, description=(
        "Older chat models; reasoning (o-series) models refuse it: use maxCompletionTokens."))
    max_completion_tokens: Int | None = Field(None, ge=1, description=(
        "The answer's token limit, reasoning tokens included."))
    presence_penalty: Float | None = Field(None, ge=-2, le=2)
    frequency_penalty: Float | None = Field(None, ge=-2, le=2)
    stop: list[str] | None = Field(None, min_length=1, max_length=4)
    timeout_seconds: Float = Field(30.0, gt=0, le=600)
    max_retries: Int = Field(4, ge=0, le=10)
    # Explicit aliases: the generated camelCase would be costPer1KInputTokens.
    cost_per_1k_input_tokens: Float = Field(0.0, ge=0, alias="costPer1kInputTokens")
    cost_per_1k_output_tokens: Float = Field(0.0, ge=0, alias="costPer1kOutputTokens")


def _repo_relative(path: str) -> str:
    """A declared input is named from the repository root and never climbs out of it."""
    parts = path.replace("\\", "/").split("/")
    if path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":"):
        raise ValueError(f"'{path}' must be relative to the repository root")
    if ".." in parts:
        raise ValueError(f"'{path}' must not contain '..'")
    if all(p in ("", ".") for p in parts):
        raise ValueError(f"'{path}' names the whole repository: name the files or folders "
                         "the workflow reads")
    if ".git" in parts:
        raise ValueError(f"'{path}' is inside .git, which workflow code never reads")
    return path


RepoPath = Annotated[str, Field(min_length=1), AfterValidator(_repo_relative)]
Requirement = Annotated[str, Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?"
                                          r"(\[[A-Za-z0-9._, -]*\])?\s*([<>=!~;@ (].*)?$")]
# CI credentials a workflow under test never needs: a pull request's code must not be able
# to read them (GitHub's token, the Actions runtime and OIDC tokens, where the bot's signing
# key is).
CI_CREDENTIALS = frozenset({"GITHUB_TOKEN", "GH_TOKEN", "ACTIONS_RUNTIME_TOKEN",
                            "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL",
                            "AILOOP_BOT_SIGNING_KEY"})


def _not_a_ci_credential(name: str) -> str:
    if name in CI_CREDENTIALS:
        raise ValueError(f"{name} is a CI credential; workflow code is never handed one")
    return name


EnvName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$"),
                    AfterValidator(_not_a_ci_credential)]
EnvNameOrNone = EnvName | None


class Workflow(Model):
    provider: Literal["python", "openai", "replay"]
    version: str
    entrypoint: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_./-]+\.py:[A-Za-z_][A-Za-z0-9_]*$",
        description="python provider: 'file.py:function' inside the priority folder.")
    openai: OpenAISettings | None = None
    replay: str | None = Field(None, description="replay provider: JSONL of recorded outputs.")
    timeout_seconds: Float = Field(10.0, gt=0, le=600)
    memory_mb: Int = Field(512, ge=32, le=16384)
    inputs: list[RepoPath] = Field(default_factory=list, description=(
        "python provider: repository-relative files or folders the workflow reads beyond "
        "its own folder. The sandbox mounts only these (read-only), and the fingerprint "
        "covers every file in them."))
    requirements: list[Requirement] = Field(default_factory=list, description=(
        "python provider: pip requirement strings the workflow needs (e.g. 'httpx>=0.27'); "
        "the evidence records the installed version of each."))
    secrets: list[EnvName] = Field(default_factory=list, description=(
        "python provider: names of environment variables handed to the workflow; nothing "
        "else of the environment is (CI credentials never are)."))


class _AssertionBase(Model):
    name: str = ""
    field: str | None = Field(None, description="Dotted path into a JSON output.")


class EqualsAssertion(_AssertionBase):
    type: Literal["equals"]
    value: JsonValue = Field(None, description="Expected value; defaults to the case's expected.")


class ContainsAssertion(_AssertionBase):
    type: Literal["contains"]
    value: str
    case_sensitive: Bool = False


class RegexAssertion(_AssertionBase):
    type: Literal["regex"]
    pattern: str


class JsonSchemaAssertion(_AssertionBase):
    type: Literal["json-schema"]


class FieldEqualsAssertion(_AssertionBase):
    type: Literal["field-equals"]
    field: str


class NumericToleranceAssertion(_AssertionBase):
    type: Literal["numeric-tolerance"]
    field: str
    tolerance: Float = Field(ge=0)
    relative: Bool = False


class LatencyAssertion(_AssertionBase):
    type: Literal["latency"]
    max_ms: Float = Field(gt=0)


class CostAssertion(_AssertionBase):
    type: Literal["cost"]
    max: Float = Field(ge=0)


class CelAssertion(_AssertionBase):
    type: Literal["cel"]
    expr: str = Field(description="CEL over `input`, `output` and `expected`; true passes.")


class JudgeAssertion(_AssertionBase):
    """A model grades the output against a rubric; it gates only once calibrated."""

    type: Literal["judge"]
    rubric: str = Field(min_length=1, description="The rubric file, in the priority folder.")
    model: str = Field(min_length=1)
    base_url: str | None = Field(None, description=(
        "OpenAI-compatible endpoint; default spec.workflow.openai.baseUrl."))
    api_key_env: EnvNameOrNone = Field(None, description=(
        "Environment variable holding the key; default spec.workflow.openai.apiKeyEnv."))
    temperature: Float = Field(0.0, ge=0, le=2)
    seed: Int | None = None
    pass_score: Float = Field(0.7, ge=0, le=1, description=(
        "The judge answers a score from 0 to 1; the check passes when score >= passScore."))
    calibration: str | None = Field(None, description=(
        "JSONL of outputs people labelled correct or wrong. Without a calibration on which "
        "the judge agrees with people (Cohen's kappa >= minKappa), the judge is advisory."))
    # At least "moderate" agreement (Landis and Koch): a judge barely above chance (a PR's
    # minKappa: 0.0001) would otherwise gate, which no setting may make an untrusted judge do.
    min_kappa: Float = Field(0.6, ge=0.4, le=1, description=(
        "Cohen's kappa the judge must reach against the labels to gate (at least 0.4)."))
    timeout_seconds: Float = Field(30.0, gt=0, le=600)
    max_retries: Int = Field(4, ge=0, le=10)
    cost_per_1k_input_tokens: Float = Field(0.0, ge=0, alias="costPer1kInputTokens")
    cost_per_1k_output_tokens: Float = Field(0.0, ge=0, alias="costPer1kOutputTokens")


Assertion = Annotated[
    EqualsAssertion | ContainsAssertion | RegexAssertion | JsonSchemaAssertion
    | FieldEqualsAssertion | NumericToleranceAssertion | LatencyAssertion | CostAssertion
    | CelAssertion | JudgeAssertion,
    Field(discriminator="type"),
]


class Thresholds(Model):
    pass_rate: Float = Field(ge=0, le=1)
    per_tag: dict[str, Float] = Field(default_factory=dict)
    critical_must_pass: Bool = True
    no_regression_on: list[str] = Field(
        default_factory=list, description="Tags (`critical`: the critical cases) on which "
        "the candidate may not fail a case the serving version passes: the dry run runs the "
        "serving version on the same cases, and such a regression fails it.")


class DryRun(Model):
    dataset: str = Field(description="JSONL or CSV file, relative to the priority folder.")
    assertions: list[Assertion] = Field(default_factory=list)
    thresholds: Thresholds | None = None
    concurrency: Int = Field(8, ge=1, le=256)
    repeat: Int = Field(
        1, ge=1, le=20, description="Runs of every case (a case's own `repeat` in the "
        "dataset wins). A case passes only when every run passes; runs that disagree make "
        "it flaky.")


class StageApproval(Model):
    role: Role
    count: Int = Field(1, ge=1, le=10)


class HumanReviewSetting(Model):
    """People label a sample of the candidate's outputs before it enters the stage
    (`ailoop sample`); their labels must agree with the dry run's verdicts."""

    sample: Int = Field(ge=1, le=1000, description="How many outputs `ailoop sample` draws "
                        "and the review must hold, every one labelled.")
    min_agreement: Float = Field(0.9, ge=0, le=1, description="Share of the labelled outputs "
                                 "whose label agrees with the dry run's verdict.")


class Stage(Model):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    percent: Float = Field(ge=0, le=100)
    bake_time: Duration = Field(description="Minimum time at this stage before the next.")
    approvals: list[StageApproval] = Field(default_factory=list)
    human_review: HumanReviewSetting | None = Field(
        None, description="Labelled outputs the stage needs before the candidate enters it.")
    targeting: JsonObject | None = Field(None, description=(
        "A segment: a flagd targeting rule (JSONLogic) over the request's evaluation "
        "context, e.g. {\"<\": [{\"var\": \"amount\"}, 1000]}. `percent` is then the "
        "candidate's share inside the segment; outside it the serving version gets all "
        "the traffic. A candidate at a stage with a segment never becomes the serving "
        "version: a later stage without one completes the rollout."))


class Rollout(Model):
    target: str = Field(description="The stage this PR asks for.")
    stages: list[Stage] = Field(min_length=1)


class CanaryComparison(Model):
    max_degradation: Float = Field(ge=0, description="Allowed relative degradation, 0.1 = 10%.")
    confidence: Float = Field(0.95, gt=0.5, lt=1)
    test: Literal["auto", "two-proportion", "mann-whitney"] = "auto"
    sequential_tuning: Int = Field(
        5000, ge=1, description="Samples (both variants) at which the sequential test is "
        "sharpest; GrowthBook's default.")
    srm_alpha: Float = Field(0.001, gt=0, lt=0.5, description="Sample ratio mismatch: fail "
                             "when the split's chi-square p-value is below this.")


class MonitoringGate(Model):
    name: str = ""
    metric: str
    query: str | None = Field(None, description="PromQL for the prometheus provider.")
    samples_query: str | None = Field(
        None, description="prometheus provider: PromQL for the requests behind each point of "
        "`query` (e.g. sum(increase(requests_total[{{step}}]))); without it each point is "
        "one sample.")
    comparison: Comparison
    threshold: Float
    window: Duration
    min_samples: Int = Field(ge=1)
    compare: CanaryComparison | None = None


class Monitoring(Model):
    reaction: Literal["hold", "rollback"] = "rollback"
    gates: list[MonitoringGate] = Field(default_factory=list)
    provider: Literal["file", "prometheus"] | None = None
    file: str | None = Field(None, description="Override of the JSONL readings file.")
    prometheus: PrometheusMonitoring | None = Field(
        None, description="Override of the project's Prometheus settings.")


class Review(Model):
    cadence: Duration = Field(description="Time between scheduled operations reviews.")
    drift_check: Bool = False


class PrioritySpec(Model):
    goal: str = Field(min_length=1, description="The business goal, in the customer's words.")
    owner: str = Field(description="id of the accountable person in customer.yaml.")
    users: list[UserGroup] = Field(default_factory=list)
    systems: list[System] = Field(default_factory=list)
    input_data: InputData
    expected_output: ExpectedOutput
    actions: list[Action] = Field(default_factory=list)
    risk: RiskLevel
    success_criteria: list[SuccessCriterion] = Field(default_factory=list)
    roi: RoiHypothesis | None = None
    workflow: Workflow
    dry_run: DryRun
    rollout: Rollout
    monitoring: Monitoring = Field(default_factory=Monitoring)
    review: Review | None = None
    tags: list[str] = Field(default_factory=list)


class Priority(Model):
    api_version: Literal["ailoop.dev/v1"]
    kind: Literal["Priority"]
    metadata: Metadata
    spec: PrioritySpec
