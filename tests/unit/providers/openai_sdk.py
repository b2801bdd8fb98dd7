"""Request bodies checked against the official `openai` Python SDK's request types.

`CompletionCreateParamsNonStreaming` is a TypedDict: pydantic validates it, and with
extra="forbid" a field the SDK does not know (a misspelling, a made-up option) fails too.
The SDK types `messages` as an Iterable, which pydantic validates lazily: consuming it is
what checks each message.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config


@cache
def _adapter() -> TypeAdapter[Any]:
    from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

    @with_config(ConfigDict(extra="forbid"))
    class StrictParams(CompletionCreateParamsNonStreaming):
        pass

    return TypeAdapter(StrictParams)


def request_problems(body: dict[str, Any]) -> list[str]:
    """What the SDK's types refuse in a chat-completions request body ([] when valid)."""
    try:
        checked = _adapter().validate_python(body)
    except ValidationError as e:
        return _explained(e, "")
    try:
        list(checked["messages"])
    except ValidationError as e:
        return _explained(e, "messages.")
    return []


def _explained(error: ValidationError, prefix: str) -> list[str]:
    return [f"{prefix}{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in error.errors()]
