from __future__ import annotations

import json

import pytest

from pipeline.model.priority import OpenAISettings
from pipeline.providers.base import EMPTY, HTTP_ERROR, TOOL_CALLS
from pipeline.providers.openai_wire import ApiError, read_answer, read_error

SETTINGS = OpenAISettings.model_validate({"base_url": "http://127.0.0.1/v1", "model": "m",
                                          "prompt_template": "x"})


def answer(message: object, finish_reason: str = "stop") -> bytes:
    return json.dumps({"choices": [{"message": message, "finish_reason": finish_reason}]}
                      ).encode()


@pytest.mark.parametrize(("status", "raw", "reason"), [
    # LiteLLM's proxy puts the status in `code` and a multi-line message.
    (429, b'{"error": {"message": "litellm.RateLimitError: mock\\n\\nLiteLLM: no fallback",'
          b' "type": "throttling_error", "param": null, "code": "429"}}',
     "HTTP 429 throttling_error: litellm.RateLimitError: mock LiteLLM: no fallback"),
    (400, b'{"error": "model is required"}', "HTTP 400: model is required"),
    (502, b"<html>Bad Gateway</html>", "HTTP 502"),
    (400, b'{"error": {"message": "Unsupported parameter: \'max_tokens\'", "type": '
          b'"invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}}',
     "HTTP 400 unsupported_parameter (max_tokens): Unsupported parameter: 'max_tokens'"),
])
def test_error_reasons(status: int, raw: bytes, reason: str) -> None:
    assert read_error(status, raw).reason() == reason


@pytest.mark.parametrize(("error", "retryable", "for_every_case"), [
    (ApiError(429, code="rate_limit_exceeded"), True, False),
    (ApiError(429, type="insufficient_quota"), False, True),
    (ApiError(408), True, False),
    (ApiError(503), True, False),
    (ApiError(400, code="context_length_exceeded"), False, False),
    (ApiError(401), False, True),
    (ApiError(404), False, True),
    (ApiError(409), False, False),
])
def test_which_errors_are_retried_and_which_end_every_case(
        error: ApiError, retryable: bool, for_every_case: bool) -> None:
    assert (error.retryable, error.for_every_case) == (retryable, for_every_case)


@pytest.mark.parametrize(("raw", "fault", "reason"), [
    (answer({"role": "assistant", "content": None,
             "function_call": {"name": "legacy_fn", "arguments": "{}"}}, "function_call"),
     TOOL_CALLS, "the model called a tool (legacy_fn) instead of answering with text; "
                 "ailoop offers no tools"),
    (answer({"content": None, "tool_calls": [{"type": "custom"}]}),
     TOOL_CALLS, "the model called a tool (unnamed) instead of answering with text; "
                 "ailoop offers no tools"),
    (answer({"content": ""}, "content_filter"),
     EMPTY, "the answer has no text (finish_reason: content_filter: the provider's content "
            "filter withheld the answer)"),
    (answer({"content": [{"type": "text", "text": "hi"}]}),
     HTTP_ERROR, "the chat completion's content is not text"),
    (answer("just a string"), HTTP_ERROR, "the endpoint's answer is not a chat completion"),
    (b'{"choices": []}', HTTP_ERROR, "the endpoint's answer is not a chat completion"),
])
def test_answers_without_text(raw: bytes, fault: str, reason: str) -> None:
    out = read_answer(raw, SETTINGS)
    assert (out.fault, out.reason, out.output) == (fault, reason, None)


def test_usage_with_nulls_counts_zero() -> None:
    raw = json.dumps({"choices": [{"message": {"content": "ok"}}],
                      "usage": {"prompt_tokens": None, "completion_tokens": 4}}).encode()
    out = read_answer(raw, SETTINGS)
    assert (out.output, out.tokens_in, out.tokens_out) == ("ok", 0, 4)
