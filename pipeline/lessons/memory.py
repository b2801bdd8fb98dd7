"""Shared memory: lessons per customer and repo-wide, captured automatically and ranked.

The core is pure: `rank` scores lessons against a query (BM25 over text, tags and systems,
with boosts for exact tag and system matches), and the `from_*` functions turn evidence,
incidents and reviews into lessons. `LessonStore` is the shell that reads and writes the
YAML files atomically.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.documents.layout import CUSTOMERS
from pipeline.documents.yamlio import dump_yaml, read_yaml
from pipeline.errors import InputError
from pipeline.fsio import write_atomic
from pipeline.model.lessons import Lesson, LessonKind, Lessons, LessonSource

REPO_LESSONS = "lessons.yaml"
_WORD = re.compile(r"[\w-]+", re.UNICODE)
_STOP = frozenset("a an and are as at be by for from in is it of on or the to with was were "
                  "this that not no when if then".split())
_K1, _B = 1.2, 0.75


def lessons_path(customer: str | None) -> str:
    return f"{CUSTOMERS}/{customer}/lessons.yaml" if customer else REPO_LESSONS


def lesson_id(kind: str, text: str, priority: str | None) -> str:
    """Content-derived id: capturing the same lesson twice keeps one copy."""
    digest = hashlib.sha256(f"{kind}\0{priority or ''}\0{text.strip().lower()}".encode())
    return f"L-{digest.hexdigest()[:10]}"


@functools.cache
def _stemmer() -> Any:
    import snowballstemmer  # type: ignore[import-untyped]  # ships no type hints

    return snowballstemmer.stemmer("english")


def _tokens(text: str) -> list[str]:
    """Lower-case words without stop words, stemmed (Snowball, English), so "routing"
    finds "routed" and "escalations" finds "escalate"."""
    words = [w for w in (m.lower() for m in _WORD.findall(text)) if w not in _STOP]
    stems: list[str] = _stemmer().stemWords(words)
    return stems


def _document(lesson: Lesson) -> list[str]:
    return _tokens(" ".join([lesson.text, *lesson.tags, *lesson.systems, lesson.kind]))


@dataclass(frozen=True)
class Ranked:
    score: float
    lesson: Lesson
    customer: str | None


def rank(
    lessons: Sequence[tuple[Lesson, str | None]],
    query: str = "",
    *,
    tags: Iterable[str] = (),
    systems: Iterable[str] = (),
) -> list[Ranked]:
    """Lessons that match, best first. Tags and systems filter when given with no query,
    and boost otherwise; ties break by newest date, then id."""
    words = _tokens(query)
    want_tags = {t.lower() for t in tags}
    want_systems = {s.lower() for s in systems}
    docs = [_document(lesson) for lesson, _ in lessons]
    idf = _idf(docs, words)
    average = (sum(len(d) for d in docs) / len(docs)) if docs else 1.0
    out = []
    for (lesson, customer), doc in zip(lessons, docs, strict=True):
        text_score = _bm25(doc, words, idf, average)
        tag_hits = len(want_tags & {t.lower() for t in lesson.tags})
        system_hits = len(want_systems & {s.lower() for s in lesson.systems})
        if words and text_score == 0 and not (tag_hits or system_hits):
            continue
        if not words and (want_tags or want_systems) and not (tag_hits or system_hits):
            continue
        out.append(Ranked(text_score + 1.5 * tag_hits + 1.5 * system_hits, lesson, customer))
    out.sort(key=lambda r: (-r.score, -r.lesson.date.toordinal(), r.lesson.id))
    return out


def _idf(docs: list[list[str]], words: list[str]) -> dict[str, float]:
    n = len(docs)
    frequency = Counter(w for d in docs for w in set(d))
    return {w: math.log(1 + (n - frequency[w] + 0.5) / (frequency[w] + 0.5)) for w in set(words)}


def _bm25(doc: list[str], words: list[str], idf: dict[str, float], average: float) -> float:
    counts = Counter(doc)
    score = 0.0
    for word in words:
        tf = counts.get(word, 0)
        if tf:
            norm = tf + _K1 * (1 - _B + _B * len(doc) / average)
            score += idf[word] * tf * (_K1 + 1) / norm
    return score


def new_lesson(
    kind: LessonKind, text: str, *, source: str, ref: str = "", tags: Iterable[str] = (),
    systems: Iterable[str] = (), date: dt.date, priority: str | None = None,
) -> Lesson:
    if not text.strip():
        raise InputError("a lesson needs some text")
    return Lesson(
        id=lesson_id(kind, text, priority), kind=kind, text=text.strip(),
        tags=sorted(set(tags)), systems=sorted(set(systems)),
        source=LessonSource(type=source, ref=ref),
        date=date, priority=priority,
    )


def from_failure_categories(
    priority: str, evidence_id: str, categories: dict[str, int], *, tags: Iterable[str],
    systems: Iterable[str], date: dt.date,
) -> list[Lesson]:
    """One `failure` lesson per dry-run failure category (what broke, how often)."""
    return [
        new_lesson("failure", f"Dry run of {priority} failed {count} case(s) on: {category}.",
                   source="evidence", ref=evidence_id, tags=tags, systems=systems, date=date,
                   priority=priority)
        for category, count in sorted(categories.items()) if count > 0
    ]


def from_incident(
    priority: str, name: str, summary: str, resolution: str, *, tags: Iterable[str],
    systems: Iterable[str], date: dt.date,
) -> Lesson:
    text = f"Incident {name}: {summary}"
    if resolution:
        text += f" Fixed by: {resolution}"
    return new_lesson("failure", text, source="incident", ref=name, tags=tags, systems=systems,
                      date=date, priority=priority)


def from_review(
    priority: str, observation: str, *, tags: Iterable[str], systems: Iterable[str],
    date: dt.date, ref: str = "",
) -> Lesson:
    return new_lesson("roi-observation", observation, source="review", ref=ref, tags=tags,
                      systems=systems, date=date, priority=priority)


class LessonStore:
    """Reads and writes lessons files in a repository."""

    def __init__(self, root: str) -> None:
        self.root = root

    def customers(self) -> list[str]:
        folder = os.path.join(self.root, CUSTOMERS)
        if not os.path.isdir(folder):
            return []
        return sorted(e.name for e in os.scandir(folder)
                      if e.is_dir(follow_symlinks=False) and not e.name.startswith("."))

    def load(self, customer: str | None) -> list[Lesson]:
        rel = lessons_path(customer)
        path = os.path.join(self.root, rel)
        if not os.path.exists(path):
            return []
        loaded = read_yaml(path, rel)
        try:
            return list(Lessons.model_validate(loaded.data).spec.lessons)
        except ValueError:
            raise InputError("lessons file is invalid; run `ailoop validate` for details",
                             path=rel) from None

    def all(self, customer: str | None = None) -> list[tuple[Lesson, str | None]]:
        """Repo-wide lessons plus those of one customer (or of every customer)."""
        scope = [customer] if customer else self.customers()
        out: list[tuple[Lesson, str | None]] = [(lesson, None) for lesson in self.load(None)]
        for name in scope:
            out.extend((lesson, name) for lesson in self.load(name))
        return out

    def add(self, customer: str | None, lessons: Iterable[Lesson]) -> list[Lesson]:
        """Append lessons not already stored (by id); returns the ones added."""
        if customer and not os.path.isfile(
                os.path.join(self.root, CUSTOMERS, customer, "customer.yaml")):
            raise InputError(f"unknown customer '{customer}'")
        existing = self.load(customer)
        known = {lesson.id for lesson in existing}
        # Lessons are committed and shown by plan, review and search: they store redacted
        # text only (an incident summary may quote a customer's e-mail or IBAN).
        added = [redacted(lesson) for lesson in lessons if lesson.id not in known]
        if added:
            self._write(customer, existing + added)
        return added

    def _write(self, customer: str | None, lessons: list[Lesson]) -> None:
        rel = lessons_path(customer)
        depth = rel.count("/")
        header = f"# yaml-language-server: $schema={'../' * depth}schemas/lessons.schema.json\n"
        doc = Lessons(api_version="ailoop.dev/v1", kind="Lessons",
                      metadata={"name": customer or "repository"},
                      spec={"lessons": lessons})
        data = doc.model_dump(mode="json", by_alias=True, exclude_none=True)
        write_atomic(os.path.join(self.root, rel), dump_yaml(data, header=header))


def redacted(lesson: Lesson) -> Lesson:
    from pipeline.redact import detectors_only

    redact = detectors_only()
    return lesson.model_copy(update={"text": redact.text(lesson.text)})


def relevant_for(root: str, key: str, limit: int = 5) -> list[Ranked]:
    """Lessons that apply to a priority: its customer's and the repo's, ranked by the
    priority's systems and tags, with its goal as the text query."""
    from pipeline.documents.load import load_document

    customer = key.split("/", 1)[0]
    doc, _ = load_document(root, f"{CUSTOMERS}/{key}/priority.yaml")
    if doc is None:
        return []
    spec = doc.model.spec
    systems = [s.name for s in spec.systems]
    try:
        pool = LessonStore(root).all(customer)
    except InputError:
        return []
    ranked = rank(pool, "", tags=spec.tags, systems=systems)
    if not ranked:
        ranked = rank(pool, spec.goal)
    return ranked[:limit]


def render_relevant(ranked: list[Ranked]) -> list[str]:
    return [f"  - [{r.lesson.kind}] {r.lesson.text}" for r in ranked]


def incident_lessons(root: str, key: str, names: list[str], now: dt.datetime) -> list[Lesson]:
    """Capture resolved incidents of a priority (summary and fix) as failure lessons."""
    from pipeline.documents.load import load_document

    folder = os.path.join(root, CUSTOMERS, key, "events")
    doc, _ = load_document(root, f"{CUSTOMERS}/{key}/priority.yaml")
    if doc is None or not os.path.isdir(folder):
        return []
    spec = doc.model.spec
    found = []
    for entry in sorted(os.listdir(folder)):
        event, _ = load_document(root, f"{CUSTOMERS}/{key}/events/{entry}")
        if event is None or event.kind != "Incident" or event.model.metadata.name not in names:
            continue
        found.append(from_incident(key, event.model.metadata.name, event.model.spec.summary,
                                   event.model.spec.resolution, tags=spec.tags,
                                   systems=[s.name for s in spec.systems], date=now.date()))
    try:
        return LessonStore(root).add(key.split("/", 1)[0], found)
    except InputError:
        return []
