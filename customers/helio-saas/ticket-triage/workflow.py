"""Ticket triage v2.3: route a support ticket to a queue and set its priority.

Released to a quarter of Helio's support traffic. Deterministic keyword rules, so an
agent can always see why a ticket landed where it did (the `reason` field). v2.3 added
German outage and duplicate-charge words after a missed P1 from a German customer.
"""

from __future__ import annotations

import re
from typing import Any

# Checked in this order: the first queue with a hit wins, so security beats everything.
QUEUES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("security", ("hacked", "compromised", "unauthori", "phishing", "data leak",
                  "suspicious login", "someone else logged", "vulnerability", "exposed")),
    ("billing", ("invoice", "charged", "charge", "refund", "payment", "receipt", "vat",
                 "billing", "credit card", "card was", "rechnung", "factura", "facture")),
    ("account", ("password", "log in", "login", "sso", "seat", "locked out", "2fa",
                 "two-factor", "delete my account", "email address", "add a user",
                 "remove a user", "passwort", "contraseña", "mot de passe")),
    ("sales", ("upgrade", "quote", "pricing", "enterprise plan", "discount", "procurement",
               "annual plan", "demo", "trial extension")),
    ("technical", ("error", "bug", "500", "crash", "slow", "api", "webhook", "not loading",
                   "outage", "timeout", "export", "integration", "sync", "broken", "fehler")),
)
OUTAGE = ("down for everyone", "outage", "all users", "production is down", "nobody can",
          "completely down", "not loading for anyone", "niemand", "ausgefallen")


def _hits(text: str, words: tuple[str, ...]) -> list[str]:
    return [w for w in words if re.search(r"(?<![a-z])" + re.escape(w), text)]


def _queue(text: str) -> tuple[str, list[str]]:
    for queue, words in QUEUES:
        hits = _hits(text, words)
        if hits:
            return queue, hits
    return "technical", []


def _priority(queue: str, text: str, plan: str) -> str:
    if queue == "security" or _hits(text, OUTAGE):
        return "p1"
    if queue == "technical" and plan == "enterprise":
        return "p2"
    if queue == "billing" and _hits(text, ("twice", "double", "duplicate", "doppelt")):
        return "p2"
    return "p3"


def route(input: dict[str, Any]) -> dict[str, Any]:
    text = f"{input.get('subject') or ''}\n{input.get('body') or ''}".lower()
    queue, hits = _queue(text)
    priority = _priority(queue, text, (input.get("plan") or "").lower())
    confidence = min(0.5 + 0.15 * len(hits), 0.95) if hits else 0.3
    reason = f"{queue}/{priority}: " + (", ".join(hits) if hits else "no keywords; default queue")
    return {"queue": queue, "priority": priority, "confidence": round(confidence, 2),
            "reason": reason[:200]}
