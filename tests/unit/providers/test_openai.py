from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.documents.dataset import Case
from pipeline.errors import InputError
from pipeline.model.priority import OpenAISettings
from pipeline.providers.base import HTTP_ERROR, TIMEOUT, UNREACHABLE
from pipeline.providers.openai import OpenAIProvider, backoff_seconds
from tests.unit.providers.chat_server import ChatServer


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
    assert (out.fault, out.reason) == (HTTP_ERROR, "HTTP 500 after 3 attempts")
    assert len(sleeps) == 2


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
    assert (out.fault, out.reason) == (HTTP_ERROR, "HTTP 401: Incorrect API key provided")
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
    assert backoff_seconds(0, 1.0, "2") == 2.0
    assert backoff_seconds(0, 1.0, "999") == 30.0
    assert 0.5 <= backoff_seconds(0, 1.0, None) <= 1.0
    assert 4.0 <= backoff_seconds(10, 1.0, "Wed, 21 Oct 2015 07:28:00 GMT") <= 8.0
