"""`ailoop validate` on a stage's `targeting`: flagd's official validator (npm
@openfeature/flagd-core, strict) decides, ailoop only says where and why. The broken rules
and their exact findings are the case tests/cases/invalid/Priority/broken-segment-targeting;
here: what the validator is given, and that a rule it cannot check is an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.validate.targeting import Unchecked, check_rules, flag_document
from tests.flagd import NPM_FLAGD_CORE, need_npm_flagd_core, pinned_core
from tests.support import CASES, run_cli
from tests.unit.test_cases import build_case

VALID = CASES / "valid" / "Priority" / "segment-targeting"


def test_the_rule_is_checked_where_the_reconciler_puts_it() -> None:
    from pipeline.model.status import StatusBody
    from pipeline.reconcile.flags import flag

    rule = {"in": [{"var": "group"}, ["internal"]]}
    checked = json.loads(flag_document(rule))["flags"]["segment"]["targeting"]
    body = StatusBody.model_validate({"candidate": {
        "version": "1", "evidenceId": "ev-1", "stage": "canary", "percent": 50,
        "segment": rule}})
    written = flag(body)
    assert written is not None and written["targeting"] == checked
    pinned_core(flag_document(rule))  # and the pinned evaluator loads it


def test_accepted_and_refused_rules() -> None:
    need_npm_flagd_core()
    found = check_rules([{"<": [0, {"var": "amount"}, 1000]},
                         {"sem_ver": [{"var": "app"}, ">=", "1.2.0"]},
                         {"bogus": [1]},
                         {"in": [{"var": "group"}, "a", "b"]}])
    assert found == ["", "", "'bogus' is not an operator flagd knows",
                     "in: must NOT have more than 2 items"]


def test_without_flagds_validator_a_segment_is_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: object) -> None:
    repo = build_case(VALID, tmp_path / "repo")
    monkeypatch.setenv("AILOOP_FLAGD_CORE_DIR", str(tmp_path / "nowhere"))
    result = run_cli(capsys, "-C", str(repo), "validate", "--no-cache")
    assert result.code == 1
    assert "spec.rollout.stages[1].targeting: cannot be checked: flagd's validator " \
        "(@openfeature/flagd-core 4.0.1 and Node.js) is not installed" in result.out
    assert result.out.count("cannot be checked") == 2  # both stages with a segment
    assert "Traceback" not in result.out + result.err


def test_the_cache_never_keeps_a_verdict_past_a_change_of_validator(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: object) -> None:
    # Installing (or removing) flagd's validator changes what a segment's check says:
    # a cached "cannot be checked" must not outlive the install.
    need_npm_flagd_core()
    repo = build_case(VALID, tmp_path / "repo")
    monkeypatch.setenv("AILOOP_FLAGD_CORE_DIR", str(tmp_path / "nowhere"))
    assert run_cli(capsys, "-C", str(repo), "validate").code == 1
    # installed again: where the tests find it (the env may have named it all along)
    monkeypatch.setenv("AILOOP_FLAGD_CORE_DIR", str(NPM_FLAGD_CORE))
    result = run_cli(capsys, "-C", str(repo), "validate")
    assert result.code == 0, result.out


def test_a_validator_that_fails_to_run_is_an_error_that_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: object) -> None:
    # A package folder that is not flagd-core: node runs, the require fails.
    fake = tmp_path / "flagd-core"
    fake.mkdir()
    (fake / "package.json").write_text('{"name": "not-flagd", "main": "index.js"}')
    (fake / "index.js").write_text("throw new Error('broken install');\n")
    need_npm_flagd_core()
    monkeypatch.setenv("AILOOP_FLAGD_CORE_DIR", str(fake))
    with pytest.raises(Unchecked, match="failed: flagd-core could not run: Error: broken"):
        check_rules([{"==": [1, 1]}])
    repo = build_case(VALID, tmp_path / "repo")
    result = run_cli(capsys, "-C", str(repo), "validate", "--no-cache")
    assert result.code == 1 and "cannot be checked: flagd's validator" in result.out
    assert "Traceback" not in result.out + result.err
