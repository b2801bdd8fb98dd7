"""All git access. The only module that imports GitPython (lazily: it is slow to import)."""

from __future__ import annotations

import subprocess

from pipeline.errors import GitError, InputError


def _run(root: str, *args: str) -> str:
    try:
        proc = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True,
                              timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GitError(f"git {args[0]} failed: {e}") from None
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        reason = lines[-1] if lines else f"exit {proc.returncode}"
        raise GitError(f"git {args[0]} failed: {reason}")
    return proc.stdout


def changed_files(root: str, ref: str) -> list[str]:
    """Files changed between REF and the working tree, plus untracked files."""
    if ref.startswith("-"):
        raise InputError(f"not a git ref: {ref}")
    try:
        _run(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except GitError:
        raise InputError(f"--changed-since: unknown git ref '{ref}'") from None
    # --relative: paths relative to `root` even when it is a subfolder of the work tree.
    diff = _run(root, "diff", "--name-only", "--no-renames", "--relative", "-z", ref, "--")
    untracked = _run(root, "ls-files", "--others", "--exclude-standard", "-z")
    return sorted({n for n in (diff + untracked).split("\0") if n})
