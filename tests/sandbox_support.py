"""The real bubblewrap sandbox for tests. Without it (bubblewrap missing, or user namespaces
refused) the tests that need it skip with the reason, unless AILOOP_REQUIRE_REAL=1 (CI sets
it, and .ci/run installs bubblewrap), which forbids skipping."""

from __future__ import annotations

import os

from pipeline.providers.sandbox import Sandbox, find_sandbox
from tests.support import missing


def real_sandbox() -> Sandbox:
    found = find_sandbox(os.environ)
    if not found.available:
        reason = f"needs the bubblewrap sandbox: {found.reason}"
        missing(reason)
    return found
