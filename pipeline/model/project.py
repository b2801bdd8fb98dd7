"""kind: Project, the repository-wide settings in ailoop.yaml."""

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from pipeline.i18n import known_time_zone
from pipeline.model.base import Bool, Duration, Float, Int, Metadata, Model

# An OpenSSH public key line: type, base64 and an optional comment.
SSH_PUBLIC_KEY = r"^(sk-)?(ssh|ecdsa)-[a-z0-9@.-]+ [A-Za-z0-9+/]+=* ?[^\n]*$"


class BotIdentity(Model):
    name: str = "ailoop-bot"
    email: str = "ailoop-bot@users.noreply.github.com"
    signing_key: str | None = Field(
        None, pattern=SSH_PUBLIC_KEY,
        description="The bot's SSH public key ('ssh-ed25519 AAAA... ailoop-bot'). Every "
        "reconciler and review commit is signed with its private half (the CI secret "
        "AILOOP_BOT_SIGNING_KEY); status.yaml is trusted only when a commit signed with it "
        "wrote it. `ailoop init` generates the pair.")
    previous_signing_keys: list[Annotated[str, StringConstraints(pattern=SSH_PUBLIC_KEY)]] = \
        Field(default_factory=list, description="Bot keys before a rotation: statuses they "
              "signed stay trusted while listed. Remove a key at once if it leaked.")


class ApprovalSettings(Model):
    source: Literal["github", "git-signed", "file"] = Field(
        "git-signed",
        description="Where approvals come from: GitHub PR reviews, signed git approval "
        "commits, or approval files (tests and air-gapped setups).",
    )
    github_api_url: str = "https://api.github.com"
    allowed_signers_file: str = ".ailoop/allowed_signers"


class FileMonitoring(Model):
    path: str = Field(description="JSONL file of per-request events or per-interval aggregates.")


class PrometheusMonitoring(Model):
    url: str
    timeout_seconds: Float = Field(10.0, gt=0, le=120)
    step: Duration = Field(
        default_factory=lambda: timedelta(minutes=1),
        description="Resolution of range queries: one point (one observation) per step.")


class MonitoringSettings(Model):
    provider: Literal["file", "prometheus"] = "file"
    file: FileMonitoring | None = None
    prometheus: PrometheusMonitoring | None = None
    max_staleness: Duration = Field(
        default_factory=lambda: timedelta(minutes=15),
        description="Readings older than this count as missing (the gate holds).",
    )
    traces: str | None = Field(
        None, description="The JSONL file ailoop-runtime's TraceStore writes, relative to "
        "the repository (production data: not committed, like the file provider's "
        "readings). Updates and the PR comment summarise the shadow runs' disagreements "
        "from it.")


class SmtpSettings(Model):
    host: str
    port: Int = Field(587, ge=1, le=65535)
    starttls: Bool = Field(True, description="Upgrade the connection with STARTTLS (port "
                           "587); false only for a relay on the same host.")
    username_env: str | None = Field(None, pattern=r"^[A-Z_][A-Z0-9_]*$",
                                     description="Environment variable with the SMTP user.")
    password_env: str | None = Field(None, pattern=r"^[A-Z_][A-Z0-9_]*$",
                                     description="Environment variable with its password.")
    sender: str = Field(alias="from", description="The From address.")
    timeout_seconds: Float = Field(15.0, gt=0, le=120)


class NotificationSettings(Model):
    smtp: SmtpSettings | None = Field(None, description="The mail server for e-mail "
                                      "notifications (to people, and to e-mail channels).")
    outbox: str = Field(".ailoop/outbox", description="Folder for notifications no channel "
                        "can take (none configured): one JSON file each.")


class ProjectSpec(Model):
    time_zone: str = Field("UTC", description="IANA time zone (e.g. Europe/Berlin) of the "
                           "dates and times in customer updates.")
    bot: BotIdentity = Field(default_factory=BotIdentity)
    approvals: ApprovalSettings = Field(default_factory=ApprovalSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    notifications: NotificationSettings | None = Field(
        None, description="Send notifications after each pushed state change (README: "
        "'Notifications'); none: nothing is sent.")
    min_bake_time_high_risk: Duration = Field(
        default_factory=lambda: timedelta(hours=24),
        description="Minimum bake time per stage for high and critical risk (raise only).",
    )


    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if not known_time_zone(value):
            raise ValueError(f"unknown time zone '{value}': use an IANA name such as "
                             "Europe/Berlin or UTC")
        return value


class Project(Model):
    api_version: Literal["ailoop.dev/v1"]
    kind: Literal["Project"]
    metadata: Metadata
    spec: ProjectSpec = Field(default_factory=ProjectSpec)
