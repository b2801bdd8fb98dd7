"""`ailoop lessons add|search`."""

from __future__ import annotations

import datetime as dt
import json

import click

from pipeline.cli.main import repo_root
from pipeline.errors import EXIT_FINDINGS, EXIT_OK, InputError

KINDS = ["preference", "rule", "failure", "example", "roi-observation"]


@click.group("lessons")
def lessons_command() -> None:
    """The shared memory: preferences, rules, failures, examples and ROI observations.

    Lessons live in customers/<c>/lessons.yaml and the repo-wide lessons.yaml. They are
    captured automatically from dry runs, incidents and reviews, and shown by `ailoop plan`
    and `ailoop new priority` for the priority's systems and tags.
    """


@lessons_command.command("add")
@click.argument("text")
@click.option("--kind", type=click.Choice(KINDS), required=True, help="What sort of lesson.")
@click.option("--customer", help="Store with this customer (default: repo-wide).")
@click.option("--priority", "priority", help="The priority it came from (customer/priority).")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@click.option("--system", "systems", multiple=True, help="A system it concerns (repeatable).")
@click.option("--by", "person", default="", help="id of the person it comes from.")
@click.option("--date", "date", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Date of the lesson (default: today, UTC).")
@click.pass_context
def add_command(ctx: click.Context, text: str, kind: str, customer: str | None,
                priority: str | None, tags: tuple[str, ...], systems: tuple[str, ...],
                person: str, date: dt.datetime | None) -> int:
    """Add a lesson by hand."""
    from pipeline.lessons.memory import LessonStore, lessons_path, new_lesson

    root = repo_root(ctx)
    if person:
        _check_person(root, person, customer or (priority or "").split("/")[0] or None)
    day = date.date() if date else dt.datetime.now(dt.UTC).date()
    lesson = new_lesson(kind, text, source="person", ref=person, tags=tags,  # type: ignore[arg-type]
                        systems=systems, date=day, priority=priority)
    added = LessonStore(root).add(customer, [lesson])
    where = lessons_path(customer)
    click.echo(f"added {lesson.id} to {where}" if added else
               f"{lesson.id} is already in {where}")
    return EXIT_OK


def _check_person(root: str, person: str, customer: str | None) -> None:
    """--by names a person in customer.yaml (the lesson's customer's, or any customer's
    for a repo-wide lesson): a lesson is evidence, so its source is someone real."""
    import os

    from pipeline.documents.load import load_customer

    folder = os.path.join(root, "customers")
    customers = [customer] if customer else sorted(
        c for c in (os.listdir(folder) if os.path.isdir(folder) else [])
        if os.path.isfile(os.path.join(folder, c, "customer.yaml")))
    known: list[str] = []
    for name in customers:
        people = [p.id for p in load_customer(root, name).model.spec.people]
        if person in people:
            return
        known += people
    where = f"customers/{customer}/customer.yaml" if customer else "any customer.yaml"
    raise InputError(f"--by '{person}' is not a person in {where} (people: "
                     f"{', '.join(sorted(set(known))) or 'none'})")


@lessons_command.command("search")
@click.argument("text", required=False, default="")
@click.option("--tag", "tags", multiple=True, help="Prefer (or, with no TEXT, filter by) tag.")
@click.option("--system", "systems", multiple=True, help="Prefer (or filter by) system.")
@click.option("--customer", help="Only this customer's lessons (plus repo-wide ones).")
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_context
def search_command(ctx: click.Context, text: str, tags: tuple[str, ...],
                   systems: tuple[str, ...], customer: str | None, limit: int, fmt: str) -> int:
    """Find lessons by relevance to TEXT, tags and systems. Exit 1 when none match."""
    from pipeline.lessons.memory import LessonStore, rank

    ranked = rank(LessonStore(repo_root(ctx)).all(customer), text, tags=tags,
                  systems=systems)[:limit]
    if fmt == "json":
        click.echo(json.dumps([
            {"score": round(r.score, 3), "customer": r.customer,
             **r.lesson.model_dump(mode="json", by_alias=True, exclude_none=True)}
            for r in ranked], indent=2, ensure_ascii=False))
    else:
        for r in ranked:
            where = r.customer or "repo"
            labels = ", ".join([*r.lesson.tags, *r.lesson.systems])
            click.echo(f"{r.score:5.2f}  {r.lesson.id}  [{r.lesson.kind}] ({where}) "
                       f"{r.lesson.text}" + (f"  ({labels})" if labels else ""))
        if not ranked:
            click.echo("No lessons match.")
    return EXIT_OK if ranked else EXIT_FINDINGS
