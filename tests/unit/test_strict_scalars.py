"""Every boolean, number and enum field of every kind takes only what YAML 1.2 writes for
it: `no`, `off`, `n`, `'false'` and `'0'` are not False, the text `'5'` is not 5."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from pipeline.model import KINDS
from pipeline.model.scalars import PlainScalar

Field = tuple[str, Any]


def _leaves(model: type[BaseModel], path: str, seen: set[type]) -> Iterator[Field]:
    if model in seen:
        return
    seen.add(model)
    for name, info in model.model_fields.items():
        yield from _walk(info.annotation, info.metadata, f"{path}.{name}", seen)


def _walk(annotation: Any, metadata: list[Any], path: str, seen: set[type]) -> Iterator[Field]:
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield from _leaves(annotation, path, seen)
    elif origin in (typing.Union, types.UnionType, list, dict):
        for arg in typing.get_args(annotation):
            yield from _walk(arg, [], path, seen)
    elif annotation in (bool, int, float) or origin is Literal or \
            typing.get_origin(annotation) is typing.Annotated:
        yield path, typing.Annotated[annotation, *metadata] if metadata else annotation


FIELDS = sorted({(path, repr(t)): (path, t) for kind, model in KINDS.items()
                 for path, t in _leaves(model, kind, set())}.values(), key=lambda f: f[0])


def _base(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _accepts(annotation: Any, value: Any) -> bool:
    try:
        TypeAdapter(annotation).validate_python(value)
    except ValidationError:
        return False
    return True


def test_every_kind_has_boolean_number_and_enum_fields_to_walk() -> None:
    kinds = {_base(t) for _, t in FIELDS}
    assert bool in kinds and int in kinds and float in kinds
    assert any(typing.get_origin(k) is Literal for k in kinds)


@pytest.mark.parametrize("path, annotation", [f for f in FIELDS if _base(f[1]) is bool],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_booleans_are_only_true_and_false(path: str, annotation: Any) -> None:
    assert _accepts(annotation, PlainScalar("true")) and _accepts(annotation, False)
    for lax in ("no", "off", "n", "yes", "on", "0", "1"):
        assert not _accepts(annotation, PlainScalar(lax)), f"{path} took {lax}"
    assert not _accepts(annotation, "false"), f"{path} took the quoted text 'false'"


@pytest.mark.parametrize("path, annotation", [f for f in FIELDS if _base(f[1]) in (int, float)],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_numbers_are_written_as_numbers(path: str, annotation: Any) -> None:
    assert not _accepts(annotation, "5"), f"{path} took the quoted text '5'"
    assert not _accepts(annotation, PlainScalar("5%")), f"{path} took 5%"
    assert not _accepts(annotation, True), f"{path} took a boolean"


@pytest.mark.parametrize("path, annotation",
                         [f for f in FIELDS if typing.get_origin(_base(f[1])) is Literal],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_enums_take_only_their_members(path: str, annotation: Any) -> None:
    members = typing.get_args(_base(annotation))
    assert all(_accepts(annotation, PlainScalar(str(m))) for m in members if isinstance(m, str))
    assert not _accepts(annotation, PlainScalar("no-such-member")), path
