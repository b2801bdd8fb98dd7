"""Claims intake v1.1: classify a first-notice-of-loss e-mail by claim type and urgency.

Rule based and offline on purpose: it is the baseline the AI workflow has to beat, and
its behaviour is easy to explain to claims handlers. Keywords are matched at word starts
on the lower-cased subject and body; the claim type with the most hits wins.

v1.1 adds the German keywords: about a fifth of Northwind's FNOL e-mails are in German
and v1.0 sent every one of them to 'other', including urgent injury claims.
"""

from __future__ import annotations

import re
from typing import Any

CLAIM_KEYWORDS: dict[str, tuple[str, ...]] = {
    "motor": ("car", "vehicle", "collision", "windscreen", "windshield", "bumper",
              "rear-ended", "motorway", "parking", "car park", "headlight", "bonnet",
              "drivable", "hit a deer", "accident", "crash",
              "auto", "unfall", "aufgefahren", "fahrzeug", "windschutzscheibe", "stoßstange"),
    "property": ("burst", "pipe", "flood", "fire", "roof", "burglary", "break-in",
                 "forced open", "storm", "ceiling", "subsidence", "basement", "kitchen",
                 "boiler", "contents policy", "laptop",
                 "wasserschaden", "rohr", "wohnung", "brand", "feuer", "einbruch", "sturm",
                 "dach", "keller"),
    "liability": ("neighbour", "third party", "slipped", "tripped", "visitor", "claim against",
                  "bit a", "bit ",
                  "asking us to pay", "asking for their damage", "their parents",
                  "solicitor", "sued",
                  "nachbar", "haftpflicht", "schadenersatz"),
    "travel": ("flight", "luggage", "baggage", "suitcase", "holiday", "hotel", "trip",
               "passport", "abroad", "connecting",
               "flug", "gepäck", "koffer", "reise", "urlaub"),
}

URGENT_KEYWORDS: tuple[str, ...] = (
    "injured", "injury", "injuries", "hospital", "ambulance", "a&e", "bleeding",
    "uninhabitable", "emergency", "stranded", "still running", "pouring", "no heating",
    "gas leak", "urgent", "asap",
    "verletzt", "krankenhaus", "notarzt", "dringend", "notfall", "unbewohnbar",
    "läuft", "gestrandet",
)


def _hits(text: str, keywords: tuple[str, ...]) -> list[str]:
    return [k for k in keywords if re.search(r"(?<![a-z])" + re.escape(k), text)]


def _claim_type(text: str) -> tuple[str, list[str]]:
    best, best_hits = "other", []
    for claim_type, keywords in CLAIM_KEYWORDS.items():
        hits = _hits(text, keywords)
        if len(hits) > len(best_hits):
            best, best_hits = claim_type, hits
    return best, best_hits


def triage(input: dict[str, Any]) -> dict[str, Any]:
    # A body of null (attachment-only e-mails) is a known gap: it raises TypeError.
    text = (input.get("subject", "") + "\n" + input["body"]).lower()
    claim_type, type_hits = _claim_type(text)
    urgent_hits = _hits(text, URGENT_KEYWORDS)
    urgency = "urgent" if urgent_hits else "normal"
    reason = f"{claim_type}: matched {', '.join(type_hits) or 'no claim keywords'}"
    if urgent_hits:
        reason += f"; urgent because of {', '.join(urgent_hits)}"
    return {"claim_type": claim_type, "urgency": urgency, "reason": reason[:200]}
