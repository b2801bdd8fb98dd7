"""YAML file -> typed document, or findings that name the file, line, column and field."""

from __future__ import annotations

import os
import re
import types
import typing
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError

from pipeline.documents.findings import Finding, closest, did_you_mean, format_field_path
from pipeline.documents.layout import expected_kinds
from pipeline.documents.yamlio import Loaded, parse_yaml, read_yaml
from pipeline.errors import InputError
from pipeline.model import KINDS, Model
from pipeline.model.priority import Priority

if typing.TYPE_CHECKING:
    from pipeline.model.status import StatusBody

Loc = tuple[str | int, ...]


class Document(NamedTuple):
    path: str
    kind: str
    model: Any
    source: Loaded

    def pos(self, *loc: str | int) -> tuple[int, int]:
        return self.source.position(loc)

    def finding(self, loc: Loc, message: str, *, rule: str = "",
                severity: typing.Literal["error", "warning"] = "error") -> Finding:
        (line, col), kept = self.source.locate(loc)
        return Finding(self.path, line, col, format_field_path(kept), message, rule, severity)


def error_finding(err: InputError, fallback_path: str) -> Finding:
    return Finding(err.path or fallback_path, err.line or 1, err.col or 1, "", err.detail)


def load_document(root: str, rel: str, raw: bytes | None = None
                  ) -> tuple[Document | None, list[Finding]]:
    """Load one document at a layout location; never raises for bad content. `raw`: its
    bytes, when the caller has read them already (at most MAX_YAML_BYTES + 1 of them)."""
    abs_path = os.path.join(root, rel)
    # The file or its folder (events/, approvals/, ...) may be a link out of the repo.
    linked_file = os.path.islink(abs_path)
    if linked_file or os.path.islink(os.path.dirname(abs_path)):
        real, real_root = os.path.realpath(abs_path), os.path.realpath(root)
        if not real.startswith(real_root.rstrip(os.sep) + os.sep):
            what = "file" if linked_file else "its folder"
            return None, [Finding(rel, 1, 1, "", f"{what} is a symlink that leaves the "
                                                 "repository")]
    try:
        loaded = read_yaml(abs_path, rel) if raw is None else parse_yaml(raw, rel)
    except InputError as e:
        return None, [error_finding(e, rel)]
    return document_from(loaded, expected_kinds(rel))


def document_from(
    loaded: Loaded, expected: frozenset[str] | None
) -> tuple[Document | None, list[Finding]]:
    data = loaded.data
    if not isinstance(data, dict):
        return None, [Finding(loaded.path, loaded.root[0], loaded.root[1], "",
                              "the document must be a mapping with apiVersion, kind, metadata")]
    kind_error = _check_kind(loaded, expected)
    if kind_error is not None:
        return None, [kind_error]
    kind = str(data["kind"])
    try:
        model = KINDS[kind].model_validate(data)
    except ValidationError as e:
        return None, validation_findings(loaded, KINDS[kind], e)
    return Document(loaded.path, kind, model, loaded), []


def _check_kind(loaded: Loaded, expected: frozenset[str] | None) -> Finding | None:
    kind = loaded.data.get("kind")
    (line, col), _ = loaded.locate(("kind",))
    if kind is None:
        return Finding(loaded.path, line, col, "kind", "required field is missing")
    kind = str(kind)
    if kind not in KINDS:
        hint = did_you_mean(kind, KINDS)
        return Finding(loaded.path, line, col, "kind", f"unknown kind '{kind}'{hint}")
    if expected is not None and kind not in expected:
        wanted = " or ".join(sorted(expected))
        name = os.path.basename(loaded.path)
        where = "this folder" if len(expected) > 1 else f"'{name}'"
        return Finding(loaded.path, line, col, "kind",
                       f"{where} must hold kind {wanted}, not {kind}")
    return None


def validation_findings(loaded: Loaded, model: type[Model], exc: ValidationError) -> list[Finding]:
    errors = exc.errors(include_url=False)
    typos = _typo_targets(errors, model)
    out: list[Finding] = []
    for err in errors:
        loc = _error_loc(err)
        if err["type"] == "missing" and loc in typos:
            continue  # the unknown field next to it says "did you mean" this one
        is_extra = err["type"] == "extra_forbidden"
        (line, col), kept = loaded.locate(loc, at_key=is_extra)
        out.append(Finding(loaded.path, line, col, format_field_path(kept),
                           _message(err, model, loc)))
    return out


def _error_loc(err: Any) -> Loc:
    """pydantic puts a bad union tag at the item; the user wrote it at the tag field."""
    loc: Loc = tuple(err["loc"])
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return (*loc, str(err["ctx"]["discriminator"]).strip("'"))
    return loc


def _typo_targets(errors: list[Any], model: type[Model]) -> set[Loc]:
    """Missing fields that an unknown sibling field is a likely misspelling of."""
    targets: set[Loc] = set()
    for err in errors:
        if err["type"] != "extra_forbidden":
            continue
        loc = tuple(err["loc"])
        close = closest(str(loc[-1]), allowed_fields(model, loc[:-1]))
        if close:
            targets.add((*loc[:-1], close))
    return targets


def _message(err: Any, model: type[Model], loc: Loc) -> str:
    kind = err["type"]
    if kind in ("missing", "union_tag_not_found"):
        return "required field is missing"
    if kind == "extra_forbidden":
        name = str(loc[-1])
        return f"unknown field '{name}'{did_you_mean(name, allowed_fields(model, loc[:-1]))}"
    if kind == "literal_error":
        return _one_of(err.get("ctx", {}).get("expected", ""), err.get("input"))
    if kind == "union_tag_invalid":
        return _one_of(err["ctx"]["expected_tags"], err["ctx"]["tag"])
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    msg = re.sub(r"^(Input|String|List|Dictionary|Tuple|Set|Value) should ", "must ", msg)
    return msg.replace(" after validation", "")


def _one_of(expected: str, given: Any) -> str:
    choices = [c.strip(" '") for c in expected.replace(" or ", ", ").split(",")]
    if len(choices) == 1:
        return f"must be {expected}"
    hint = did_you_mean(given, choices) if isinstance(given, str) else ""
    return f"must be one of {expected}{hint}"


def allowed_fields(model: type[BaseModel], loc: Loc) -> list[str]:
    """The YAML field names accepted at `loc` (for did-you-mean hints)."""
    ann: Any = model
    for part in loc:
        ann = _unwrap(ann)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            field = _field_by_alias(ann, part)
            if field is not None:
                ann = field
            continue
        origin, args = typing.get_origin(ann), typing.get_args(ann)
        if origin is list and isinstance(part, int):
            ann = args[0]
        elif origin is dict:
            ann = args[1]
        elif origin in (typing.Union, types.UnionType):
            ann = _union_member(args, part) or ann
    ann = _unwrap(ann)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [f.alias or n for n, f in ann.model_fields.items()]
    return []


def _field_by_alias(model: type[BaseModel], part: str | int) -> Any:
    for name, field in model.model_fields.items():
        if part in (field.alias, name):
            return field.annotation
    return None


def _union_member(args: tuple[Any, ...], tag: str | int) -> Any:
    for member in args:
        member = _unwrap(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            field = member.model_fields.get("type")
            if field is not None and tag in typing.get_args(field.annotation):
                return member
    return None


def _unwrap(ann: Any) -> Any:
    while True:
        if typing.get_origin(ann) is typing.Annotated:
            ann = typing.get_args(ann)[0]
            continue
        if typing.get_origin(ann) in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(ann) if a is not type(None)]
            models = [a for a in members if isinstance(a, type) and issubclass(a, BaseModel)]
            if len(members) == 1:
                ann = members[0]
                continue
            if len(models) == 1 and len(members) == 1:
                ann = models[0]
                continue
        return ann


def load_priority(root: str, key: str) -> Priority:
    """The priority `key` ("customer/priority"), or InputError naming the file, line and
    field of its first problem (and how many more there are)."""
    from pipeline.documents.layout import KEY_RE, priority_dir, unknown_priority

    rel = f"{priority_dir(key)}/priority.yaml" if KEY_RE.match(key) else ""
    if not rel or not os.path.isfile(os.path.join(root, rel)):
        raise unknown_priority(root, key)
    document, findings = load_document(root, rel)
    if document is None or not isinstance(document.model, Priority):
        raise _first_problem(findings, rel, "Priority")
    return document.model


def load_customer(root: str, customer: str) -> Document:
    """customers/<customer>/customer.yaml as a document (the model and its positions), or
    InputError naming the file, line and field of its first problem."""
    from pipeline.documents.layout import CUSTOMERS

    rel = f"{CUSTOMERS}/{customer}/customer.yaml"
    if not re.fullmatch(r"[a-z0-9][-a-z0-9]*", customer) or \
            not os.path.isfile(os.path.join(root, rel)):
        raise InputError(f"no such customer '{customer}': {rel} does not exist")
    document, findings = load_document(root, rel)
    if document is None or document.kind != "Customer":
        raise _first_problem(findings, rel, "Customer")
    return document


def load_status(root: str, key: str) -> StatusBody | None:
    """The status the reconciler recorded for `key`; None when it has none yet."""
    from pipeline.documents.layout import STATUS_FILE, priority_dir
    from pipeline.model.status import Status  # only status readers pay for its classes

    rel = f"{priority_dir(key)}/{STATUS_FILE}"
    if not os.path.lexists(os.path.join(root, rel)):
        return None
    document, findings = load_document(root, rel)
    if document is None or not isinstance(document.model, Status):
        raise _first_problem(findings, rel, "Status")
    return document.model.status


def _first_problem(findings: list[Finding], rel: str, kind: str) -> InputError:
    if not findings:
        return InputError(f"expected kind {kind}", path=rel)
    first = findings[0]
    more = f" (and {len(findings) - 1} more; run `ailoop validate`)" if len(findings) > 1 else ""
    message = f"{first.field}: {first.message}" if first.field else first.message
    return InputError(message + more, path=first.path, line=first.line, col=first.col)
