from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.errors import InputError
from pipeline.reconcile.shard import Shard, parse_shard, shard_of

KEYS = [f"customer-{c}/priority-{p}" for c in range(40) for p in range(25)]


@pytest.mark.parametrize("total", range(1, 9))
def test_every_priority_lands_in_exactly_one_shard(total: int) -> None:
    shards = [Shard(i, total) for i in range(1, total + 1)]
    for key in KEYS:
        assert sum(s.owns(key) for s in shards) == 1


@pytest.mark.parametrize("total", range(2, 9))
def test_shards_are_balanced(total: int) -> None:
    counts = [sum(1 for k in KEYS if shard_of(k, total) == i) for i in range(1, total + 1)]
    expected = len(KEYS) / total
    assert min(counts) > 0.7 * expected
    assert max(counts) < 1.3 * expected


@pytest.mark.parametrize("total", range(1, 9))
def test_adding_a_priority_moves_no_other_priority(total: int) -> None:
    before = {k: shard_of(k, total) for k in KEYS}
    grown = [*KEYS, "newcomer/fresh-priority"]
    after = {k: shard_of(k, total) for k in grown}
    moved = [k for k in KEYS if before[k] != after[k]]
    assert moved == []
    assert 1 <= after["newcomer/fresh-priority"] <= total


def test_adding_a_shard_moves_about_one_share() -> None:
    moved = sum(1 for k in KEYS if shard_of(k, 4) != shard_of(k, 5))
    assert moved < len(KEYS) * (1 / 5 + 0.05)
    # and every key that moved went to the new shard
    assert all(shard_of(k, 5) == 5 for k in KEYS if shard_of(k, 4) != shard_of(k, 5))


@given(st.text(min_size=1, max_size=60), st.integers(min_value=1, max_value=64))
def test_shard_is_deterministic_and_in_range(key: str, total: int) -> None:
    assert shard_of(key, total) == shard_of(key, total)
    assert 1 <= shard_of(key, total) <= total


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3", "--shard must look like I/N (for example 2/4), not '3'"),
        ("0/4", "--shard 0/4: need 1 <= I <= N <= 256"),
        ("5/4", "--shard 5/4: need 1 <= I <= N <= 256"),
        ("a/b", "--shard must look like I/N (for example 2/4), not 'a/b'"),
    ],
)
def test_bad_shard_is_a_clear_input_error(text: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        parse_shard(text)
    assert str(err.value) == message


def test_parse_shard() -> None:
    assert parse_shard("2/4") == Shard(2, 4)
    assert str(parse_shard(" 1/1 ")) == "1/1"
