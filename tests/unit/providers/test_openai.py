from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.documents.dataset import Case
from pipeline.errors import InputError
from pipeline.model.priority import OpenAISettings
from pipeline.providers.base import EMPTY, HTTP_ERROR, REFUSAL, TIMEOUT, TOOL_CALLS, UNREACHABLE
from pipeline.providers.openai import OpenAIProvider, backoff_seconds, server_delay
from tests.unit.providers.chat_server import ChatServer
from tests.unit.providers.openai_sdk import request_problems


@pytest.fixture
def server() -> Iterator[ChatServer]:
    srv = ChatServer().start()
    yield srv
    srv.stop()


def settings(url: str, **extra: object) -> OpenAISettings:
    base: dict[str, object] = {
        "base_url": url, "model": "test-model", "api_key_env": "TEST_KEY",
        "prompt_template": "Classify: {{ subject }}", "temperature": 0.2,
        "timeout_seconds": 1, "max_retries": 2, "cost_per_1k_input_tokens": 1.0,
        "cost_per_1k_output_tokens": 2.0}
    return OpenAISettings.model_validate({**base, **extra})


def provider(url: str, sleeps: list[float] | None = None, **extra: object) -> OpenAIProvider:
    record = sleeps if sleeps is not None else []
    return OpenAIProvider(settings(url, **extra), "1.0", {"TEST_KEY": "sk-test"},
                          backoff=0.001, sleep=record.append)


def case(subject: str) -> Case:
    return Case(id="c1", input={"subject": subject})


def test_answer_usage_and_cost_are_recorded(server: ChatServer) -> None:
    p = provider(server.url)
    out = p.run(case("hello world"))
    p.close()
    assert out.ok
    assert out.output == '{"echo": "Classify: hello world", "n": 21}'
    assert (out.tokens_in, out.tokens_out) == (3, 7)
    assert out.cost == pytest.approx((3 * 1.0 + 7 * 2.0) / 1000)
    assert server.requests[0]["model"] == "test-model"
    assert server.requests[0]["temperature"] == 0.2
    assert server.auth == ["Bearer sk-test"]


def test_429_and_503_are_retried_honouring_retry_after(server: ChatServer) -> None:
    sleeps: list[float] = []
    p = provider(server.url, sleeps)
    assert p.run(case("RATE-LIMIT")).ok
    assert p.run(case("FLAKY")).ok
    p.close()
    assert sleeps[0] == 0.0  # Retry-After: 0
    assert len(sleeps) == 2
    assert server.seen == {"Classify: RATE-LIMIT": 2, "Classify: FLAKY": 2}


def test_persistent_500_fails_the_case_after_the_retries(server: ChatServer) -> None:
    sleeps: list[float] = []
    p = provider(server.url, sleeps)
    out = p.run(case("SERVER-ERROR"))
    p.close()
    assert (out.fault, out.reason) == (
        HTTP_ERROR, "HTTP 500 server_error after 3 attempts: The server had an error while "
                    "processing your request.")
    assert len(sleeps) == 2


def test_retry_after_ms_is_honoured(server: ChatServer) -> None:
    sleeps: list[float] = []
    p = provider(server.url, sleeps)
    assert p.run(case("RETRY-MS")).ok
    p.close()
    assert sleeps == [0.25]


@pytest.mark.parametrize(("word", "reason"), [
    ("QUOTA", "HTTP 429 insufficient_quota: You exceeded your current quota, please check "
              "your plan and billing details."),
    ("FORBIDDEN", "HTTP 403 unsupported_country_region_territory: Country, region, or "
                  "territory not supported"),
    ("NO-MODEL", "HTTP 404 model_not_found: The model `test-model` does not exist or you do "
                 "not have access to it."),
    ("TOO-LONG", "HTTP 400 context_length_exceeded (messages): This model's maximum context "
                 "length is 128000 tokens. However, your messages resulted in 130412 tokens. "
                 "Please reduce the length of the messages."),
])
def test_errors_that_cannot_pass_on_retry_fail_at_once(server: ChatServer, word: str,
                                                       reason: str) -> None:
    sleeps: list[float] = []
    p = provider(server.url, sleeps)
    out = p.run(case(word))
    p.close()
    assert (out.fault, out.reason) == (HTTP_ERROR, reason)
    assert sleeps == []
    assert server.seen == {f"Classify: {word}": 1}


def test_an_account_error_fails_the_remaining_cases_without_asking_again(
        server: ChatServer) -> None:
    p = provider(server.url)
    first, second = p.run(case("QUOTA")), p.run(case("hello"))
    p.close()
    assert first.reason.startswith("HTTP 429 insufficient_quota: ")
    assert (second.fault, second.reason) == (HTTP_ERROR, first.reason)
    assert server.seen == {"Classify: QUOTA": 1}


def test_a_request_error_of_one_case_does_not_stop_the_others(server: ChatServer) -> None:
    p = provider(server.url)
    first, second = p.run(case("TOO-LONG")), p.run(case("hello"))
    p.close()
    assert first.fault == HTTP_ERROR and second.ok


@pytest.mark.parametrize(("word", "fault", "reason"), [
    ("REFUSE", REFUSAL, "the model refused: I'm sorry, I can't help with that."),
    ("TOOL-CALL", TOOL_CALLS, "the model called a tool (lookup_order) instead of answering "
                              "with text; ailoop offers no tools"),
    ("NULL-CONTENT", EMPTY, "the answer has no text (content is null; finish_reason: stop)"),
    ("CUT-SHORT", EMPTY, "the answer has no text (finish_reason: length: the token limit was "
                         "reached first; raise maxCompletionTokens)"),
])
def test_answers_without_text_fail_the_case_with_the_reason(
        server: ChatServer, word: str, fault: str, reason: str) -> None:
    p = provider(server.url)
    out, after = p.run(case(word)), p.run(case("hello"))
    p.close()
    assert (out.fault, out.reason) == (fault, reason)
    assert (out.tokens_in, out.tokens_out) != (0, 0)  # the tokens were still paid for
    assert after.ok


def test_sampling_parameters_are_sent_only_when_set(server: ChatServer) -> None:
    p = provider(server.url, temperature=None)
    p.run(case("a"))
    p.close()
    assert server.requests[0] == {"model": "test-model",
                                  "messages": [{"role": "user", "content": "Classify: a"}]}
    assert "temperature" not in p.describe()


SAMPLING: dict[str, object] = {
    "temperature": 0.7, "top_p": 0.9, "seed": 42, "max_tokens": 300,
    "presence_penalty": 0.5, "frequency_penalty": -0.5, "stop": ["\n\n", "END"]}


def test_every_sampling_parameter_set_is_sent_as_the_api_names_it(server: ChatServer) -> None:
    p = provider(server.url, system_prompt="Answer in JSON.", **SAMPLING)
    p.run(case("a"))
    p.close()
    sent = server.requests[0]
    assert {k: sent[k] for k in SAMPLING} == SAMPLING
    assert sent["messages"][0] == {"role": "system", "content": "Answer in JSON."}
    assert p.describe()["sampling"] == {"temperature": 0.7, "topP": 0.9, "seed": 42,
                                        "maxTokens": 300, "presencePenalty": 0.5,
                                        "frequencyPenalty": -0.5, "stop": ["\n\n", "END"]}


def test_reasoning_models_get_max_completion_tokens(server: ChatServer) -> None:
    p = provider(server.url, model="o3-mini", temperature=None, max_completion_tokens=2000)
    p.run(case("a"))
    p.close()
    assert server.requests[0]["max_completion_tokens"] == 2000
    assert "max_tokens" not in server.requests[0]


@pytest.mark.parametrize("extra", [
    {}, {"temperature": None}, SAMPLING, {"system_prompt": "Be brief."},
    {"model": "o3-mini", "temperature": None, "max_completion_tokens": 2000, "seed": 7},
], ids=["defaults", "nothing-set", "every-sampling-parameter", "system-prompt", "o-series"])
def test_every_request_body_is_valid_for_the_official_sdk(server: ChatServer,
                                                          extra: dict[str, object]) -> None:
    p = provider(server.url, **extra)
    assert p.run(case("a")).ok
    p.close()
    assert server.invalid == []
    assert request_problems(server.requests[0]) == []


def test_the_sdk_check_refuses_unknown_and_misspelled_fields() -> None:
    good = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert request_problems(good) == []
    assert request_problems({**good, "temprature": 0.2}) == [
        "temprature: Extra inputs are not permitted"]
    assert request_problems({**good, "seed": "x"})[0].startswith("seed: ")
    bad_message = {"model": "m", "messages": [{"role": "user", "contnt": "hi"}]}
    assert any(p.startswith("messages.0.ChatCompletionUserMessageParam.contnt")
               for p in request_problems(bad_message))



def test_slow_reply_times_out(server: ChatServer) -> None:
    p = provider(server.url, max_retries=0, timeout_seconds=0.3)
    out = p.run(case("SLOW"))
    p.close()
    assert (out.fault, out.reason) == (TIMEOUT, "no answer within 0.3 s")


def test_401_is_not_retried_and_the_key_is_never_in_the_message(server: ChatServer) -> None:
    p = OpenAIProvider(settings(server.url), "1.0", {"TEST_KEY": "sk-wrong"},
                       backoff=0.001, sleep=lambda s: None)
    out = p.run(case("BAD-KEY"))
    p.close()
    assert (out.fault, out.reason) == (HTTP_ERROR,
                                       "HTTP 401 invalid_api_key: Incorrect API key provided.")
    assert p.secrets == ("sk-wrong",)
    assert server.seen == {"Classify: BAD-KEY": 1}


def test_unreachable_endpoint_fails_fast_after_the_first_case() -> None:
    sleeps: list[float] = []
    p = provider("http://127.0.0.1:9/v1", sleeps)
    first, second = p.run(case("a")), p.run(case("b"))
    p.close()
    assert first.fault == UNREACHABLE and second.fault == UNREACHABLE
    assert second.reason == "cannot reach http://127.0.0.1:9/v1"
    assert len(sleeps) == 2  # only the first case waited through its retries


def test_missing_key_variable_is_an_input_error(server: ChatServer) -> None:
    with pytest.raises(InputError) as err:
        OpenAIProvider(settings(server.url), "1.0", {})
    assert str(err.value) == ("environment variable TEST_KEY is not set "
                              "(spec.workflow.openai.apiKeyEnv names it; it holds the API key)")


def test_template_errors(server: ChatServer) -> None:
    with pytest.raises(InputError, match=r"promptTemplate: not a valid template"):
        provider(server.url, prompt_template="{{ subject ")
    p = provider(server.url, prompt_template="{{ missing }}")
    out = p.run(case("x"))
    p.close()
    assert (out.fault, out.reason) == ("prompt template", "prompt template: 'missing' is undefined")


def test_backoff_grows_and_is_capped() -> None:
    assert backoff_seconds(0, 1.0, 2.0) == 2.0
    assert backoff_seconds(0, 1.0, 999.0) == 30.0
    assert 0.5 <= backoff_seconds(0, 1.0, None) <= 1.0
    assert 4.0 <= backoff_seconds(10, 1.0, None) <= 8.0


def test_the_wait_the_server_asks_for() -> None:
    assert server_delay({"retry-after-ms": "250", "retry-after": "1"}) == 0.25
    assert server_delay({"retry-after": "2"}) == 2.0
    assert server_delay({"retry-after": "-3"}) == 0.0
    assert server_delay({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert server_delay({}) is None
