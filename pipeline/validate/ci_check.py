"""A warning only CI gives: approval files (`approvals.source: file`) are for trying ailoop
on a laptop. Any pull request author can commit one, so in CI they prove nothing."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pipeline.documents.findings import Finding
from pipeline.documents.layout import PROJECT_FILE
from pipeline.errors import InputError

WHERE = ("spec", "approvals", "source")
MESSAGE = ("approvals come from files any pull request author can commit, so in CI they "
           "prove no approval; use git-signed or github (README: 'Approval gates')")


def ci_findings(root: str, environ: Mapping[str, str]) -> list[Finding]:
    if not in_ci(environ):
        return []
    from pipeline.documents.yamlio import read_yaml  # PyYAML: only where it is asked

    try:
        loaded = read_yaml(os.path.join(root, PROJECT_FILE), PROJECT_FILE)
    except InputError:
        return []  # its own findings say what is wrong with it
    data = loaded.data
    source = (((data.get("spec") or {}).get("approvals") or {}).get("source")
              if isinstance(data, dict) else None)
    if source != "file":
        return []
    line, col = loaded.position(WHERE)
    return [Finding(PROJECT_FILE, line, col, ".".join(WHERE), MESSAGE, "ci/approval-files",
                    "warning")]


def in_ci(environ: Mapping[str, str]) -> bool:
    """GitHub Actions sets both; most other CI systems (GitLab, CircleCI, Travis, Buildkite,
    Jenkins with the plugin...) set CI=true."""
    return "true" in (environ.get("CI", "").lower(), environ.get("GITHUB_ACTIONS", ""))
