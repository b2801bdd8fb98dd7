"""kind: HumanReview, a sample of a candidate's outputs that people label (`ailoop sample`).

`ailoop sample` writes it with every label empty; reviewers fill `label` and `note` and
commit it the way they approve (a signed commit, or a pull request the role approves). Its
labels count for the stage's `humanReview` gate only for the evidence id it names."""

from typing import Literal

from pydantic import AwareDatetime, Field

from pipeline.model.base import Int, JsonValue, Metadata, Model

Label = Literal["correct", "wrong"]


class ReviewItem(Model):
    case_id: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    source: Literal["dry-run", "shadow", "production"]
    input: JsonValue = Field(None, description="The case's input, redacted.")
    output: JsonValue = Field(None, description="What the candidate answered, redacted.")
    automated_verdict: Literal["passed", "failed", "none"] = Field(
        description="The trusted dry run's verdict; none for a trace (a trace agrees when "
        "it is labelled correct).")
    label: Label | None = Field(None, description="A reviewer's judgement: correct or wrong.")
    note: str = ""


class HumanReviewSpec(Model):
    priority: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    stage: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    evidence_id: str = Field(pattern=r"^ev-[0-9a-f]+$",
                             description="The candidate's fingerprint the labels are bound to.")
    sampled_at: AwareDatetime
    seed: Int = 0
    sampled: str = Field("", description="What was drawn from what (for the reader).")
    items: list[ReviewItem] = Field(min_length=1)


class HumanReview(Model):
    api_version: Literal["ailoop.dev/v1"]
    kind: Literal["HumanReview"]
    metadata: Metadata
    spec: HumanReviewSpec
