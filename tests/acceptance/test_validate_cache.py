"""The results cache of `ailoop validate`: warm runs report exactly what cold runs report."""

from __future__ import annotations

import os
import pickle
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.generate import Params, ensure_repo
from pipeline.cache import cache_dir, checker_fingerprint, store
from pipeline.validate.run import _RECORDS
from tests.acceptance.test_validate_cli import broken_repo
from tests.support import GitRepo, ailoop_subprocess, git, run_cli

NORTHWIND = Path("customers/northwind-insurance")
CLAIMS = NORTHWIND / "claims-intake" / "priority.yaml"


def validate(capsys: object, root: Path, *args: str) -> tuple[int, str]:
    result = run_cli(capsys, "-C", str(root), "validate", *args)
    assert result.err == ""
    return result.code, result.out


def in_git(root: Path) -> Path:
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def test_warm_run_reports_what_a_cold_run_reports(tmp_path: Path, capsys: object) -> None:
    repo = in_git(broken_repo(tmp_path / "repo"))
    uncached = validate(capsys, repo, "--no-cache")
    assert uncached[0] == 1
    cold = validate(capsys, repo)
    assert os.path.isfile(os.path.join(cache_dir(str(repo)), "validate.pickle"))
    warm = validate(capsys, repo)
    assert cold == uncached
    assert warm == uncached


def test_the_cache_is_never_written_into_the_work_tree(tmp_path: Path, capsys: object) -> None:
    repo = in_git(broken_repo(tmp_path / "repo"))
    validate(capsys, repo)
    assert git(repo, "status", "--porcelain", "--ignored") == ""
    assert (repo / ".git" / "ailoop-cache" / "validate.pickle").is_file()


def test_a_folder_outside_git_caches_in_the_user_cache(tmp_path: Path, capsys: object) -> None:
    repo = broken_repo(tmp_path / "repo")
    first = validate(capsys, repo)
    assert sorted(p.name for p in repo.rglob("*.pickle")) == []
    assert Path(cache_dir(str(repo)), "validate.pickle").is_file()
    assert validate(capsys, repo) == first


class _Planted:
    """Unpickling this would create a marker file (what a malicious cache could do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (Path.touch, (self.marker,))


def test_a_pickle_planted_in_the_work_tree_is_never_loaded(tmp_path: Path,
                                                           capsys: object) -> None:
    repo = broken_repo(tmp_path / "repo")
    marker = tmp_path / "pwned"
    for folder in (repo / ".ailoop-cache", repo / ".ailoop", repo):
        folder.mkdir(exist_ok=True)
        (folder / "validate.pickle").write_bytes(pickle.dumps(_Planted(marker)))
    in_git(repo)
    expected = validate(capsys, repo, "--no-cache")
    assert validate(capsys, repo) == expected
    assert validate(capsys, repo) == expected
    assert not marker.exists()


def test_a_garbage_cache_file_is_ignored(tmp_path: Path, capsys: object) -> None:
    repo = in_git(broken_repo(tmp_path / "repo"))
    expected = validate(capsys, repo, "--no-cache")
    path = Path(cache_dir(str(repo)), "validate.pickle")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x80\x05not a pickle at all")
    assert validate(capsys, repo) == expected
    assert validate(capsys, repo) == expected


def _same_size_edit(path: Path, old: str, new: str) -> None:
    assert len(old) == len(new)
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_same_size_edit_in_the_same_second_is_seen(repo: GitRepo, capsys: object) -> None:
    code, _ = validate(capsys, repo.work)
    _same_size_edit(repo.work / CLAIMS, "  risk: high\n", "  risk: hugh\n")
    code, out = validate(capsys, repo.work)
    assert code == 1
    assert f"{CLAIMS}:" in out and "spec.risk: must be one of" in out
    _same_size_edit(repo.work / CLAIMS, "  risk: hugh\n", "  risk: high\n")
    assert validate(capsys, repo.work) == validate(capsys, repo.work, "--no-cache")


def test_a_deleted_file_disappears_from_the_results(repo: GitRepo, capsys: object) -> None:
    event = repo.work / NORTHWIND / "claims-intake" / "events" / "broken.yaml"
    event.write_text("apiVersion: ailoop.dev/v1\nkind: Feedback\n", encoding="utf-8")
    code, out = validate(capsys, repo.work)
    assert code == 1 and "events/broken.yaml" in out
    event.unlink()
    code, out = validate(capsys, repo.work)
    assert "events/broken.yaml" not in out
    assert (code, out) == validate(capsys, repo.work, "--no-cache")


def test_a_changed_customer_rechecks_its_priorities(repo: GitRepo, capsys: object) -> None:
    clean = validate(capsys, repo.work)
    customer = repo.work / NORTHWIND / "customer.yaml"
    _same_size_edit(customer, "roles: [risk-officer]", "roles: [engineer]    ")
    code, out = validate(capsys, repo.work)
    assert code == 1
    assert "no one at customer 'northwind-insurance' holds role 'risk-officer'" in out
    assert (code, out) == validate(capsys, repo.work, "--no-cache")
    _same_size_edit(customer, "roles: [engineer]    ", "roles: [risk-officer]")
    assert validate(capsys, repo.work) == clean


def test_the_cross_check_reads_the_datasets_checked_by_this_run(
        repo: GitRepo, capsys: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dataset the run has just read and judged is not looked up a second time."""
    import pipeline.validate.run as run

    expected = validate(capsys, repo.work, "--no-cache")
    monkeypatch.setattr(run, "_cached_dataset",
                        lambda abs_path, rel, *_: pytest.fail(f"{rel} looked up again"))
    assert validate(capsys, repo.work) == expected


def test_a_deleted_dataset_is_reported_on_a_warm_run(repo: GitRepo, capsys: object) -> None:
    validate(capsys, repo.work)
    (repo.work / NORTHWIND / "claims-intake" / "dataset.jsonl").unlink()
    code, out = validate(capsys, repo.work)
    assert code == 1
    assert "dataset 'customers/northwind-insurance/claims-intake/dataset.jsonl' does not " \
           "exist" in out


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated repository with more than 200 documents, a few of them broken."""
    root = tmp_path_factory.mktemp("many") / "repo"
    ensure_repo(str(root), Params(priorities=240, customers=12, seed=3))
    for i, path in enumerate(sorted(root.glob("customers/*/*/priority.yaml"))[::40]):
        text = path.read_text(encoding="utf-8")
        broken = [text.replace("  risk: ", "  risk: x", 1),
                  text.replace("percent: 25", "percent: 0", 1),
                  text.replace("dataset: dataset.jsonl", "dataset: ../../x.jsonl", 1)]
        path.write_text(broken[i % 3], encoding="utf-8")
    (root / "customers" / "customer-001" / "claims-intake" / "dataset.jsonl").write_text(
        "{not json}\n", encoding="utf-8")
    return root


def test_parallel_and_serial_runs_give_identical_output(many: Path, capsys: object) -> None:
    serial = validate(capsys, many, "--no-cache", "--jobs", "1")
    parallel = validate(capsys, many, "--no-cache", "--jobs", "2")
    assert serial[0] == 1
    assert serial[1].count("\n") > 5
    assert parallel == serial
    shutil.rmtree(cache_dir(str(many)), ignore_errors=True)
    cold = validate(capsys, many, "--jobs", "2")
    assert cold == serial
    assert validate(capsys, many) == serial


def test_the_real_cli_warm_run_matches(many: Path) -> None:
    shutil.rmtree(cache_dir(str(many)), ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cold = ailoop_subprocess("-C", str(many), "validate", "--format", "json", env=env)
    warm = ailoop_subprocess("-C", str(many), "validate", "--format", "json", env=env)
    assert cold.code == 1
    assert (warm.code, warm.out, warm.err) == (cold.code, cold.out, cold.err)


# --- policy results are cached too: every input they depend on invalidates them ----------

CLAIMS_KEY = "northwind-insurance/claims-intake"


def warm_same_as_uncached(capsys: object, root: Path, *args: str) -> tuple[int, str]:
    """Validate twice with the cache (filling it, then reading it) and once without; all
    three must agree. Returns the result."""
    first = validate(capsys, root, *args)
    warm = validate(capsys, root, *args)
    uncached = validate(capsys, root, "--no-cache", *args)
    assert first == uncached
    assert warm == uncached
    return warm


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_waiver_expiring_as_the_date_passes_is_seen_by_a_warm_run(
        example: Path, capsys: object) -> None:
    repo = in_git(example)
    before = warm_same_as_uncached(capsys, repo, "--now", "2027-11-30")
    assert before == (0, "All 15 files valid.\n")
    code, out = warm_same_as_uncached(capsys, repo, "--now", "2027-12-01")
    assert code == 1
    assert "waiver expired on 2027-11-30; renew it with a new approval or remove it" in out
    assert "house/high-risk-review-cadence" in out and str(CLAIMS) in out


def test_a_changed_policy_file_is_seen_by_a_warm_run(example: Path, capsys: object) -> None:
    repo = in_git(example)
    assert warm_same_as_uncached(capsys, repo)[0] == 0
    edit(repo / "policies" / "house-rules.yaml", "condition: size(spec.tags) > 0",
         "condition: size(spec.tags) > 10")
    code, out = warm_same_as_uncached(capsys, repo)
    assert code == 0  # a warning only
    assert "add at least one tag (spec.tags) so lessons from this priority can be found" in out


def test_a_changed_customer_file_is_seen_by_a_warm_run(example: Path, capsys: object) -> None:
    repo = in_git(example)
    assert warm_same_as_uncached(capsys, repo)[0] == 0
    edit(repo / NORTHWIND / "customer.yaml", "roles: [customer-owner]",
         "roles: [customer-owner, engineer]")
    code, out = warm_same_as_uncached(capsys, repo)
    assert code == 1
    assert ("owner 'hannah' works on the delivery side; name an accountable person of "
            "customer 'northwind-insurance'") in out


def test_changed_project_settings_are_seen_by_a_warm_run(example: Path, capsys: object) -> None:
    repo = in_git(example)
    assert warm_same_as_uncached(capsys, repo)[0] == 0
    edit(repo / "ailoop.yaml", "minBakeTimeHighRisk: 24h", "minBakeTimeHighRisk: 96h")
    code, out = warm_same_as_uncached(capsys, repo)
    assert code == 1
    assert "guardrail/bake-time" in out and str(CLAIMS) in out


def test_the_cache_keeps_no_document_data(example: Path, capsys: object) -> None:
    repo = in_git(example)
    validate(capsys, repo)
    path = os.path.join(cache_dir(str(repo)), "validate.pickle")
    results = store.load(path, checker_fingerprint(), _RECORDS)["results"]
    facts = [v[1].facts for v in results.values() if hasattr(v[1], "facts")]
    assert facts and all("data" not in f for f in facts)
    assert any(k.endswith("\0policy") for k in results)


def test_the_split_cache_gives_cold_results_and_sees_edits(
        many: Path, capsys: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large repositories keep results in one file per customer (read lazily, rewritten
    only when changed): force that mode on a small repo and compare with --no-cache."""
    from pipeline.cache import results

    monkeypatch.setattr(results, "SHARD_ABOVE", 0)
    expected = validate(capsys, many, "--no-cache")
    shutil.rmtree(cache_dir(str(many)), ignore_errors=True)
    assert validate(capsys, many) == expected  # cold, writes the split cache
    assert (Path(cache_dir(str(many))) / "validate.d").is_dir()
    assert validate(capsys, many) == expected  # warm, from the split cache
    target = sorted(many.glob("customers/customer-002/*/priority.yaml"))[0]
    original = target.read_text(encoding="utf-8")
    try:
        target.write_text(original.replace("  risk: ", "  risk: y", 1), encoding="utf-8")
        edited = validate(capsys, many)
        assert edited == validate(capsys, many, "--no-cache")
        assert edited != expected
    finally:
        target.write_text(original, encoding="utf-8")
    assert validate(capsys, many) == expected


def test_a_run_over_changed_files_leaves_the_split_index_alone(
        many: Path, tmp_path: Path, capsys: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a big repository the index file holds every file's stat and every folder's
    listing (4 MB for 10,000 priorities). A run over a few changed files does not write it
    again for the few stats it learned: that cost a developer 0.1 s a run. Its results
    still reach the next runs, and every answer stays the uncached one."""
    from pipeline.cache import results, stat_index

    monkeypatch.setattr(results, "SHARD_ABOVE", 0)
    # Every edit counts as settled at once, as a developer's is two seconds after saving.
    monkeypatch.setattr(stat_index, "RACY_SECONDS", -1.0)
    repo = in_git(Path(shutil.copytree(many, tmp_path / "repo")))
    validate(capsys, repo)
    index = Path(cache_dir(str(repo))) / "validate.pickle"
    before = (index.read_bytes(), index.stat().st_mtime_ns)
    target = sorted(repo.glob("customers/customer-003/*/priority.yaml"))[0]
    edit(target, "  risk: ", "  risk: y")
    scoped = validate(capsys, repo, "--changed-since", "HEAD")
    assert "risk" in scoped[1]
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before
    assert validate(capsys, repo, "--changed-since", "HEAD") == scoped
    assert validate(capsys, repo, "--no-cache", "--changed-since", "HEAD") == scoped
    assert validate(capsys, repo) == validate(capsys, repo, "--no-cache")


COUNTING_RULE = """
    - id: house/few-priorities
      description: At most a few priorities.
      condition: repo.priorities <= 3
      field: spec.owner
      message: "{{ repo.priorities }} priorities"
"""


def test_a_run_over_changed_files_reads_the_journal_alone(
        many: Path, tmp_path: Path, capsys: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run over what changed lists a few folders and reads a few files: the index file's
    stats and folder listings would spare it almost nothing, and reading them was a sixth
    of such a run on 10,000 priorities; a shard holds a customer's few hundred results for
    the one or two it needs. With the results in shard files it reads their journal
    alone. A rule that counts every priority makes it walk the whole tree: then the
    listings pay, and it reads the index. Every answer stays the uncached one."""
    from pipeline.cache import results, stat_index

    monkeypatch.setattr(results, "SHARD_ABOVE", 0)
    monkeypatch.setattr(stat_index, "RACY_SECONDS", -1.0)
    repo = in_git(Path(shutil.copytree(many, tmp_path / "repo")))
    validate(capsys, repo)
    index = os.path.join(cache_dir(str(repo)), "validate.pickle")
    read: list[str] = []
    load = store.load

    def reading(path: str, *rest: Any) -> Any:
        read.append(path)
        return load(path, *rest)

    monkeypatch.setattr(store, "load", reading)
    target = sorted(repo.glob("customers/customer-003/*/priority.yaml"))[0]
    edit(target, "  risk: ", "  risk: y")
    scoped = validate(capsys, repo, "--changed-since", "HEAD")
    assert "risk" in scoped[1]
    journal = os.path.join(cache_dir(str(repo)), "validate.d", "journal.pickle")
    assert read == [journal]
    # What it checked again instead of reading a shard is in the journal for the next run.
    customer = "/".join(target.relative_to(repo).parts[:2]) + "/customer.yaml"
    assert customer in store.load(journal, checker_fingerprint(), _RECORDS)["results"]
    verbose = run_cli(capsys, "-C", str(repo), "validate", "-v", "--changed-since", "HEAD")
    assert "cache: reused: the journal of recent results" in verbose.err
    assert validate(capsys, repo, "--no-cache", "--changed-since", "HEAD") == scoped

    with (repo / "policies" / "house-rules.yaml").open("a", encoding="utf-8") as fh:
        fh.write(COUNTING_RULE)
    git(repo, "commit", "-q", "-a", "-m", "A rule that counts priorities")
    validate(capsys, repo)
    edit(target, "  risk: y", "  risk: ")
    read.clear()
    counted = validate(capsys, repo, "--changed-since", "HEAD")
    assert "240 priorities" in counted[1]
    assert index in read
    assert validate(capsys, repo, "--no-cache", "--changed-since", "HEAD") == counted


# --- a run over part of the repository never changes what a full run trusts ----------------

PARTIAL_RUNS = ["--changed-since", "paths"]


def _settled_example(example: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from pipeline.cache import stat_index

    # Every edit counts as settled at once, as a developer's is two seconds after saving.
    monkeypatch.setattr(stat_index, "RACY_SECONDS", -1.0)
    return in_git(example)


def _partial_args(repo: Path, partial: str) -> tuple[str, ...]:
    return ("--changed-since", "HEAD") if partial == "--changed-since" \
        else (str(repo / NORTHWIND),)


@pytest.mark.parametrize("partial", PARTIAL_RUNS)
def test_an_edit_a_partial_run_saw_is_seen_by_the_next_full_run(
        example: Path, capsys: object, monkeypatch: pytest.MonkeyPatch,
        partial: str) -> None:
    """The full run's answer is reused only while every file it read keeps its stat: a
    partial run that stored the new stat of a file it read made the full run answer with
    what the file said before (a broken priority reported valid)."""
    repo = _settled_example(example, monkeypatch)
    clean = validate(capsys, repo)
    assert validate(capsys, repo) == clean
    edit(repo / CLAIMS, "  risk: ", "  risk: x")
    assert "spec.risk" in validate(capsys, repo, *_partial_args(repo, partial))[1]
    full = validate(capsys, repo)
    assert full == validate(capsys, repo, "--no-cache")
    assert full != clean


@pytest.mark.parametrize("partial", PARTIAL_RUNS)
def test_a_document_a_partial_run_listed_is_seen_by_the_next_full_run(
        example: Path, capsys: object, monkeypatch: pytest.MonkeyPatch,
        partial: str) -> None:
    """The full run's folder walk is reused while every folder it listed keeps its stat: a
    partial run that stored a changed folder's new listing made the full run skip the
    document added there."""
    repo = _settled_example(example, monkeypatch)
    clean = validate(capsys, repo)
    assert validate(capsys, repo) == clean
    (repo / CLAIMS).with_name("status.yaml").write_text("kind: Nonsense\n", encoding="utf-8")
    assert "unknown kind 'Nonsense'" in validate(capsys, repo, *_partial_args(repo, partial))[1]
    full = validate(capsys, repo)
    assert full == validate(capsys, repo, "--no-cache")
    assert "unknown kind 'Nonsense'" in full[1]
