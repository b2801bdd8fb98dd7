"""kind: Customer, the people, their roles and how to reach them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pipeline.model.base import Int, Metadata, Model, Name, Role


class Person(Model):
    id: Name = Field(description="Short handle used to refer to this person (owner, approvals).")
    name: str
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    github: str | None = Field(None, pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$",
                               description="GitHub login; reviews by it count for the roles.")
    github_id: Int | None = Field(
        None, ge=1, description="GitHub's numeric account id for the login: a review counts "
        "only when it comes from this account (`ailoop people github-ids` fills it in).")
    roles: list[Role] = Field(default_factory=list)
    signing_key: str | None = Field(
        None, description="SSH public key (e.g. 'ssh-ed25519 AAAA...') for signed approvals."
    )


class Notification(Model):
    channel: Literal["email", "slack", "teams", "none"] = "email"
    target: str = Field("", description="Address, channel or webhook name updates go to.")


class CustomerSpec(Model):
    display_name: str
    people: list[Person] = Field(min_length=1)
    notification: Notification = Field(default_factory=Notification)
    language: str = "en"


class Customer(Model):
    api_version: Literal["ailoop.dev/v1"]
    kind: Literal["Customer"]
    metadata: Metadata
    spec: CustomerSpec
