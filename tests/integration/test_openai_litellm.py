"""The openai provider against LiteLLM's proxy, a real OpenAI-compatible server (offline, in
mock mode; tests/integration/litellm_fixture.py). A handful of tests: the proxy takes
seconds to start. Errors LiteLLM cannot be made to send (insufficient_quota, refusals,
null content) are tested on the stand-in in tests/unit/providers/test_openai.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.documents.dataset import Case
from pipeline.documents.evidence import read_evidence
from pipeline.model.priority import OpenAISettings
from pipeline.providers.base import HTTP_ERROR, CaseOutput
from pipeline.providers.openai import OpenAIProvider
from tests.acceptance.test_dry_run_cli import NOW, write_priority
from tests.integration.litellm_fixture import ANSWER, MASTER_KEY, RunningProxy
from tests.support import run_cli

pytestmark = pytest.mark.integration


def provider(proxy: RunningProxy, sleeps: list[float] | None = None,
             **extra: object) -> OpenAIProvider:
    settings = OpenAISettings.model_validate({
        "base_url": f"{proxy.url}/v1", "model": "gpt-4o-mini", "api_key_env": "LITELLM_KEY",
        "prompt_template": "{{ text }}", "timeout_seconds": 30, "max_retries": 1, **extra})
    record = sleeps if sleeps is not None else []
    return OpenAIProvider(settings, "1", {"LITELLM_KEY": MASTER_KEY}, backoff=0.001,
                          sleep=record.append)


def run_one(p: OpenAIProvider, text: str) -> CaseOutput:
    try:
        return p.run(Case(id="c1", input={"text": text}))
    finally:
        p.close()


def test_a_dry_run_against_the_proxy_passes(litellm: RunningProxy, example: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_KEY", MASTER_KEY)
    workflow = f"""\
    provider: openai
    version: "1"
    openai:
      baseUrl: {litellm.url}/v1
      model: gpt-4o-mini
      apiKeyEnv: LITELLM_KEY
      systemPrompt: Answer with JSON only.
      promptTemplate: "Route: {{{{ text }}}}"
      temperature: 0
      costPer1kInputTokens: 0.15
      costPer1kOutputTokens: 0.6"""
    cases: list[dict[str, object]] = [
        {"id": f"c{i}", "input": {"text": f"ticket {i}"}, "expected": {"label": "billing"}}
        for i in range(3)]
    key = write_priority(example, "proxied", cases, workflow, wf="")
    result = run_cli(capsys, "-C", str(example), "dry-run", key, "--now", NOW)
    assert result.code == 0, result.out + result.err
    [evidence] = read_evidence(str(example), key)
    body = json.loads((example / evidence.path).read_text())
    assert evidence.passed and [c["passed"] for c in body["cases"]] == [True] * 3
    assert body["cases"][0]["tokens"] == {"input": 10, "output": 20}
    assert body["provider"]["sampling"] == {"temperature": 0}
    assert MASTER_KEY not in json.dumps(body) + result.out + result.err


def test_a_reasoning_model_takes_max_completion_tokens_and_refuses_a_temperature(
        litellm: RunningProxy) -> None:
    out = run_one(provider(litellm, model="o3-mini", max_completion_tokens=2000, seed=7), "hi")
    assert out.ok and out.output == ANSWER
    sleeps: list[float] = []
    refused = run_one(provider(litellm, sleeps, model="o3-mini", temperature=0.2), "hi")
    assert refused.fault == HTTP_ERROR
    assert refused.reason.startswith(
        "HTTP 400 invalid_request_error: litellm.UnsupportedParamsError: O-series models "
        "don't support temperature=0.2. Only temperature=1 is supported.")
    assert sleeps == []  # a request the server refuses is not retried


def test_sampling_parameters_pass_through_the_proxy(litellm: RunningProxy) -> None:
    sampling: dict[str, object] = {"temperature": 0.3, "top_p": 0.8, "seed": 11,
                                   "max_tokens": 120, "presence_penalty": 0.1,
                                   "frequency_penalty": 0.2, "stop": ["END"]}
    out = run_one(provider(litellm, model="upstream", **sampling), "pass-through")
    assert out.ok, out
    [forwarded] = [r for r in litellm.upstream.requests
                   if r["messages"][-1]["content"] == "pass-through"]
    assert {k: forwarded.get(k) for k in sampling} == sampling
    assert litellm.upstream.invalid == []


@pytest.mark.parametrize(("model", "reason"), [
    ("rate-limited", "HTTP 429 throttling_error after 2 attempts: litellm.RateLimitError: "
                     "this is a mock rate limit error"),
    ("overloaded", "HTTP 500 internal_server_error after 2 attempts: "
                   "litellm.InternalServerError: this is a mock internal server error"),
], ids=["429", "500"])
def test_rate_limits_and_server_errors_are_retried_a_bounded_number_of_times(
        litellm: RunningProxy, model: str, reason: str) -> None:
    sleeps: list[float] = []
    out = run_one(provider(litellm, sleeps, model=model), "hi")
    assert out.fault == HTTP_ERROR
    assert out.reason.startswith(reason)
    assert len(sleeps) == 1  # maxRetries: 1


def test_judges_through_the_proxy(litellm: RunningProxy, example: Path,
                                  capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The judge protocol end to end: `judge-mini` is mocked with one fixed judge answer
    (it passes everything, so it cannot agree with people: advisory); `upstream` passes
    the proxy's request on to the stand-in, which grades as the calibration set says."""
    from tests.acceptance.test_dry_run_judge import calibration_lines

    monkeypatch.setenv("LITELLM_KEY", MASTER_KEY)
    workflow = f"""\
    provider: openai
    version: "1"
    openai:
      baseUrl: {litellm.url}/v1
      model: gpt-4o-mini
      apiKeyEnv: LITELLM_KEY
      promptTemplate: "Route: {{{{ text }}}}\""""
    cases: list[dict[str, object]] = [
        {"id": f"c{i}", "input": {"text": f"ticket {i}"}, "expected": {"label": "billing"}}
        for i in range(2)]
    key = write_priority(example, "judged", cases, workflow, wf="")
    folder = example / "customers" / key
    judges = "".join(f"""
      - type: judge
        name: {name}
        rubric: rubric.md
        model: {model}
        calibration: calibration.jsonl
        costPer1kInputTokens: 0.15
        costPer1kOutputTokens: 0.6""" for name, model in (("fixed", "judge-mini"),
                                                        ("graded", "upstream")))
    (folder / "priority.yaml").write_text((folder / "priority.yaml").read_text().replace(
        "    assertions:\n", f"    assertions:{judges}\n"))
    (folder / "rubric.md").write_text("The label names the team that handles the ticket.\n")
    (folder / "calibration.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in calibration_lines(agree=True)))
    result = run_cli(capsys, "-C", str(example), "dry-run", key, "--now", NOW)
    # the stand-in has no score for the cases' outputs: the calibrated judge fails closed
    assert result.code == 1, result.out + result.err
    [evidence] = read_evidence(str(example), key)
    body = json.loads((example / evidence.path).read_text())
    graded_check = body["cases"][0]["checks"][1]
    assert (graded_check["name"], graded_check["passed"], graded_check["message"]) == (
        "graded", False, "the judge gave no verdict: the judge's answer has no score")
    assert graded_check["cost"] > 0  # an answer with no score is paid for too
    fixed, graded = body["judges"]
    assert fixed["advisory"] == ("advisory: not calibrated (kappa 0.00 is below 0.6 over "
                                 "20 cases)")
    assert graded["calibration"]["calibrated"] and graded["calibration"]["kappa"] == 1.0
    assert graded["baseUrl"] == f"{litellm.url}/v1"
    check = body["cases"][0]["checks"][0]
    assert check["name"] == "fixed" and check["advisory"]
    assert check["message"] == "score 0.9 >= 0.7: polite and on topic"
    assert check["cost"] > 0 and fixed["calibrationCost"] > 0
    assert body["summary"]["judgeCost"] > 0
    assert MASTER_KEY not in json.dumps(body) + result.out + result.err
    # what the proxy passed on to the stand-in: the rubric and the output, at temperature 0
    sent = [r for r in litellm.upstream.requests
            if r["messages"][0]["content"].startswith("You grade")]
    assert len(sent) == 22 and sent[0]["temperature"] == 0
    assert "The label names the team" in sent[0]["messages"][0]["content"]
    assert litellm.upstream.invalid == []
