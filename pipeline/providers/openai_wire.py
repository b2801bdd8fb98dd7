"""The chat-completions wire format: the request ailoop sends, and what an answer or an
error means. Pure: the transport and the retry loop are in openai.py.

Field names and error codes follow OpenAI's API reference and error-code guide; the tests
check every request body against the official `openai` SDK's request types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pipeline.model.priority import OpenAISettings
from pipeline.providers.base import EMPTY, HTTP_ERROR, REFUSAL, TOOL_CALLS, CaseOutput, failed

# Spec fields sent as the API parameter of the same (snake_case) name, only when set.
SAMPLING = ("temperature", "top_p", "seed", "max_tokens", "max_completion_tokens",
            "presence_penalty", "frequency_penalty", "stop")

# Errors after which no later request can succeed either (the key, the account, the model):
# the remaining cases fail with the same reason instead of each asking again.
_ACCOUNT_CODES = frozenset({"invalid_api_key", "insufficient_quota", "model_not_found"})


def request_body(settings: OpenAISettings, messages: list[dict[str, str]]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": settings.model, "messages": messages}
    for name in SAMPLING:
        value = getattr(settings, name)
        if value is not None:
            body[name] = value
    return body


def sampling(settings: OpenAISettings) -> dict[str, Any]:
    """The sampling parameters set, by their spec (camelCase) names: for describe()."""
    fields = OpenAISettings.model_fields
    return {fields[name].alias or name: getattr(settings, name)
            for name in SAMPLING if getattr(settings, name) is not None}


@dataclass(frozen=True)
class ApiError:
    """An HTTP error answer, as OpenAI documents it: {"error": {message, type, param, code}}."""

    status: int
    message: str = ""
    type: str = ""
    param: str = ""
    code: str = ""

    @property
    def retryable(self) -> bool:
        """Rate limits and server errors may pass on a later attempt; a request the server
        refuses (400, 401, 403, 404, 422) or an account with no quota never will."""
        if self.status == 429:
            return "insufficient_quota" not in (self.code, self.type)
        return self.status == 408 or self.status >= 500

    @property
    def for_every_case(self) -> bool:
        # 404: no such model (or no such endpoint, a wrong baseUrl) for any case.
        return (self.status in (401, 403, 404) or self.code in _ACCOUNT_CODES
                or self.type in _ACCOUNT_CODES)

    def reason(self, attempts: int = 1) -> str:
        what = f"HTTP {self.status}"
        # Some servers (LiteLLM's proxy) put the status itself in `code`: the type says more.
        label = self.type if self.code.isdigit() else self.code or self.type
        if label:
            what += f" {label}"
        if self.param:
            what += f" ({self.param})"
        if attempts > 1:
            what += f" after {attempts} attempts"
        return f"{what}: {self.message}" if self.message else what


def read_error(status: int, raw: bytes) -> ApiError:
    try:
        error = json.loads(raw)["error"]
    except (ValueError, KeyError, TypeError, IndexError):
        return ApiError(status)
    if not isinstance(error, dict):  # some servers answer {"error": "text"}
        return ApiError(status, _text(error))
    return ApiError(status, _text(error.get("message")), _text(error.get("type")),
                    _text(error.get("param")), _text(error.get("code")))


def _text(value: object, limit: int = 300) -> str:
    """One line (a reason is one line in every report), at most `limit` characters."""
    return "" if value is None else " ".join(str(value).split())[:limit]


def read_answer(raw: bytes, settings: OpenAISettings) -> CaseOutput:
    """A 200 answer -> the text, or a fault naming why there is none. Tokens are counted
    either way: a refusal is paid for too."""
    try:
        data = json.loads(raw)
        choice = data["choices"][0]
        message = choice["message"]
        usage = data.get("usage") or {}
        tokens_in = int(usage.get("prompt_tokens") or 0)
        tokens_out = int(usage.get("completion_tokens") or 0)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return failed(HTTP_ERROR, "the endpoint's answer is not a chat completion")
    cost = (tokens_in * settings.cost_per_1k_input_tokens
            + tokens_out * settings.cost_per_1k_output_tokens) / 1000
    fault, reason = _no_text(message, choice.get("finish_reason"))
    return CaseOutput(output=None if fault else message["content"], fault=fault,
                      reason=reason, tokens_in=tokens_in, tokens_out=tokens_out, cost=cost)


def _no_text(message: Any, finish_reason: object) -> tuple[str, str]:
    """('', '') when the message has text; else the fault and its reason."""
    if not isinstance(message, dict):
        return HTTP_ERROR, "the endpoint's answer is not a chat completion"
    if message.get("refusal"):
        return REFUSAL, f"the model refused: {_text(message['refusal'])}"
    content = message.get("content")
    if isinstance(content, str) and content:
        return "", ""
    calls = message.get("tool_calls") or ([message["function_call"]]
                                          if message.get("function_call") else [])
    if calls:
        names = ", ".join(sorted({_tool_name(c) for c in calls}))
        return TOOL_CALLS, (f"the model called a tool ({names}) instead of answering with "
                            "text; ailoop offers no tools")
    if content is not None and not isinstance(content, str):
        return HTTP_ERROR, "the chat completion's content is not text"
    why = "content is null; " if content is None else ""
    finish = f"finish_reason: {finish_reason}"
    if finish_reason == "length":
        finish += ": the token limit was reached first; raise maxCompletionTokens"
    elif finish_reason == "content_filter":
        finish += ": the provider's content filter withheld the answer"
    return EMPTY, f"the answer has no text ({why}{finish})"


def _tool_name(call: Any) -> str:
    if isinstance(call, dict):
        function = call.get("function")
        name = function.get("name") if isinstance(function, dict) else call.get("name")
        if name:
            return _text(name, 80)
    return "unnamed"
