"""Deterministic sharding of priorities over CI runners (`--shard I/N`).

A priority's shard depends only on its own key and N (jump consistent hash over a stable
SHA-256 of the key), so adding or removing priorities never moves any other priority, and
changing N moves only about 1/N of them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from pipeline.errors import InputError

_SHARD_RE = re.compile(r"(\d+)/(\d+)\Z")
MAX_SHARDS = 256


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    total: int

    def owns(self, key: str) -> bool:
        return shard_of(key, self.total) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"


def parse_shard(text: str) -> Shard:
    match = _SHARD_RE.match(text.strip())
    if match is None:
        raise InputError(f"--shard must look like I/N (for example 2/4), not '{text}'")
    index, total = int(match.group(1)), int(match.group(2))
    if not 1 <= total <= MAX_SHARDS or not 1 <= index <= total:
        raise InputError(f"--shard {text}: need 1 <= I <= N <= {MAX_SHARDS}")
    return Shard(index, total)


def _jump_hash(key: int, buckets: int) -> int:
    """Lamping & Veach, 'A Fast, Minimal Memory, Consistent Hash Algorithm' (2014)."""
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & 0xFFFFFFFFFFFFFFFF
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def shard_of(key: str, total: int) -> int:
    """The 1-based shard that owns `key` ("customer/priority") among `total` shards."""
    digest = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    return _jump_hash(digest, total) + 1
