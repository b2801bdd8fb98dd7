"""JSON Schemas (draft 2020-12) generated from the models, one file per kind."""

from __future__ import annotations

import json
import os
import re

from pipeline.fsio import write_atomic
from pipeline.model import KINDS

SCHEMA_BASE = "https://ailoop.dev/schemas/"


def file_name(kind: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", kind).lower() + ".schema.json"


def render_schema(kind: str) -> str:
    schema = KINDS[kind].model_json_schema(by_alias=True, mode="validation")
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_BASE + file_name(kind),
        "title": f"ailoop {kind}",
        **{k: v for k, v in schema.items() if k != "title"},
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schemas(folder: str) -> list[str]:
    os.makedirs(folder, exist_ok=True)
    written = []
    for kind in sorted(KINDS):
        name = file_name(kind)
        write_atomic(os.path.join(folder, name), render_schema(kind))
        written.append(name)
    return written


def stale_schemas(folder: str) -> list[str]:
    stale = []
    for kind in sorted(KINDS):
        name = file_name(kind)
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as fh:
                current = fh.read()
        except OSError:
            current = ""
        if current != render_schema(kind):
            stale.append(name)
    return stale
