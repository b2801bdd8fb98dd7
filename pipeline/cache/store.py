"""Cache files: where they live, how they are read without running code, how they are written.

A file is a header line, `ailoop-cache <format> <checker fingerprint> <crc32 of the rest>`,
then a pickle of plain data: builtin containers and scalars, and the few record types the
caller names (dataclasses, named tuples and pydantic models without pickling hooks of
their own, datetimes), so rebuilding one runs none of our code: nothing but pydantic's
field assignment or the constructor namedtuple generates. Loading refuses every other
global (Python's documented "restricting globals"), so a planted file cannot make the load
import or call anything else; writing refuses anything the load would refuse. The
checksum finds any damage the pickle would still load (a page of zeros inside a folder
listing reads as a listing with documents missing: a check that never looked at them);
then the file is not reused. Writes go through the crash-safe writer.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import gc
import hashlib
import io
import os
import pickle
import types
import zlib
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


# What a load may call on a record's class or instance: pickling hooks, and what BUILD,
# APPENDS, SETITEMS, ADDITEMS and a dict key call. A class with one of its own could run
# code on load, unless the one it has was generated (a dataclass's __eq__, pydantic's
# __hash__): those only compare and hash the fields.
_HOOKS = ("__setstate__", "__reduce__", "__reduce_ex__", "__new__", "__getattr__",
          "__getattribute__", "__setattr__", "__post_init__", "__setitem__", "__eq__",
          "__hash__", "append", "extend", "add")
_GENERATED_IF_ANY = frozenset({"__eq__", "__hash__"})


# Value types pickled as a call of the type on plain arguments (a datetime's bytes, a
# timedelta's days, seconds and microseconds): their constructors only build values.
_VALUES = frozenset({("datetime", "datetime"), ("datetime", "date"), ("datetime", "timedelta"),
                     ("datetime", "timezone"), ("pydantic_core._pydantic_core", "TzInfo")})


@functools.cache  # every load and save checks its records: the same few classes each time
def _checked(records: Records) -> dict[tuple[str, str], type]:
    """The records by (module, name), as pickle names them: value types, plain dataclasses,
    named tuples and pydantic models, each rebuilt as data only (see below); anything else
    is refused. Read only: the answer is shared."""
    for cls in records:
        if (cls.__module__, cls.__qualname__) not in _VALUES and not _plain_dataclass(cls) \
                and not _plain_named_tuple(cls) and not _pydantic_model(cls):
            raise TypeError(f"{cls.__qualname__} cannot be a cache record")
    return {(cls.__module__, cls.__qualname__): cls for cls in records}


def _own_hooks(classes: tuple[type, ...]) -> list[str]:
    return [h for klass in classes for h in _HOOKS if h in vars(klass)
            and not (h == "__setattr__" and _frozen(klass))
            and not (h in _GENERATED_IF_ANY and _generated(vars(klass)[h]))]


def _generated(hook: Any) -> bool:
    """A dataclass's (compiled from text by dataclasses), pydantic's, or None (unhashable)."""
    code = getattr(hook, "__code__", None)
    return hook is None or (code is not None and code.co_filename == "<string>") \
        or getattr(hook, "__module__", "").startswith("pydantic.")


def _plain_dataclass(cls: type) -> bool:
    """Created without calling it (object.__new__), then its __dict__ filled in."""
    return type(cls) is type and dataclasses.is_dataclass(cls) \
        and "__slots__" not in vars(cls) and not _own_hooks(cls.__mro__[:-1])


def _plain_named_tuple(cls: type) -> bool:
    """Rebuilt by the __new__ namedtuple generates (it only makes the tuple of the fields:
    its code is compared with that of a fresh named tuple of the same fields), with no
    other hook, no metaclass and no base but tuple."""
    fields = vars(cls).get("_fields")
    new = vars(cls).get("__new__")
    code = getattr(getattr(new, "__func__", new), "__code__", None)
    return type(cls) is type and cls.__bases__ == (tuple,) and isinstance(fields, tuple) \
        and code is not None and _same_code(code, _generated_new(cls.__name__, fields)) \
        and not [h for h in _own_hooks((cls,)) if h != "__new__"]


@functools.cache
def _generated_new(name: str, fields: tuple[str, ...]) -> types.CodeType:
    return collections.namedtuple(name, fields).__new__.__code__


def _same_code(a: types.CodeType, b: types.CodeType) -> bool:
    return (a.co_code, a.co_consts, a.co_names, a.co_varnames) \
        == (b.co_code, b.co_consts, b.co_names, b.co_varnames)


def _pydantic_model(cls: type) -> bool:
    """Created by object.__new__, then filled in by pydantic's own BaseModel.__setstate__,
    which only assigns the state's parts (no validation, none of our code)."""
    mro = cls.__mro__
    base = next((i for i, k in enumerate(mro)
                 if (k.__module__, k.__qualname__) == ("pydantic.main", "BaseModel")), None)
    return base is not None and not _own_hooks(mro[:base])


def _frozen(cls: type) -> bool:
    """A frozen dataclass's own __setattr__ only refuses (the unpickler never calls it)."""
    params = getattr(cls, "__dataclass_params__", None)
    return bool(params is not None and params.frozen)


class _Pickler(pickle.Pickler):
    def __init__(self, fh: io.BufferedIOBase, records: Records) -> None:
        super().__init__(fh, protocol=pickle.HIGHEST_PROTOCOL)
        self.records = frozenset(_checked(records).values())

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


def _header(fingerprint: str, body: bytes) -> bytes:
    return b"%s %d %s %08x\n" % (_MAGIC, FORMAT, fingerprint.encode(), zlib.crc32(body))


def load(path: str, fingerprint: str, records: Records = ()) -> Any:
    """The data in a cache file; Unusable saying why when there is none to reuse."""
    # The cyclic GC would scan the growing heap again and again while ~100k objects
    # are unpickled (it tripled the load time); none of them form cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with open(path, "rb") as fh:
            crc = _check_header(fh.readline(_HEADER_MAX), fingerprint)
            body = fh.read()
        if zlib.crc32(body) != crc:  # 2 ms for the 4 MB index of 10,000 priorities
            raise Unusable("cache file damaged")
        return _Unpickler(io.BytesIO(body), records).load()
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


def _check_header(line: bytes, fingerprint: str) -> int:
    """The checksum the header gives for the rest of the file."""
    parts = line.split()
    if not line.endswith(b"\n") or len(parts) not in (3, 4) or parts[0] != _MAGIC \
            or not parts[1].isdigit():
        # Files before the header was added start with pickle's PROTO opcode.
        raise Unusable("written by an older format" if line[:1] == b"\x80"
                       else "cache file damaged")
    if int(parts[1]) != FORMAT:
        raise Unusable(f"written by {'an older' if int(parts[1]) < FORMAT else 'another'} "
                       "format")
    if parts[2] != fingerprint.encode():
        raise Unusable("ailoop or the machine changed")
    try:
        return int(parts[3], 16)
    except (IndexError, ValueError):
        raise Unusable("cache file damaged") from None


def load_or_none(path: str, fingerprint: str, records: Records = ()) -> Any:
    try:
        return load(path, fingerprint, records)
    except Unusable:
        return None


def save(path: str, fingerprint: str, data: object, records: Records = ()) -> bool:
    """Write atomically; False when the cache cannot be written (then it is skipped: the
    old file, if any, stays as it was)."""
    buffer = io.BytesIO()
    try:
        _Pickler(buffer, records).dump(data)
        body = buffer.getvalue()
        write_atomic(path, _header(fingerprint, body) + body)
    except (OSError, pickle.PicklingError):
        return False
    return True
