"""The declarative model: one pydantic class per kind."""

from __future__ import annotations

from pipeline.model.base import API_VERSION, Model
from pipeline.model.customer import Customer, Person
from pipeline.model.events import Feedback, Incident, ReviewRequest
from pipeline.model.lessons import Lesson, Lessons
from pipeline.model.policy import Policy, Waiver
from pipeline.model.priority import Priority
from pipeline.model.project import Project
from pipeline.model.status import Status

KINDS: dict[str, type[Model]] = {
    "Project": Project,
    "Customer": Customer,
    "Priority": Priority,
    "Feedback": Feedback,
    "Incident": Incident,
    "ReviewRequest": ReviewRequest,
    "Status": Status,
    "Policy": Policy,
    "Waiver": Waiver,
    "Lessons": Lessons,
}

__all__ = [
    "API_VERSION",
    "KINDS",
    "Customer",
    "Feedback",
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
