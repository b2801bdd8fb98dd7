"""pipeline.fsio: bounded reads and crash-safe writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.fsio import read_at_most
from tests.support import missing


def _read(path: Path, most: int) -> bytes:
    with open(path, "rb") as fh:
        return read_at_most(fh.fileno(), most)


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 70_000])
def test_a_file_within_the_bound_is_read_whole(tmp_path: Path, size: int) -> None:
    path = tmp_path / "f"
    data = os.urandom(size)
    path.write_bytes(data)
    assert _read(path, size + 1) == data


def test_a_file_past_the_bound_is_read_to_the_bound_only(tmp_path: Path) -> None:
    """The caller asks for limit + 1 bytes to tell a file that is too large."""
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10_000)
    assert _read(path, 101) == b"x" * 101


def test_a_file_that_grows_after_its_size_was_taken_is_read_to_its_end(
        tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"a" * 10)
    with open(path, "rb") as fh:
        with open(path, "ab") as grow:
            grow.write(b"b" * 5000)
        assert read_at_most(fh.fileno(), 100_000, size=10) == b"a" * 10 + b"b" * 5000


def test_a_file_whose_size_says_zero_is_read_all_the_same() -> None:
    """/proc files report a size of 0: the size only sizes the reads, it never stops them."""
    if not os.path.exists("/proc/self/status"):
        missing("no /proc (Linux only)")
    assert os.stat("/proc/self/status").st_size == 0
    assert b"Name:" in _read(Path("/proc/self/status"), 1_000_000)
