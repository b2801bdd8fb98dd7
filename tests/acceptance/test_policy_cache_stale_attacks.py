"""Ways the cached policy, waiver and guardrail results of `ailoop validate` could differ
from `--no-cache` on the same tree (an attack review of pipeline/validate/policy_cache.py).

The worker that checks a document hashed it through any symlink (read_bounded opened it
with open(), which follows links), and PolicyCache.blob took that blob before its own
lstat-based one: a repository-level file swapped for a link to the same bytes kept its
blob id, so the cached phase and the documents' cached findings were reused although the
loader now refuses the file. read_bounded no longer follows a link."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.acceptance.test_cache_stale_attacks import _same_as_uncached, _swap_for_link
from tests.acceptance.test_validate_cache import CLAIMS, NORTHWIND, _settled_example, validate

WAIVER = Path("policies/waivers/northwind-claims-review-cadence.yaml")
RULES = Path("policies/house-rules.yaml")
CUSTOMER = NORTHWIND / "customer.yaml"


@pytest.mark.parametrize("rel", [WAIVER, RULES, CUSTOMER], ids=["waiver", "policy", "customer"])
def test_a_repo_file_swapped_for_a_link_out_of_the_repo_is_not_judged_from_the_cache(
        example: Path, tmp_path: Path, capsys: object, monkeypatch: pytest.MonkeyPatch,
        rel: Path) -> None:
    repo = _settled_example(example, monkeypatch)
    validate(capsys, repo)
    validate(capsys, repo)
    _swap_for_link(repo / rel, tmp_path / "outside.yaml")
    code, out = _same_as_uncached(capsys, repo)
    assert code == 1 and "symlink that leaves the repository" in out


def test_a_link_swapped_back_for_the_same_bytes_is_valid_again(
        example: Path, tmp_path: Path, capsys: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """The link's refusal was stored under the blob of the bytes behind it (and the stat
    index learned the target's stat for the link's path)."""
    repo = _settled_example(example, monkeypatch)
    validate(capsys, repo)
    data = (repo / CLAIMS).read_bytes()
    _swap_for_link(repo / CLAIMS, tmp_path / "outside.yaml")
    assert "symlink that leaves the repository" in validate(capsys, repo)[1]
    (repo / CLAIMS).unlink()
    (repo / CLAIMS).write_bytes(data)
    assert _same_as_uncached(capsys, repo)[0] == 0
