"""Delivering one notice: e-mail over SMTP (STARTTLS and auth, plain text and HTML), Slack
and Microsoft Teams incoming webhooks in their documented payloads, a generic webhook signed
with HMAC-SHA256, and the outbox folder when nothing else is configured. Every send is one
attempt with a timeout (HTTP: a few quick retries); a failure raises DeliveryError and the
notice is tried again on the next run."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import os
import smtplib
import ssl
import time
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

from pipeline.fsio import write_atomic
from pipeline.model.project import SmtpSettings
from pipeline.notify.notices import Notice

SIGNATURE = "X-Ailoop-Signature"
_RETRIES = 3


class DeliveryError(Exception):
    """A notice could not be delivered now (it is retried on the next run)."""


def send_email(smtp: SmtpSettings, notice: Notice, to: tuple[str, ...],
               env: Mapping[str, str]) -> None:
    message = EmailMessage()
    message["Subject"] = f"[ailoop] {notice.subject}"
    message["From"] = smtp.sender
    message["To"] = ", ".join(to)
    message["Message-ID"] = f"<{notice.id}@ailoop>"  # the same notice, the same id
    message["X-Ailoop-Id"] = notice.id
    message.set_content(notice.text)
    message.add_alternative(_html(notice), subtype="html")
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds) as server:
            if smtp.starttls:
                server.starttls(context=ssl.create_default_context())
            if smtp.username_env:
                server.login(_env(env, smtp.username_env), _env(env, smtp.password_env or ""))
            server.send_message(message)
    except (OSError, smtplib.SMTPException) as e:
        raise DeliveryError(f"e-mail to {', '.join(to)} via {smtp.host}:{smtp.port}: "
                            f"{type(e).__name__}: {e}") from None


def _html(notice: Notice) -> str:
    paragraphs = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>"
                         for p in notice.text.split("\n\n") if p.strip())
    return (f"<!doctype html><html lang='{notice.language}'><body>"
            f"<h2>{html.escape(notice.subject)}</h2>"
            f"{paragraphs}</body></html>")


def slack_payload(notice: Notice) -> dict[str, Any]:
    """Slack incoming webhook: `text` (the fallback) and one section block (mrkdwn)."""
    return {"text": f"{notice.subject}\n{notice.text}",
            "blocks": [{"type": "header", "text": {"type": "plain_text",
                                                   "text": notice.subject[:150]}},
                       {"type": "section", "text": {"type": "mrkdwn",
                                                    "text": notice.text[:3000]}}]}


def teams_payload(notice: Notice) -> dict[str, Any]:
    """Microsoft Teams incoming webhook (Workflows): a message with one Adaptive Card."""
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard", "version": "1.4",
            "body": [{"type": "TextBlock", "text": notice.subject, "weight": "Bolder",
                      "size": "Medium", "wrap": True},
                     {"type": "TextBlock", "text": notice.text, "wrap": True}]}
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
         "content": card}]}


def webhook_payload(notice: Notice) -> dict[str, Any]:
    return {"id": notice.id, "event": notice.event, "priority": notice.priority,
            "subject": notice.subject, "text": notice.text, "commit": notice.commit}


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """sha256=HEX of HMAC-SHA256(secret, "<timestamp>.<body>"): the receiver recomputes it
    and refuses a stale timestamp, so a captured delivery cannot be replayed later."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def post(url: str, payload: dict[str, Any], notice: Notice, secret: str | None = None,
         sleep: Any = time.sleep) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": notice.id,
               "X-Ailoop-Id": notice.id}
    import httpx  # here: most runs send nothing, and it costs ~60 ms to import

    for attempt in range(1, _RETRIES + 1):
        if secret is not None:
            stamp = str(int(time.time()))
            headers.update({"X-Ailoop-Timestamp": stamp,
                            SIGNATURE: signature(secret, stamp, body)})
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=10.0)
        except httpx.HTTPError as e:
            problem = f"{type(e).__name__}"
        else:
            if response.status_code < 300:
                return
            problem = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                break  # the receiver refuses it: retrying now will not help
        if attempt < _RETRIES:
            sleep(0.5 * 2 ** (attempt - 1))
    raise DeliveryError(f"webhook {_host(url)}: {problem}")


def write_outbox(folder: str, delivery: str, notice: Notice, route: str) -> None:
    record = {**webhook_payload(notice), "route": route, "to": list(notice.to)}
    write_atomic(os.path.join(folder, f"{delivery.replace(':', '-')}.json"),
                 json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def _host(url: str) -> str:
    import httpx

    return httpx.URL(url).host or "?"  # never the path: webhook URLs carry their secret


def _env(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise DeliveryError(f"the environment variable {name} is not set")
    return value
