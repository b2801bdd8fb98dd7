"""`ailoop validate -v` says whether the cache was reused and why not; a cache file planted
where the cache lives can make the run neither run code nor fail."""

from __future__ import annotations

import dataclasses
import pickle
import sys
from collections import namedtuple
from pathlib import Path
from typing import NamedTuple

import pytest

from pipeline.cache import cache_dir, checker_fingerprint, stat_index, store
from pipeline.cache.fingerprint import FORMAT
from tests.acceptance.test_validate_cache import in_git
from tests.acceptance.test_validate_cli import broken_repo
from tests.support import ailoop_subprocess, cache_file, run_cli


def _verbose(capsys: object, repo: Path, *args: str) -> tuple[int, str, list[str]]:
    result = run_cli(capsys, "-C", str(repo), "validate", "-v", *args)
    return result.code, result.out, result.err.splitlines()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return in_git(broken_repo(tmp_path / "repo"))


def _index(repo: Path) -> Path:
    return Path(cache_dir(str(repo)), "validate.pickle")


def test_a_first_run_has_no_cache_yet_and_the_next_reuses_it(repo: Path,
                                                             capsys: object) -> None:
    code, out, err = _verbose(capsys, repo)
    assert err == ["cache: not reused: no cache yet"]
    again = _verbose(capsys, repo)
    assert again[:2] == (code, out) and again[2][0] == "cache: reused"


def test_no_cache_says_the_cache_is_disabled(repo: Path, capsys: object) -> None:
    assert _verbose(capsys, repo, "--no-cache")[2] == ["cache: not reused: disabled (--no-cache)"]


def test_without_v_nothing_is_said(repo: Path, capsys: object) -> None:
    assert run_cli(capsys, "-C", str(repo), "validate").err == ""


@pytest.mark.parametrize(("content", "reason"), [
    (b"garbage\x00\xff", "cache file damaged"),
    (b"", "cache file damaged"),
    (pickle.dumps({"fingerprint": "x", "stat": {}}), "written by an older format"),
    (cache_file("x", pickle.dumps({}), FORMAT - 1), "written by an older format"),
    (cache_file("0" * 40, pickle.dumps({})), "ailoop or the machine changed"),
    (lambda: cache_file(checker_fingerprint(), b"\x80\x05truncated"), "cache file damaged"),
    (lambda: cache_file(checker_fingerprint(), pickle.dumps({"stat": []})),
     "cache file damaged"),
    # A body that still unpickles, but not the one its checksum was taken of.
    (lambda: cache_file(checker_fingerprint(), pickle.dumps({}))[:-2] + b"0.",
     "cache file damaged"),
])
def test_each_reason_a_cache_file_is_not_reused(repo: Path, capsys: object, content: object,
                                                reason: str) -> None:
    expected = run_cli(capsys, "-C", str(repo), "validate", "--no-cache")
    _index(repo).parent.mkdir(parents=True, exist_ok=True)
    _index(repo).write_bytes(content() if callable(content) else content)  # type: ignore[arg-type]
    code, out, err = _verbose(capsys, repo)
    assert (code, out) == (expected.code, expected.out)
    assert err == [f"cache: not reused: {reason}"]
    assert _verbose(capsys, repo)[2][0] == "cache: reused", "the next run writes a good one"


def test_a_changed_folder_is_why_the_walk_is_done_again(
        repo: Path, capsys: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stat_index, "RACY_SECONDS", -60.0)
    _verbose(capsys, repo)
    (repo / "customers" / "notes.md").write_text("new\n", encoding="utf-8")
    assert _verbose(capsys, repo)[2] == ["cache: reused",
                                          "cache: folder walk not reused: folders changed"]


class _Planted:
    """Unpickling this would create a marker file (what a malicious cache could do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (Path.touch, (self.marker,))


def test_a_malicious_cache_file_runs_no_code_and_the_run_succeeds(tmp_path: Path) -> None:
    """Planted where the cache lives, with a valid header (so the loader reads the pickle)
    and without (an old-style file): in the index, a shard and the journal."""
    repo = in_git(broken_repo(tmp_path / "repo"))
    marker = tmp_path / "pwned"
    planted = pickle.dumps(_Planted(marker))
    folder = Path(cache_dir(str(repo)))
    # A run over what changed reads the journal first (see ResultStore.split).
    for args in (("--changed-since", "HEAD"), ()):
        expected = ailoop_subprocess("-C", str(repo), "validate", "--no-cache", *args)
        for framed in (True, False):
            (folder / "validate.d").mkdir(parents=True, exist_ok=True)
            for path in (folder / "validate.pickle", folder / "validate.d" / "journal.pickle"):
                path.write_bytes(cache_file(checker_fingerprint(), planted) if framed else planted)
            result = ailoop_subprocess("-C", str(repo), "validate", "-v", *args)
            assert not marker.exists()
            assert (result.code, result.out) == (expected.code, expected.out)
            reason = "cache file damaged" if framed else "written by an older format"
            assert result.err.splitlines() == [f"cache: not reused: {reason}"]


def test_a_record_the_cache_does_not_name_is_refused_on_load(tmp_path: Path) -> None:
    """Only the record types the caller names load; any other class is refused, even one
    of ailoop's own."""
    from pipeline.documents.findings import Finding
    from pipeline.validate.checks import FileResult

    path = str(tmp_path / "c.pickle")
    assert store.save(path, "fp", {"r": FileResult((Finding("a", 1, 1, "", "m"),), {})},
                      (FileResult, Finding))
    assert store.load(path, "fp", (FileResult, Finding))["r"].findings[0].message == "m"
    with pytest.raises(store.Unusable, match="cache file damaged"):
        store.load(path, "fp", (FileResult,))


class _Record(NamedTuple):
    """A record as the validate path writes them: a typing.NamedTuple."""

    name: str
    count: int = 0


class _Hooked(NamedTuple):
    name: str

    def __reduce__(self) -> tuple[object, ...]:
        return (print, ("hooked",))


class _GetAttribute(NamedTuple):
    name: str

    def __getattribute__(self, attr: str) -> object:  # BUILD looks up __setstate__
        return tuple.__getattribute__(self, attr)


class _Hashing(NamedTuple):
    name: str

    def __hash__(self) -> int:  # a record as a dict key
        return 0


class _Extends(NamedTuple):
    name: str

    def extend(self, items: object) -> None:  # APPENDS
        pass


class _SetItem(NamedTuple):
    name: str

    def __setitem__(self, key: object, value: object) -> None:  # SETITEMS
        pass


class _Meta(type):
    def __call__(cls, *args: object) -> object:  # REDUCE calls the class
        return super().__call__(*args)


_Metaclassed = _Meta("_Metaclassed", (tuple,), dict(vars(namedtuple("_Metaclassed", "name"))))


def _spoofed() -> type:
    """A __new__ whose globals carry the name namedtuple gives its own."""
    namespace: dict[str, object] = {"__name__": "namedtuple__Spoofed"}
    exec("def __new__(cls, *a):\n    return tuple.__new__(cls, ('ran',))", namespace)
    return type("_Spoofed", (tuple,), {"_fields": ("name",), "__new__": namespace["__new__"]})


class _OwnNew(tuple[str, ...]):
    """Looks like a named tuple (a _fields, a tuple base) with a __new__ of its own."""

    _fields = ("name",)

    def __new__(cls, *args: object) -> _OwnNew:
        return super().__new__(cls, ("ran",))


@dataclasses.dataclass(frozen=True)
class _LookingUp:
    name: str

    def __getattribute__(self, attr: str) -> object:
        return object.__getattribute__(self, attr)


@dataclasses.dataclass(frozen=True)
class _OwnHash:
    name: str

    def __hash__(self) -> int:
        return 0


@pytest.mark.parametrize("record", [_LookingUp, _OwnHash], ids=lambda r: r.__name__)
def test_a_dataclass_record_with_code_of_its_own_is_refused(tmp_path: Path,
                                                             record: type) -> None:
    """The generated __eq__ and __hash__ of a dataclass only compare its fields: they may
    run on load (a record as a dict key); one written by hand may not."""
    path = tmp_path / "c.pickle"
    with pytest.raises(TypeError, match="cannot be a cache record"):
        store.save(str(path), "fp", [record("a")], (record,))
    assert not path.exists()


def test_named_tuple_records_are_read_back_by_their_generated_constructor(
        tmp_path: Path) -> None:
    path = str(tmp_path / "c.pickle")
    assert store.save(path, "fp", {"r": [_Record("a", 2)]}, (_Record,))
    assert store.load(path, "fp", (_Record,)) == {"r": [_Record("a", 2)]}
    with pytest.raises(store.Unusable, match="cache file damaged"):
        store.load(path, "fp", ())


@pytest.mark.parametrize("record", [_Hooked, _OwnNew, _GetAttribute, _Hashing, _Extends,
                                    _SetItem, _Metaclassed, _spoofed()],
                         ids=lambda r: r.__name__)
def test_a_tuple_record_with_code_of_its_own_is_refused(tmp_path: Path, record: type) -> None:
    """Only the __new__ namedtuple generates may rebuild a tuple record (its code is
    compared, not its name); a pickling hook, what BUILD, APPENDS or SETITEMS or a dict
    key calls, a constructor or a metaclass of its own could run code on load."""
    path = tmp_path / "c.pickle"
    with pytest.raises(TypeError, match="cannot be a cache record"):
        store.save(str(path), "fp", [record("a")], (record,))
    assert not path.exists()


def test_writing_what_could_not_be_read_back_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "c.pickle"
    assert not store.save(str(path), "fp", {"x": sys.version_info})
    assert not path.exists()


def test_an_entry_of_the_wrong_shape_is_a_miss(repo: Path, capsys: object) -> None:
    """A cache file that loads (right header, plain data) but holds something else where a
    result belongs: the entry is checked again, never used."""
    from pipeline.cache import blob_id

    expected = run_cli(capsys, "-C", str(repo), "validate", "--no-cache")
    rels = [str(p.relative_to(repo)) for p in repo.rglob("*.yaml") if ".git" not in p.parts]
    entries = {rel: (blob_id((repo / rel).read_bytes()), "not a result") for rel in rels}
    _index(repo).parent.mkdir(parents=True, exist_ok=True)
    assert store.save(str(_index(repo)), checker_fingerprint(),
                      {"stat": {}, "dirs": {}, "results": entries})
    code, out, err = _verbose(capsys, repo)
    assert (code, out, err[0]) == (expected.code, expected.out, "cache: reused")
