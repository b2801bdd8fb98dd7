"""The reconcile cache (what each priority folder yields) is data only, like validate's."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from pipeline.cache import cache_dir, stat_index, store
from pipeline.reconcile.state import _records, _salt, load_repo, project_settings
from tests.support import GitRepo, cache_file


def _settle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file past the racy window, so its folder's entry is kept. (Setting mtimes back
    no longer does: a file's ctime counts too, and nothing sets it back.)"""
    monkeypatch.setattr(stat_index, "RACY_SECONDS", -1.0)


def _cache(root: Path) -> Path:
    return Path(cache_dir(str(root)), "reconcile.pickle")


def test_the_cache_is_written_and_read_back_as_data(repo: GitRepo,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _settle(monkeypatch)
    first = load_repo(str(repo.work))
    salt = _salt(project_settings(str(repo.work)))
    entries = store.load(str(_cache(repo.work)), salt, _records())["entries"]
    assert entries, "every settled priority folder is kept"
    assert load_repo(str(repo.work)).locals == first.locals


def test_a_planted_reconcile_cache_runs_no_code(repo: GitRepo, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Planted:
        def __reduce__(self) -> tuple[object, ...]:
            return (Path.touch, (marker,))

    expected = load_repo(str(repo.work), use_cache=False).locals
    salt = _salt(project_settings(str(repo.work)))
    _cache(repo.work).parent.mkdir(parents=True, exist_ok=True)
    planted = pickle.dumps({"entries": Planted()})
    for framed in (cache_file(salt, planted), planted):
        _cache(repo.work).write_bytes(framed)
        assert load_repo(str(repo.work)).locals == expected
        assert not marker.exists()
