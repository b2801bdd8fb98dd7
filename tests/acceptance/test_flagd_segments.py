"""Segment targeting (a stage's `targeting`), checked with flagd's two official evaluators:
the flag files the reconciler writes for a stage with a segment pass the npm strict
validation and load in the pinned Python flagd-core, and both serve the serving version
outside the segment, the candidate to about the stage's percent inside it, and raising the
percent only adds keys inside the segment."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from pipeline.model.status import StatusBody
from pipeline.reconcile import flags
from tests.acceptance.test_flagd_evaluators import T0
from tests.flagd import npm_strict_errors, npm_variants, pinned_core, pinned_variants

FLAG = "claims"
# Between 0 and 1000: a context without an amount is outside (see the test below).
SMALL_CLAIMS = {"<": [0, {"var": "amount"}, 1000]}
INTERNAL = {"in": [{"var": "group"}, ["internal", "staff"]]}
BOTH = {"and": [SMALL_CLAIMS, {"==": [{"var": "region"}, "eu"]}]}
PERCENTS = (5, 25, 50, 100)


def _contexts() -> list[Mapping[str, object]]:
    out: list[Mapping[str, object]] = []
    for i in range(6000):
        out.append({"targetingKey": f"case-{i}", "amount": 1 + (i * 37) % 2000,
                    "group": ("internal", "staff", "customer", "partner")[i % 4],
                    "region": ("eu", "us")[i // 4 % 2]})
    out.append({"targetingKey": "no-amount", "group": "customer"})  # attribute missing
    out.append({"targetingKey": "text", "amount": "lots", "group": "customer"})
    return out


CONTEXTS = _contexts()


def _status(segment: Mapping[str, Any] | None, percent: float,
            stage: str = "canary") -> StatusBody:
    version = {"evidenceId": "ev-" + "b" * 16, "workflowDigest": "b" * 64, "since": T0}
    return StatusBody.model_validate({
        "serving": {**version, "version": "1.0", "evidenceId": "ev-" + "a" * 16},
        "candidate": {**version, "version": "1.1", "stage": stage, "percent": percent,
                      "segment": segment}})


def _file(segment: Mapping[str, Any] | None, percent: float) -> str:
    return flags.render(flags.customer_flags([(FLAG, _status(segment, percent))]))


def _inside(rule: Mapping[str, Any], ctx: Mapping[str, object]) -> bool:
    """Whether a context is in the segment, by the flag's own evaluator (not ours)."""
    from openfeature.contrib.tools.flagd.core.targeting.targeting import targeting
    from openfeature.evaluation_context import EvaluationContext

    attrs = {k: v for k, v in ctx.items() if k != "targetingKey"}
    return bool(targeting(FLAG, dict(rule), EvaluationContext(attributes=attrs)))  # type: ignore[arg-type]


SEGMENTS = {"small claims": SMALL_CLAIMS, "internal": INTERNAL, "small eu claims": BOTH}
WRITTEN = {(name, p): _file(rule, p) for name, rule in SEGMENTS.items() for p in PERCENTS}


def test_the_flag_at_a_stage_with_a_segment_splits_inside_it_and_serves_outside() -> None:
    flag = flags.flag(_status(SMALL_CLAIMS, 5))
    assert flag is not None
    assert flag["targeting"] == {"if": [SMALL_CLAIMS, {"fractional": [["candidate", 500],
                                                                      ["serving", 9500]]},
                                        "serving"]}
    assert flag["defaultVariant"] == "serving"
    without = flags.flag(_status(None, 5))
    assert without is not None and without["targeting"] == flag["targeting"]["if"][1]


def test_segmented_flag_files_pass_flagds_strict_validation_and_load_in_flagd_core() -> None:
    assert npm_strict_errors(*WRITTEN.values()) == ""
    for text in WRITTEN.values():
        pinned_core(text)


@pytest.fixture(scope="module")
def npm() -> dict[tuple[str, int], list[str | None]]:
    names = list(WRITTEN)
    found = npm_variants(list(WRITTEN.values()), [(i, FLAG) for i in range(len(names))],
                         CONTEXTS)
    return dict(zip(names, found, strict=True))


@pytest.fixture(scope="module")
def pinned() -> dict[tuple[str, int], list[str | None]]:
    return {name: pinned_variants(text, FLAG, CONTEXTS) for name, text in WRITTEN.items()}


@pytest.mark.parametrize("evaluator", ["pinned", "npm"])
@pytest.mark.parametrize("segment", list(SEGMENTS))
def test_outside_the_segment_always_serving_inside_the_percent_and_only_more_keys(
        evaluator: str, segment: str, request: pytest.FixtureRequest) -> None:
    served: dict[tuple[str, int], list[str | None]] = request.getfixturevalue(evaluator)
    rule = SEGMENTS[segment]
    inside = [_inside(rule, ctx) for ctx in CONTEXTS]
    assert 0.15 < sum(inside) / len(CONTEXTS) < 0.6  # both sides are well populated
    previous: set[int] = set()
    for percent in PERCENTS:
        chosen = served[(segment, percent)]
        assert set(chosen) <= {"candidate", "serving"}
        assert all(v == "serving" for v, i in zip(chosen, inside, strict=True) if not i), \
            percent
        got = {n for n, v in enumerate(chosen) if v == "candidate"}
        share = len(got) / sum(inside)
        assert abs(share - percent / 100) < 0.025, (percent, share)
        assert previous <= got, percent  # nobody in the segment moves back
        previous = got
    assert previous == {n for n, i in enumerate(inside) if i}  # 100 %: the whole segment


def test_a_missing_or_mistyped_attribute_is_outside_a_bounded_segment(
        npm: dict[tuple[str, int], list[str | None]],
        pinned: dict[tuple[str, int], list[str | None]]) -> None:
    for served in (npm, pinned):
        assert served[("small claims", 100)][-2:] == ["serving", "serving"]
        assert served[("internal", 100)][-2:] == ["serving", "serving"]


def test_an_unbounded_comparison_puts_a_missing_attribute_inside_the_segment() -> None:
    # JSONLogic reads a missing variable as null, and null < 1000 is true in both official
    # evaluators: the README tells to bound such rules ({"<": [0, {"var": "amount"}, 1000]}).
    text = _file({"<": [{"var": "amount"}, 1000]}, 100)
    missing = [{"targetingKey": "no-amount", "group": "customer"}]
    assert npm_variants([text], [(0, FLAG)], missing) == [["candidate"]]
    assert pinned_variants(text, FLAG, missing) == ["candidate"]


def test_inside_the_segment_a_key_gets_what_it_would_get_without_one(
        pinned: dict[tuple[str, int], list[str | None]]) -> None:
    # Same fractional, same bucketing key: a segment only narrows who is split.
    rule = SEGMENTS["internal"]
    plain = pinned_variants(_file(None, 25), FLAG, CONTEXTS)
    for ctx, with_segment, without in zip(CONTEXTS, pinned[("internal", 25)], plain,
                                          strict=True):
        if _inside(rule, ctx):
            assert with_segment == without


def test_the_readme_example_is_what_the_reconciler_writes() -> None:
    """The README's segment example: its stage YAML gives exactly its flag JSON."""
    import re

    from pipeline.documents.yamlio import parse_yaml
    from pipeline.model.priority import Rollout
    from tests.support import ROOT

    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Segments: a stage for part of the traffic"):]
    yaml_block = re.search(r"```yaml\n(.*?)```", section, re.S)
    json_block = re.search(r"```json\n(.*?)```", section, re.S)
    assert yaml_block and json_block
    rollout = Rollout.model_validate(parse_yaml(yaml_block.group(1), "README.md").data["rollout"])
    stage = next(s for s in rollout.stages if s.name == "small-claims")
    written = flags.flag(_status(stage.targeting, stage.percent, stage.name))
    shown = json.loads("{" + json_block.group(1).replace("...", "") + "}")["claims-intake"]
    assert written is not None and written["targeting"] == shown["targeting"]
    assert npm_strict_errors(_file(stage.targeting, stage.percent)) == ""
