"""kind: Customer, the people, their roles and how to reach them."""

import re
from typing import Literal

from pydantic import Field, field_validator

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


ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"


class Notification(Model):
    channel: Literal["email", "slack", "teams", "webhook", "none"] = Field(
        "email", description="Where the customer's notifications go; none: the outbox folder.")
    target: str = Field("", description="The e-mail address (channel email), or a name for "
                        "the channel or webhook shown in messages.")
    url_env: str | None = Field(
        None, pattern=ENV_NAME, description="slack, teams, webhook: the environment variable "
        "holding the webhook URL (a secret: never in the repository).")
    secret_env: str | None = Field(
        None, pattern=ENV_NAME, description="webhook: the environment variable holding the "
        "HMAC-SHA256 key that signs each delivery (header X-Ailoop-Signature).")


class CustomerSpec(Model):
    display_name: str
    people: list[Person] = Field(min_length=1)
    notification: Notification = Field(default_factory=Notification)
    language: str = Field(
        "en", description="The language of the customer's updates and "
        "notifications: en, de or fr (another code reads English, with a validation warning).")


    @field_validator("language")
    @classmethod
    def _language_code(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z]{2,3}", value):
            raise ValueError(f"'{value}' is not a language code; write a two-letter ISO 639 "
                             "code such as en, de or fr")
        return value


class Customer(Model):
    api_version: Literal["ailoop.dev/v1"]
    kind: Literal["Customer"]
    metadata: Metadata
    spec: CustomerSpec
