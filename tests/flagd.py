"""The two official flagd evaluators, for the tests of the flag files ailoop writes.

* pinned: the Python `flagd-core` (PyPI openfeature-flagd-core) that ailoop-runtime's pinned
  openfeature-provider-flagd evaluates with in production (fractional v3 bucketing);
* npm: the JavaScript `@openfeature/flagd-core` (installed by `make test` into
  .venv/node), run by tests/tools/flagd_core.cjs with its strict validation on: the flagd
  flag and targeting JSON schemas, which the package ships compiled into its code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from openfeature.contrib.tools.flagd.core import FlagdCore
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import FlagNotFoundError

from tests.support import ROOT, missing

NPM_FLAGD_CORE = Path(os.environ.get(
    "AILOOP_FLAGD_CORE_DIR",
    ROOT / ".venv" / "node" / "node_modules" / "@openfeature" / "flagd-core"))
RUNNER = ROOT / "tests" / "tools" / "flagd_core.cjs"

Variants = list[str | None]


def need_npm_flagd_core() -> None:
    if shutil.which("node") is not None and (NPM_FLAGD_CORE / "package.json").is_file():
        return
    missing("node + @openfeature/flagd-core are not installed (`make test` installs them)")


def _run_npm(request: dict[str, object]) -> subprocess.CompletedProcess[str]:
    need_npm_flagd_core()
    return subprocess.run(["node", str(RUNNER), str(NPM_FLAGD_CORE)], input=json.dumps(request),
                          capture_output=True, text=True, timeout=120, check=False)


def npm_strict_errors(*configs: str) -> str:
    """What the npm evaluator's strict validation says of the first flag file it refuses
    ('config N: ...'), '' when it accepts them all."""
    done = _run_npm({"configs": list(configs)})
    assert done.returncode in (0, 1), done.stderr
    return done.stderr if done.returncode else ""


Key = str | Mapping[str, object]  # a targeting key, or a context {"targetingKey": ..., ...}


def npm_variants(configs: Sequence[str], evaluate: Sequence[tuple[int, str]],
                 keys: Sequence[Key]) -> list[Variants]:
    """The variant the npm evaluator serves each key, per (config index, flag), after strict
    validation of every config; one node process for all of them."""
    done = _run_npm({"configs": list(configs), "keys": list(keys),
                     "evaluate": [{"config": c, "flag": f} for c, f in evaluate]})
    assert done.returncode == 0, done.stderr
    variants: list[Variants] = json.loads(done.stdout)["variants"]
    return variants


def pinned_core(config: str) -> FlagdCore:
    """The pinned Python evaluator loaded with one flag file (it raises ParseError on a
    file it refuses)."""
    core = FlagdCore()
    core.set_flags(config)
    return core


def _context(key: Key) -> EvaluationContext:
    if isinstance(key, str):
        return EvaluationContext(targeting_key=key)
    attributes = {k: v for k, v in key.items() if k != "targetingKey"}
    found = key.get("targetingKey")
    return EvaluationContext(targeting_key=found if isinstance(found, str) else None,
                             attributes=attributes)  # type: ignore[arg-type]


def pinned_variants(config: str, flag: str, keys: Sequence[Key]) -> Variants:
    """The variant the pinned evaluator serves each key (None: the file has no such flag,
    the caller's default serves, as with the npm evaluator)."""
    core = pinned_core(config)
    try:
        core.resolve_object_value(flag, {})
    except FlagNotFoundError:
        return [None] * len(keys)
    return [core.resolve_object_value(flag, {}, _context(key)).variant for key in keys]
