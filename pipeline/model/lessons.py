"""kind: Lessons, the shared memory of a customer (or of the whole repo)."""

import datetime as dt
from typing import Literal

from pydantic import Field

from pipeline.model.base import Metadata, Model

LessonKind = Literal["preference", "rule", "failure", "example", "roi-observation"]


class LessonSource(Model):
    type: Literal["evidence", "incident", "review", "person"]
    ref: str = ""


class Lesson(Model):
    id: str
    kind: LessonKind
    text: str
    tags: list[str] = Field(default_factory=list)
    systems: list[str] = Field(default_factory=list)
    source: LessonSource
    date: dt.date
    priority: str | None = None


class LessonsSpec(Model):
    lessons: list[Lesson] = Field(default_factory=list)


class Lessons(Model):
    api_version: Literal["ailoop.dev/v1"]
    kind: Literal["Lessons"]
    metadata: Metadata
    spec: LessonsSpec = Field(default_factory=LessonsSpec)
