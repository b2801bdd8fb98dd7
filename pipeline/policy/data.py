"""The document data policies judge: the model as plain values, durations kept."""

from __future__ import annotations

import functools
import types
import typing
from datetime import timedelta
from typing import Any

from pydantic import BaseModel


def plain(model: BaseModel) -> dict[str, Any]:
    """Like model_dump(by_alias=True), but durations stay timedelta values (CEL durations):
    the models serialise them as text such as '24h', which rules could not compare.
    model_dump is fast; the duration fields are then put back from the model."""
    data = model.model_dump(by_alias=True)
    for path in _duration_paths(type(model)):
        _restore(model, data, path)
    return data


def _restore(value: Any, data: Any, path: tuple[tuple[str, str], ...]) -> None:
    (name, alias), rest = path[0], path[1:]
    if value is None or data is None:
        return
    if name == "*":
        for item, item_data in zip(value, data, strict=True):
            _restore(item, item_data, rest)
    elif not rest:
        data[alias] = getattr(value, name)
    else:
        _restore(getattr(value, name), data[alias], rest)


@functools.cache
def _duration_paths(model: type[BaseModel]) -> tuple[tuple[tuple[str, str], ...], ...]:
    out: list[tuple[tuple[str, str], ...]] = []
    for name, info in model.model_fields.items():
        step = (name, info.alias or name)
        for sub in _annotation_paths(info.annotation):
            out.append((step, *sub))
    return tuple(out)


def _annotation_paths(ann: Any) -> list[tuple[tuple[str, str], ...]]:
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if ann is timedelta:
        return [()]
    if origin is typing.Annotated:
        return _annotation_paths(args[0])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        return _annotation_paths(members[0]) if len(members) == 1 else []
    if origin is list:
        return [(("*", "*"), *p) for p in _annotation_paths(args[0])]
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return list(_duration_paths(ann))
    return []


def plain_values(value: Any) -> Any:
    """The slow, general walk (kept for models whose durations sit inside unions)."""
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        return {(f.alias or name): plain_values(getattr(value, name))
                for name, f in fields.items()}
    if isinstance(value, list | tuple):
        return [plain_values(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain_values(v) for k, v in value.items()}
    return value
