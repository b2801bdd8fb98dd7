"""The declarative model: one pydantic class per kind.

The names below load on first use (PEP 562): `pipeline.model.scalars`, which the YAML
reader needs, then costs nothing more, and a run that parses no document (a warm
`validate`, `--help`) never imports pydantic and the models. `KINDS` too loads each
kind's classes when that kind is first asked for: a run over a few priorities never
builds the event, lesson and review models.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.model.base import API_VERSION, Model
    from pipeline.model.customer import Customer, Person
    from pipeline.model.events import Feedback, Incident, ReviewRequest
    from pipeline.model.lessons import Lesson, Lessons
    from pipeline.model.policy import Policy, Waiver
    from pipeline.model.priority import Priority
    from pipeline.model.project import Project
    from pipeline.model.review import HumanReview
    from pipeline.model.status import Status

    KINDS: Mapping[str, type[Model]]

# name -> the module under pipeline.model that defines it
_WHERE = {
    "API_VERSION": "base", "Model": "base", "Customer": "customer", "Person": "customer",
    "Feedback": "events", "Incident": "events", "ReviewRequest": "events",
    "Lesson": "lessons", "Lessons": "lessons", "Policy": "policy", "Waiver": "policy",
    "Priority": "priority", "Project": "project", "Status": "status",
    "HumanReview": "review",
}
_KINDS = ("Project", "Customer", "Priority", "Feedback", "Incident", "ReviewRequest", "Status",
          "Policy", "Waiver", "Lessons", "HumanReview")


class _Kinds(Mapping[str, Any]):
    """kind -> model class, each imported when first looked up."""

    def __getitem__(self, kind: str) -> Any:
        if kind not in _KINDS:
            raise KeyError(kind)
        return globals().get(kind) or __getattr__(kind)  # __getattr__ keeps what it loads

    def __contains__(self, kind: object) -> bool:
        return kind in _KINDS

    def __iter__(self) -> Iterator[str]:
        return iter(_KINDS)

    def __len__(self) -> int:
        return len(_KINDS)


def __getattr__(name: str) -> Any:
    if name == "KINDS":
        value: Any = _Kinds()
    elif name in _WHERE:
        value = getattr(importlib.import_module(f"pipeline.model.{_WHERE[name]}"), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # once: later lookups find it without this function
    return value


__all__ = [
    "API_VERSION",
    "KINDS",
    "Customer",
    "Feedback",
    "HumanReview",
    "Incident",
    "Lesson",
    "Lessons",
    "Model",
    "Person",
    "Policy",
    "Priority",
    "Project",
    "ReviewRequest",
    "Status",
    "Waiver",
]
