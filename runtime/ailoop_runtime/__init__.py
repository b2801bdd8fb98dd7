"""ailoop-runtime: what a production service imports to serve an ailoop priority.

    runtime = Runtime.for_priority(
        flags="customers/acme/flags.flagd.json",
        priority="customers/acme/triage/priority.yaml",
        versions={"1.1.0": Installed(run_v11, "/srv/triage-1.1.0")},
    )
    answer = runtime.handle({"text": "..."}, key=user_id)

It chooses the variant for each request from the flags the reconciler writes (OpenFeature
with the official flagd provider, in-process, on the file), refuses code whose digest is
not the one the flag names, sends every sensitive, irreversible, financial or
customer-facing action to a person before it runs, runs a shadow candidate beside the
serving version without acting on it, and exports the metrics ailoop's gates read.
"""

from ailoop_runtime.digest import workflow_digest
from ailoop_runtime.flags import Choice, FlagSource, Variant
from ailoop_runtime.guard import (
    ActionRefused,
    ActionSpec,
    CallbackQueue,
    Decision,
    Guard,
    MemoryQueue,
    SqliteQueue,
    actions_from_priority,
)
from ailoop_runtime.metrics import Metrics
from ailoop_runtime.runtime import Answer, Installed, Runtime, VariantRefused

__all__ = [
    "ActionRefused", "ActionSpec", "Answer", "CallbackQueue", "Choice", "Decision",
    "FlagSource", "Guard", "Installed", "MemoryQueue", "Metrics", "Runtime", "SqliteQueue",
    "Variant", "VariantRefused", "actions_from_priority", "workflow_digest",
]
