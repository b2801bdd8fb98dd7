"""Cache files: where they live, how they are read without running code, how they are written.

A file is a header line, `ailoop-cache <format> <code fingerprint>`, then a pickle of
plain data: builtin containers and scalars, and the few record types the caller names
(frozen dataclasses without pickling hooks, so rebuilding one runs none of its code).
Loading refuses every other global (Python's documented "restricting globals"), so a
planted file cannot make the load import or call anything else; writing refuses anything
the load would refuse. Writes go through the crash-safe writer.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import io
import os
import pickle
from typing import Any

from pipeline.cache.fingerprint import FORMAT
from pipeline.fsio import write_atomic

_MAGIC = b"ailoop-cache"
_HEADER_MAX = 200
# Exactly the builtin types pickle writes without naming a global, so without a call.
_PLAIN = frozenset({type(None), bool, int, float, complex, str, bytes, bytearray, tuple,
                    list, dict, set, frozenset})

Records = tuple[type, ...]


class Unusable(Exception):
    """A cache file that is not reused; the message says why (shown under -v)."""


def cache_dir(root: str) -> str:
    """Inside .git when there is one: a pull request can never plant a cache file there.
    Else the user's cache folder."""
    git_dir = os.path.join(root, ".git")
    if os.path.isdir(git_dir):
        return os.path.join(git_dir, "ailoop-cache")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    key = hashlib.sha1(os.path.realpath(root).encode()).hexdigest()[:16]
    return os.path.join(base, "ailoop", key)


def _checked(records: Records) -> dict[tuple[str, str], type]:
    """The records by (module, name), as pickle names them. Each must be a dataclass that
    pickle rebuilds as data only: created without calling it (object.__new__), then its
    __dict__ filled in; a class with a hook of its own could run code on load."""
    for cls in records:
        hooks = [h for h in ("__setstate__", "__reduce__", "__reduce_ex__", "__new__",
                             "__post_init__", "__getattr__", "__setattr__")
                 if h in vars(cls) and not (h == "__setattr__" and _frozen(cls))]
        if not dataclasses.is_dataclass(cls) or hooks or hasattr(cls, "__slots__"):
            raise TypeError(f"{cls.__qualname__} cannot be a cache record: {hooks}")
    return {(cls.__module__, cls.__qualname__): cls for cls in records}


def _frozen(cls: type) -> bool:
    """A frozen dataclass's own __setattr__ only refuses (the unpickler never calls it)."""
    params = getattr(cls, "__dataclass_params__", None)
    return bool(params is not None and params.frozen)


class _Pickler(pickle.Pickler):
    def __init__(self, fh: io.BufferedIOBase, records: Records) -> None:
        super().__init__(fh, protocol=pickle.HIGHEST_PROTOCOL)
        self.records = frozenset(records)

    def reducer_override(self, obj: Any) -> Any:
        # Plain data, a record, or a record's class (written as the global that names it).
        # Anything else would be a global the loader refuses: fail now, so a cache that
        # could never be read back is not written at all.
        kind = type(obj)
        if kind not in _PLAIN and kind not in self.records and obj not in self.records:
            raise pickle.PicklingError(f"not plain data: {type(obj).__qualname__}")
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    """Python's "restricting globals": every global is refused but the records'."""

    def __init__(self, fh: io.BufferedIOBase, records: Records) -> None:
        super().__init__(fh)
        self.allowed = _checked(records)

    def find_class(self, module: str, name: str) -> Any:
        cls = self.allowed.get((module, name))
        if cls is None:
            raise pickle.UnpicklingError(f"refused global {module}.{name}")
        return cls


def _header(fingerprint: str) -> bytes:
    return b"%s %d %s\n" % (_MAGIC, FORMAT, fingerprint.encode())


def load(path: str, fingerprint: str, records: Records = ()) -> Any:
    """The data in a cache file; Unusable saying why when there is none to reuse."""
    # The cyclic GC would scan the growing heap again and again while ~100k objects
    # are unpickled (it tripled the load time); none of them form cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with open(path, "rb") as fh:
            _check_header(fh.readline(_HEADER_MAX), fingerprint)
            return _Unpickler(fh, records).load()
    except FileNotFoundError:
        raise Unusable("no cache yet") from None
    except Unusable:
        raise
    except Exception:  # any damage to the cache means "no cache", never a failure
        raise Unusable("cache file damaged") from None
    finally:
        if collecting:
            gc.enable()
        # Nor should later collections scan them again (~0.1 s on a warm run): they live
        # until the run ends. validate() unfreezes when it is done.
        gc.freeze()


def _check_header(line: bytes, fingerprint: str) -> None:
    parts = line.split()
    if not line.endswith(b"\n") or len(parts) != 3 or parts[0] != _MAGIC \
            or not parts[1].isdigit():
        # Files before the header was added start with pickle's PROTO opcode.
        raise Unusable("written by an older format" if line[:1] == b"\x80"
                       else "cache file damaged")
    if int(parts[1]) != FORMAT:
        raise Unusable(f"written by {'an older' if int(parts[1]) < FORMAT else 'another'} "
                       "format")
    if parts[2] != fingerprint.encode():
        raise Unusable("ailoop's code changed")


def load_or_none(path: str, fingerprint: str, records: Records = ()) -> Any:
    try:
        return load(path, fingerprint, records)
    except Unusable:
        return None


def save(path: str, fingerprint: str, data: object, records: Records = ()) -> bool:
    """Write atomically; False when the cache cannot be written (then it is skipped: the
    old file, if any, stays as it was)."""
    buffer = io.BytesIO()
    buffer.write(_header(fingerprint))
    try:
        _Pickler(buffer, records).dump(data)
        write_atomic(path, buffer.getvalue())
    except (OSError, pickle.PicklingError):
        return False
    return True
