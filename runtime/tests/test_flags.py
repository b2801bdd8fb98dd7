"""The flags the reconciler writes, evaluated by the official OpenFeature flagd provider."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ailoop_runtime import FlagSource

from pipeline.model.status import StatusBody
from pipeline.reconcile import flags

T0 = datetime(2026, 12, 1, tzinfo=UTC)
SERVING = {"version": "1.0", "evidenceId": "ev-aaaaaaaaaaaaaaaa", "workflowDigest": "a" * 64,
           "since": T0}
KEYS = [f"user-{i}@example.com" for i in range(4000)] + [f"clé-{i}-ü" for i in range(1000)]


def status(*, serving: bool = True, stage: str | None = None, percent: float = 0) -> StatusBody:
    candidate = {"version": "1.1", "evidenceId": "ev-bbbbbbbbbbbbbbbb", "since": T0,
                 "workflowDigest": "b" * 64, "stage": stage, "percent": percent}
    return StatusBody.model_validate({"serving": SERVING if serving else None,
                                      "candidate": candidate})


@pytest.fixture
def write(tmp_path: Path):  # type: ignore[no-untyped-def]
    sources: list[FlagSource] = []

    def written(entries: list[tuple[str, StatusBody]]) -> FlagSource:
        path = tmp_path / f"flags-{len(sources)}.flagd.json"
        path.write_text(flags.render(flags.customer_flags(entries)))
        sources.append(FlagSource(str(path)))
        return sources[-1]

    yield written
    for source in sources:
        source.close()


@pytest.mark.parametrize("percent", [5, 25])
def test_the_candidate_gets_its_percent_and_the_rest_the_serving_version(
        write, percent: float) -> None:  # type: ignore[no-untyped-def]
    source = write([("triage", status(stage="canary", percent=percent))])
    chosen = [source.choose("triage", key) for key in KEYS]
    share = sum(c.variant == "candidate" for c in chosen) / len(KEYS)
    assert abs(share - percent / 100) < 0.02
    served = {c.chosen.version for c in chosen if c.variant == "serving"}
    assert served == {"1.0"}
    candidate = next(c.chosen for c in chosen if c.variant == "candidate")
    assert (candidate.version, candidate.stage, candidate.workflow_digest) == \
        ("1.1", "canary", "b" * 64)
    # sticky: the same key keeps its variant
    assert [source.choose("triage", k).variant for k in KEYS[:200]] == \
        [c.variant for c in chosen[:200]]


def test_shadow_and_off(write) -> None:  # type: ignore[no-untyped-def]
    source = write([("intake", status(serving=False, stage="shadow"))])
    choice = source.choose("intake", "anyone")
    assert choice.variant == "serving" and choice.chosen.off
    assert choice.shadow is not None and choice.shadow.version == "1.1"
    assert source.choose("no-such-priority", "anyone").chosen.off


def test_the_serving_variant_is_read_for_a_fallback(write) -> None:  # type: ignore[no-untyped-def]
    source = write([("triage", status(stage="early", percent=25))])
    assert source.serving("triage").version == "1.0"
    assert source.serving("triage").workflow_digest == "a" * 64
    assert json.loads(Path(source.path).read_text())["flags"]["triage"]["defaultVariant"] == \
        "serving"


def test_the_stage_readings_belong_to_is_the_flags(write) -> None:  # type: ignore[no-untyped-def]
    source = write([("triage", status(stage="early", percent=25)),
                    ("intake", status(serving=False, stage="shadow")),
                    ("done", status(stage=None))])
    assert [source.stage(name) for name in ("triage", "intake", "done", "none")] == \
        ["early", "shadow", None, None]
