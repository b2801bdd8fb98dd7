"""The replay provider: outputs recorded earlier, for deterministic CI and for comparing
versions. A JSONL file, one {"id", "output" | "error", "latencyMs"?} object per line."""

from __future__ import annotations

from typing import Any

from pipeline.documents.dataset import Case, jsonl_lines
from pipeline.errors import InputError
from pipeline.fsio import read_limited
from pipeline.providers.base import EXCEPTION, NO_RECORDING, CaseOutput, failed

MAX_REPLAY_BYTES = 256 * 1024 * 1024


def parse_recordings(raw: bytes, rel: str) -> dict[str, dict[str, Any]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("replay file is not valid UTF-8", path=rel) from None
    out: dict[str, dict[str, Any]] = {}
    for number, obj in jsonl_lines(text, rel):
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), (str, int)):
            raise InputError("each line needs an 'id' and an 'output' or 'error'", path=rel,
                             line=number, col=1)
        if "output" not in obj and not isinstance(obj.get("error"), str):
            raise InputError("each line needs an 'output' or an 'error'", path=rel,
                             line=number, col=1)
        out[str(obj["id"])] = obj
    return out


def read_recordings(abs_path: str, rel: str) -> dict[str, dict[str, Any]]:
    raw = read_limited(abs_path, rel, MAX_REPLAY_BYTES, missing="replay file does not exist",
                       unreadable="cannot read replay file")
    if len(raw) > MAX_REPLAY_BYTES:
        raise InputError(f"replay file is larger than {MAX_REPLAY_BYTES} bytes", path=rel)
    return parse_recordings(raw, rel)


class ReplayProvider:
    name = "replay"

    def __init__(self, recordings: dict[str, dict[str, Any]], rel: str, version: str) -> None:
        self.recordings, self.rel, self.version = recordings, rel, version

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "file": self.rel, "version": self.version}

    def run(self, case: Case) -> CaseOutput:
        recorded = self.recordings.get(case.id)
        if recorded is None:
            return failed(NO_RECORDING, f"{self.rel} has no recorded output for this case")
        latency = recorded.get("latencyMs", 0.0)
        latency = float(latency) if isinstance(latency, (int, float)) else 0.0
        if "output" not in recorded:
            return failed(EXCEPTION, str(recorded["error"]), latency)
        return CaseOutput(output=recorded["output"], latency_ms=latency)

    def close(self) -> None:
        return None
