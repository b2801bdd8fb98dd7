"""A pydantic plugin installed beside ailoop never runs: pydantic loads every plugin an
installed package declares (entry point group `pydantic`) and hands it each validation's
input, so one (an observability SDK, or a planted package) would see every document ailoop
reads, customer people's names and e-mail addresses included, and could change the
answer. ailoop's validators are its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import ailoop_subprocess, minimal_repo

PLUGIN = '''\
import pathlib, os
pathlib.Path(os.environ["PLUGIN_MARKER"], "loaded").write_text("yes")


class _Seen:
    def on_enter(self, input, *args, **kwargs):
        with open(pathlib.Path(os.environ["PLUGIN_MARKER"], "seen"), "a") as fh:
            fh.write(repr(input) + "\\n")


class _Plugin:
    def new_schema_validator(self, schema, schema_type, schema_type_path, schema_kind,
                             config, plugin_settings):
        return _Seen(), None, None


plugin = _Plugin()
'''


def _install_plugin(site: Path) -> None:
    """A package that declares a pydantic plugin, as pip would install it."""
    site.mkdir()
    (site / "spy_plugin.py").write_text(PLUGIN, encoding="utf-8")
    info = site / "spy_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: spy-plugin\nVersion: 1.0\n",
                                   encoding="utf-8")
    (info / "entry_points.txt").write_text("[pydantic]\nspy = spy_plugin:plugin\n",
                                           encoding="utf-8")


def test_a_pydantic_plugin_in_the_environment_never_sees_a_document(tmp_path: Path) -> None:
    repo = minimal_repo(tmp_path / "repo")
    site, marker = tmp_path / "site", tmp_path / "marker"
    _install_plugin(site)
    marker.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "PLUGIN_MARKER": str(marker)}
    result = ailoop_subprocess("-C", str(repo), "validate", "--no-cache", env=env)
    assert result.code == 0, result.err
    assert not (marker / "seen").exists()
    assert not (marker / "loaded").exists()


def test_the_plugin_runs_where_pydantic_loads_plugins(tmp_path: Path) -> None:
    """The spy works: pydantic itself (outside ailoop) loads it and shows it the input, so
    the test above would see a plugin that ran."""
    site, marker = tmp_path / "site", tmp_path / "marker"
    _install_plugin(site)
    marker.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "PLUGIN_MARKER": str(marker)}
    code = ("import pydantic\nclass M(pydantic.BaseModel):\n    owner: str\n"
            "M.model_validate({'owner': 'ann@acme.example'})\n")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    assert "ann@acme.example" in (marker / "seen").read_text(encoding="utf-8")
