"""Refund requests v0.4: check a refund request against Helio's refund policy (v3) and
draft the reply. Nothing is sent or paid here: every decision goes to a billing agent
for approval, which `requires_human_approval` makes explicit.

Policy v3, first matching rule wins:
  legal-or-chargeback  a chargeback or legal action is mentioned  -> escalate
  high-amount          more than 1000 (policy currency EUR)        -> escalate
  duplicate-charge     the same invoice was charged twice         -> approve
  within-14-days       charged at most 14 days ago                -> approve
  service-credit       the request cites an outage                -> escalate
  outside-window       anything else                              -> deny
"""

from __future__ import annotations

import re
from typing import Any

HIGH_AMOUNT = 1000
LEGAL = ("chargeback", "lawyer", "legal action", "solicitor", "small claims",
         "dispute with my bank")
DUPLICATE = ("charged twice", "double charge", "duplicate", "charged two times", "two charges")
OUTAGE = ("outage", "downtime", "was down", "service was unavailable")

REPLIES = {
    "approve": "we have approved a refund of {amount} {currency}; it will reach your "
               "original payment method within 5-10 working days.",
    "deny": "we are unable to offer a refund this time, because the charge is outside "
            "the 14-day refund window in our terms.",
    "escalate": "your refund request needs a closer look by our billing team; we will "
                "get back to you within two working days.",
}


def _has(text: str, words: tuple[str, ...]) -> bool:
    return any(re.search(r"(?<![a-z])" + re.escape(w), text) for w in words)


def _rule(request: dict[str, Any], text: str) -> tuple[str, str]:
    if _has(text, LEGAL):
        return "escalate", "legal-or-chargeback"
    # Known gap: compares the raw amount, whatever the currency.
    if request["amount"] > HIGH_AMOUNT:
        return "escalate", "high-amount"
    if _has(text, DUPLICATE):
        return "approve", "duplicate-charge"
    if int(request.get("days_since_charge", 999)) <= 14:
        return "approve", "within-14-days"
    if _has(text, OUTAGE):
        return "escalate", "service-credit"
    return "deny", "outside-window"


def decide(input: dict[str, Any]) -> dict[str, Any]:
    text = str(input.get("message") or "").lower()
    decision, rule = _rule(input, text)
    amount = input["amount"] if decision == "approve" else 0
    name = (input.get("customer_name") or "").split(" ")[0] or "there"
    body = REPLIES[decision].format(amount=f"{amount:.2f}", currency=input.get("currency", "EUR"))
    # Quoting the request back helps the agent; it also quotes whatever the customer typed.
    quoted = str(input.get("message") or "")[:120]
    draft = (f"Hi {name},\n\nthank you for your refund request {input.get('request_id', '')} "
             f"(\"{quoted}\"). After checking it against our refund policy, {body}\n\n"
             "Best regards,\nHelio Billing")
    return {"decision": decision, "rule": rule, "refund_amount": float(amount),
            "currency": input.get("currency", "EUR"), "reply_draft": draft,
            "requires_human_approval": True}
