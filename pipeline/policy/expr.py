"""The adapter around the CEL implementation (`common-expression-language`, import `cel`).

Only this module imports `cel`. It turns the library's exceptions into two of ours with
short messages written for rule authors, and finds which document fields an expression
reads, so each evaluation converts only those fields (converting a whole document into CEL
values costs far more than running a rule).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any


def _load_cel() -> ModuleType:
    """The `cel` package's native module, without the package's __init__: that imports the
    package's interactive command line (prompt_toolkit, typer, rich), which costs more
    than every rule of a run. Falls back to the ordinary import."""
    if "cel" in sys.modules:
        return sys.modules["cel"]
    try:
        spec = importlib.util.find_spec("cel")
        for folder in (spec.submodule_search_locations or []) if spec else []:
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                path = f"{folder}/cel{suffix}"
                native = importlib.util.spec_from_file_location("cel.cel", path)
                if native is not None and native.loader is not None and os.path.isfile(path):
                    module = importlib.util.module_from_spec(native)
                    native.loader.exec_module(module)
                    # registered, so a later `import cel` reuses it: the native module
                    # can be initialised only once per process
                    sys.modules["cel.cel"] = module
                    return module
    except (ImportError, OSError):
        pass
    import cel

    return cel


cel = _load_cel()

# Variables a rule may use. `doc` is the whole document; `metadata` and `spec` its parts.
ROOTS = ("doc", "metadata", "spec", "customer", "project", "repo", "key", "now")
DOCUMENT_ROOTS = ("doc", "metadata", "spec")
_MACRO_VAR = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_STRING = re.compile(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'")
_ROOT_USE = re.compile(r"(?<![\w.])(doc|metadata|spec)\b")
# Roots whose values are cut down to the keys an expression reads (see variables()).
_NARROWED_USE = re.compile(r"(?<![\w.])(doc|metadata|spec|customer)\b")
_IDENT = re.compile(r"\s*\.\s*([A-Za-z_]\w*)")


class CelCompileError(Exception):
    """The expression does not parse."""


class CelRuntimeError(Exception):
    """The expression failed while running (missing key, division by zero, wrong types)."""


@dataclass(frozen=True)
class Expression:
    source: str
    program: Any
    # root -> the top-level keys read below it, or None when the whole value is used
    needs: dict[str, frozenset[str] | None] = field(default_factory=dict)
    paths: tuple[tuple[str, ...], ...] = ()
    unknown: tuple[str, ...] = ()
    uses: frozenset[str] = frozenset()


def compile_expression(source: str) -> Expression:
    try:
        program = cel.compile(source)
    except (ValueError, TypeError, RuntimeError) as e:
        raise CelCompileError(_compile_message(str(e))) from None
    bound = set(_MACRO_VAR.findall(source))
    variables = set(program.variables())
    unknown = tuple(sorted(variables - set(ROOTS) - bound))
    return Expression(source, program, _needs(field_paths(source, _NARROWED_USE)),
                      field_paths(source), unknown, frozenset(variables & set(ROOTS)))


def _compile_message(text: str) -> str:
    """'Failed to parse ...: ERROR: <input>:1:4: Syntax error: ...\\n| ...' -> '1:4: ...'."""
    first = text.split("\n", 1)[0]
    match = re.search(r"<input>:(\d+):(\d+):\s*(.*)", first)
    if match is None:
        return first
    line, col, problem = match.groups()
    return f"{problem.rstrip('.')} (expression line {line}, column {col})"


def field_paths(source: str, roots: re.Pattern[str] = _ROOT_USE) -> tuple[tuple[str, ...], ...]:
    """Member chains read from the document roots (or `roots`), e.g.
    ('spec', 'rollout', 'target').

    A chain stops before a method call (`.size()`), an index or anything else; string
    literals are blanked out first so their contents are never taken for fields.
    """
    text = _STRING.sub(lambda m: " " * len(m.group(0)), source)
    out: list[tuple[str, ...]] = []
    for match in roots.finditer(text):
        parts = [match.group(1)]
        pos = match.end()
        while (ident := _IDENT.match(text, pos)) is not None:
            after = text[ident.end():].lstrip()
            if after.startswith("("):
                break
            parts.append(ident.group(1))
            pos = ident.end()
        out.append(tuple(parts))
    return tuple(out)


def _needs(paths: tuple[tuple[str, ...], ...]) -> dict[str, frozenset[str] | None]:
    needs: dict[str, set[str] | None] = {}
    for path in paths:
        root = path[0]
        if len(path) == 1 or root == "doc":
            needs[root] = None  # the whole value is used (or doc: keep it simple)
        elif root not in needs or needs[root] is not None:
            keys = needs.setdefault(root, set())
            assert keys is not None
            keys.add(path[1])
    return {k: (frozenset(v) if v is not None else None) for k, v in needs.items()}


def merge_needs(
    many: list[dict[str, frozenset[str] | None]],
) -> dict[str, frozenset[str] | None]:
    out: dict[str, frozenset[str] | None] = {}
    for needs in many:
        for root, keys in needs.items():
            if root in out and (out[root] is None or keys is None):
                out[root] = None
            else:
                out[root] = (out.get(root) or frozenset()) | (keys or frozenset())
    return out


def make_context(variables: dict[str, Any]) -> Any:
    """A context reused by every rule run against one document."""
    return cel.Context(variables=variables)


class SharedContexts:
    """Contexts that keep a value converted across documents: converting the customer into
    CEL values costs more than running the rules, and it is the same for every document
    of that customer. A document's own variables replace the previous document's; those
    it does not set are never read, since its rules read only what it sets."""

    def __init__(self) -> None:
        self._by_key: dict[str, Any] = {}

    def make(self, key: str, shared: dict[str, Any], variables: dict[str, Any]) -> Any:
        context = self._by_key.get(key)
        if context is None:
            context = self._by_key[key] = cel.Context(variables=shared)
        context.update(variables)
        return context


def run(expression: Expression, context: Any) -> Any:
    try:
        return expression.program.execute(context)
    except KeyError as e:
        raise CelRuntimeError(f"no such key {e.args[0]!r}" if e.args else "no such key") from None
    except ZeroDivisionError:
        raise CelRuntimeError("division by zero") from None
    except (TypeError, ValueError, RuntimeError, OverflowError) as e:
        raise CelRuntimeError(_first_sentence(str(e))) from None


def _first_sentence(text: str) -> str:
    text = text.split("\n", 1)[0].strip()
    match = re.match(r"(.+?)\.(\s|$)", text)
    sentence = match.group(1) if match else text
    return sentence or "evaluation failed"
