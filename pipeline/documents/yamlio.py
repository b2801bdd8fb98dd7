"""The only module that parses or writes YAML.

We build values from libyaml's event stream ourselves rather than through PyYAML's
constructor, because that gives us, in one pass and without recursion:
  * a position (line, column) for every key and value, kept in a side table;
  * duplicate keys, merge keys and non-plain tags as errors, not silent behaviour;
  * a hard bound on alias expansion, counted before anything is expanded;
  * plain scalars kept as their text (`PlainScalar`), so the schema decides the type and
    YAML 1.1 surprises (`no` -> False, `010` -> 8) never happen behind a string field.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from pipeline.errors import InputError
from pipeline.fsio import read_at_most
from pipeline.model.scalars import PlainScalar, core_scalar

try:
    _Loader: Any = yaml.CSafeLoader
    _Dumper: Any = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - libyaml missing; the pure loader is slower only
    _Loader = yaml.SafeLoader
    _Dumper = yaml.SafeDumper

MAX_YAML_BYTES = 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 64
_TOO_LARGE = f"file is larger than {MAX_YAML_BYTES} bytes, the limit for YAML files"
_PLAIN_ONLY = "only plain data (mappings, lists, strings, numbers, booleans, null) is allowed"

_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TAG_PREFIX = "tag:yaml.org,2002:"
Pos = tuple[int, int]


@dataclass
class Loaded:
    """A parsed YAML document with the position of every node."""

    path: str
    data: Any
    root: Pos = (1, 1)
    # id(container) -> {key or index: (key mark, value mark)}; a mark is libyaml's
    # (0-based .line and .column), turned into a position only when one is asked for
    positions: dict[int, dict[Any, tuple[Any, Any]]] = field(default_factory=dict)

    def position(self, loc: tuple[str | int, ...]) -> Pos:
        """locate(loc)'s position, quicker when every part of `loc` exists (the common
        case: the fields facts point at), which checks read a dozen times per file."""
        node, entry = self.data, None
        try:
            for part in loc:
                entry = self.positions[id(node)][part]
                node = node[part]
        except (KeyError, IndexError, TypeError):
            return self.locate(loc)[0]
        if entry is None:
            return self.root
        mark = entry[1]
        return mark.line + 1, mark.column + 1

    def locate(
        self, loc: Iterable[str | int], *, at_key: bool = False
    ) -> tuple[Pos, tuple[str | int, ...]]:
        """Position of a field path, and the part of the path that exists in the data.

        Path parts that do not exist (pydantic's union tags) are skipped; a missing last
        part (a required field) points at its parent and stays in the returned path.
        """
        parts = list(loc)
        node, pos = self.data, self.root
        kept: list[str | int] = []
        for i, part in enumerate(parts):
            table = self.positions.get(id(node))
            found = table is not None and part in table and (
                (isinstance(node, dict) and part in node)
                or (isinstance(node, list) and isinstance(part, int))
            )
            if not found:
                if not _is_union_tag(node, part, parts[i + 1:]):
                    kept.extend(parts[i:])  # a missing field: point at its parent
                    break
                continue
            assert table is not None
            mark = table[part][0 if (at_key and i == len(parts) - 1) else 1]
            pos = (mark.line + 1, mark.column + 1)
            node = node[part]
            kept.append(part)
        return pos, tuple(kept)


def _is_union_tag(node: Any, part: str | int, rest: list[str | int]) -> bool:
    """pydantic names the union member in error paths (e.g. 'regex' for an assertion whose
    type is regex); such a part is not in the data but the path goes on below it."""
    if not isinstance(node, dict) or not rest:
        return False
    return rest[0] in node or part in node.values()


class _Frame:
    __slots__ = ("anchor", "container", "key", "key_mark", "mark", "size", "table")

    def __init__(self, container: Any, mark: Any, anchor: str | None) -> None:
        self.container = container
        self.table: _Table = {}
        self.key: Any = None
        self.key_mark: Any = None
        self.mark = mark
        self.anchor = anchor
        self.size = 0


def _pos(mark: Any) -> Pos:
    return mark.line + 1, mark.column + 1


def _mark(event: Any) -> Pos:
    return _pos(event.start_mark)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG_PREFIX):] if tag.startswith(_TAG_PREFIX) else tag


class _Builder:
    def __init__(self, path: str) -> None:
        self.path = path
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.total = 0
        self.root: Any = None
        self.root_pos: Pos = (1, 1)
        self.documents = 0
        self.positions: dict[int, _Table] = {}

    def fail(self, pos: Pos, message: str) -> InputError:
        return InputError(message, path=self.path, line=pos[0], col=pos[1])

    def count(self, n: int, pos: Pos) -> None:
        self.total += n
        if self.total > MAX_NODES:
            raise self.fail(pos, f"document expands to more than {MAX_NODES} nodes "
                                 "(alias expansion or size limit); refusing to load it")

    def scalar(self, event: Any) -> Any:
        tag, text, pos = event.tag, event.value, _mark(event)
        if tag is None or tag == "!":
            # `! 5` is the non-specific tag: a string, like a quoted scalar.
            if tag is None and (event.style == "" or event.style is None):
                return None if text in _NULLS else PlainScalar(text)
            return str(text)
        name = tag[len(_TAG_PREFIX):] if tag.startswith(_TAG_PREFIX) else None
        try:
            if name == "str":
                return str(text)
            if name == "null":
                return None
            if name in ("int", "float", "bool"):
                value = core_scalar(text)
                if name == "bool" and isinstance(value, bool):
                    return value
                if name == "int" and isinstance(value, int) and not isinstance(value, bool):
                    return value
                if name == "float" and isinstance(value, (int, float)) \
                        and not isinstance(value, bool):
                    return float(value)
                raise ValueError
        except ValueError:
            raise self.fail(pos, f"value is not a valid {_short_tag(tag)}") from None
        raise self.fail(pos, f"unsupported YAML tag '{_short_tag(tag)}': {_PLAIN_ONLY}")

    def check_container_tag(self, event: Any, kind: str) -> None:
        tag = event.tag
        if tag is not None and tag != "!" and tag != _TAG_PREFIX + kind:
            raise self.fail(_mark(event), f"unsupported YAML tag '{_short_tag(tag)}': "
                                          f"{_PLAIN_ONLY}")

    def add(self, value: Any, mark: Any, size: int, anchor: str | None) -> None:
        if anchor is not None:
            self.anchors[anchor] = (value, size)
        if not self.stack:
            self.root, self.root_pos = value, _pos(mark)
            return
        top = self.stack[-1]
        top.size += size
        if isinstance(top.container, list):
            top.table[len(top.container)] = (mark, mark)
            top.container.append(value)
        elif top.key is None:
            self.set_key(top, value, mark)
        else:
            top.table[top.key] = (top.key_mark, mark)
            top.container[top.key] = value
            top.key = None

    def set_key(self, top: _Frame, value: Any, mark: Any) -> None:
        pos = _pos(mark)
        if isinstance(value, (dict, list)) or value is None:
            raise self.fail(pos, "mapping keys must be plain strings")
        key = str(value)
        if key == "<<" and isinstance(value, PlainScalar):
            raise self.fail(pos, "YAML merge keys ('<<') are not supported; write the fields out")
        if key in top.container:
            first = top.table[key][0].line + 1
            raise self.fail(pos, f"duplicate key '{key}' (first defined at line {first})")
        top.key, top.key_mark = key, mark

    def feed(self, event: Any) -> None:
        cls = type(event)
        if cls is _ScalarEvent:
            mark = event.start_mark
            self.count(1, _pos(mark))
            style = event.style
            if event.tag is None and (style == "" or style is None):  # the common case
                text = event.value
                value = None if text in _NULLS else PlainScalar(text)
            else:
                value = self.scalar(event)
            self.add(value, mark, 1, event.anchor)
        elif cls is _MappingStartEvent or cls is _SequenceStartEvent:
            self.check_container_tag(event, "map" if cls is _MappingStartEvent else "seq")
            if len(self.stack) >= MAX_DEPTH:
                raise self.fail(_mark(event), f"nesting deeper than {MAX_DEPTH} levels")
            self.count(1, _mark(event))
            container: Any = {} if cls is _MappingStartEvent else []
            self.stack.append(_Frame(container, event.start_mark, event.anchor))
        elif cls is _MappingEndEvent or cls is _SequenceEndEvent:
            frame = self.stack.pop()
            self.positions[id(frame.container)] = frame.table
            self.add(frame.container, frame.mark, frame.size + 1, frame.anchor)
        elif cls is _AliasEvent:
            pos = _mark(event)
            if event.anchor not in self.anchors:
                raise self.fail(pos, f"unknown alias '*{event.anchor}'")
            value, size = self.anchors[event.anchor]
            self.count(size, pos)
            self.add(value, event.start_mark, size, None)
        elif cls is _DocumentStartEvent:
            self.documents += 1
            if self.documents > 1:
                raise self.fail(_mark(event), "a file must hold exactly one YAML document")


_ScalarEvent = yaml.ScalarEvent
_MappingStartEvent = yaml.MappingStartEvent
_SequenceStartEvent = yaml.SequenceStartEvent
_MappingEndEvent = yaml.MappingEndEvent
_SequenceEndEvent = yaml.SequenceEndEvent
_AliasEvent = yaml.AliasEvent
_DocumentStartEvent = yaml.DocumentStartEvent


_Table = dict[Any, tuple[Any, Any]]


def _fast_parse(text: str, path: str) -> Loaded | None:
    """What _full_parse builds, for the common case, in one tight loop (about 1.7x as fast).

    Anything unusual (a tag, an anchor or alias, a merge or duplicate key, a non-string
    key, the depth or node limits, no document or a second one, a null document, a syntax
    error) returns None and the full builder runs from the start, so results and messages
    are exactly the builder's (tests/reliability/test_yaml_differential.py).
    The frame being filled lives in local variables, not on the stack: this loop runs for
    every node of every file, and local access is what makes it fast.
    """
    loader = _Loader(text)
    get = loader.get_event
    positions: dict[int, _Table] = {}
    stack: list[tuple[Any, Any, Any, Any, Any, bool]] = []  # the enclosing frames
    container: Any = None
    table: _Table = {}
    key: Any = None
    key_mark: Any = None
    start_mark: Any = None
    is_map = False
    depth = documents = total = 0
    root: Any = None
    root_mark: Any = None
    plain, nulls = PlainScalar, _NULLS
    try:
        event = get()
        while event is not None:
            cls = type(event)
            if cls is _ScalarEvent:
                if event.anchor is not None or event.tag is not None:
                    return None
                total += 1
                mark = event.start_mark
                value = event.value
                if is_map and key is None:
                    if (not event.style and (value in nulls or value == "<<")) \
                            or value in container:
                        return None
                    key, key_mark = value, mark
                    event = get()
                    continue
                if not event.style:
                    value = None if value in nulls else plain(value)
            elif cls is _MappingStartEvent or cls is _SequenceStartEvent:
                if event.anchor is not None or event.tag is not None \
                        or (is_map and key is None) or depth >= MAX_DEPTH:
                    return None
                total += 1
                stack.append((container, table, key, key_mark, start_mark, is_map))
                depth += 1
                is_map = cls is _MappingStartEvent
                container = {} if is_map else []
                table = {}
                key = None
                start_mark = event.start_mark
                event = get()
                continue
            elif cls is _MappingEndEvent or cls is _SequenceEndEvent:
                value, mark = container, start_mark
                positions[id(value)] = table
                container, table, key, key_mark, start_mark, is_map = stack.pop()
                depth -= 1
            elif cls is _DocumentStartEvent:
                documents += 1
                if documents > 1:
                    return None
                event = get()
                continue
            elif cls is _AliasEvent:
                return None
            else:
                event = get()
                continue
            if is_map:
                table[key] = (key_mark, mark)
                container[key] = value
                key = None
            elif depth:
                table[len(container)] = (mark, mark)
                container.append(value)
            else:
                root, root_mark = value, mark
            event = get()
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    # Without aliases the node count is bounded by the file size: checked once, here.
    if total > MAX_NODES or root is None:
        return None
    return Loaded(path=path, data=root, root=_pos(root_mark), positions=positions)


def _events(text: str) -> Iterator[Any]:
    """libyaml's events, without yaml.parse's per-event check_event call."""
    loader = _Loader(text)
    try:
        get = loader.get_event
        event = get()
        while event is not None:
            yield event
            event = get()
    finally:
        loader.dispose()


def _decode_yaml(raw: bytes | str, path: str) -> str:
    """The text both parsing paths read: bounded, UTF-8, no NUL byte, no BOM."""
    if isinstance(raw, str):
        if len(raw) > MAX_YAML_BYTES:
            raise InputError(_TOO_LARGE, path=path)
        return _check_text(raw, path)
    if len(raw) > MAX_YAML_BYTES:
        raise InputError(_TOO_LARGE, path=path)  # raw may be a prefix: never say its size
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise InputError(f"file is not valid UTF-8 (byte offset {e.start})",
                         path=path, line=line, col=col) from None
    return _check_text(text, path)


def _check_text(text: str, path: str) -> str:
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise InputError("file contains a NUL byte", path=path, line=line,
                         col=nul - text.rfind("\n", 0, nul)) from None
    return text.removeprefix("\ufeff")


def parse_yaml(raw: bytes | str, path: str) -> Loaded:
    """Parse one YAML document safely; errors are InputError with file, line and column."""
    text = _decode_yaml(raw, path)
    return _fast_parse(text, path) or _full_parse(text, path)


def _full_parse(text: str, path: str) -> Loaded:
    """Any document: built event by event, every refusal an InputError with its place."""
    builder = _Builder(path)
    try:
        feed = builder.feed
        for event in _events(text):
            feed(event)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = e.problem or e.context or "syntax error"
        raise InputError(f"invalid YAML: {problem}", path=path, line=line, col=col) from None
    except yaml.reader.ReaderError as e:
        # libyaml reports a byte offset into the UTF-8 text.
        before = text.encode("utf-8")[:e.position]
        line, col = before.count(b"\n") + 1, len(before) - (before.rfind(b"\n") + 1) + 1
        raise InputError(f"invalid YAML: {e.reason}", path=path, line=line, col=col) from None
    except yaml.YAMLError as e:
        raise InputError(f"invalid YAML: {type(e).__name__}", path=path, line=1, col=1) from None
    if builder.documents == 0 or builder.root is None:
        raise InputError("file is empty; expected a YAML mapping", path=path, line=1, col=1)
    return Loaded(path=path, data=builder.root, root=builder.root_pos,
                  positions=builder.positions)


def read_yaml(abs_path: str, rel_path: str) -> Loaded:
    """Read and parse a file, bounding its size before reading it whole."""
    try:
        with open(abs_path, "rb") as fh:
            raw = read_at_most(fh.fileno(), MAX_YAML_BYTES + 1)
    except OSError as e:
        raise InputError(f"cannot read file: {e.strerror}", path=rel_path) from None
    return parse_yaml(raw, rel_path)


def _represent_plain(dumper: Any, data: PlainScalar) -> Any:
    """Written as it was read, unquoted: whatever tag a reader resolves it to, ailoop's own
    reader keeps it as text and lets the schema decide (a quoted '0.9' would be text)."""
    text = str(data)
    tag = dumper.resolve(yaml.ScalarNode, text, (True, False))
    return dumper.represent_scalar(tag, text, style="")


_Dumper.add_representer(PlainScalar, _represent_plain)


class _QuotingDumper(_Dumper):  # type: ignore[misc]
    """Quotes a string that a YAML 1.2 reader would take for a number, a boolean or null
    (PyYAML only knows YAML 1.1's rules): a commit id like `12e4567890ab` stays a string
    for every tool that reads what ailoop writes."""


def _represent_str(dumper: Any, value: str) -> Any:
    if value in _NULLS or core_scalar(value) is not value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_str(value)


_QuotingDumper.add_representer(str, _represent_str)


def dump_yaml(data: Any, *, header: str = "") -> str:
    """Serialise plain data as block YAML, keeping key order."""
    body = yaml.dump(data, Dumper=_QuotingDumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=100)
    return header + body
