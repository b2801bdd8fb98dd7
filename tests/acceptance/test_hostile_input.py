"""Hostile files in a pull request: each is refused with one clear, pinned message.

Every hostile file carries SECRET; no message may echo it (messages never quote contents).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.documents.yamlio import MAX_YAML_BYTES, read_yaml
from pipeline.errors import InputError
from tests.support import minimal_repo, run_cli

SECRET = "hunter2-SECRET-d41d8cd9"
PRIORITY = "customers/acme/triage/priority.yaml"
SUMMARY = "1 error, 0 warnings in 3 files checked."

BILLION_LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)
PLAIN_ONLY = "only plain data (mappings, lists, strings, numbers, booleans, null) is allowed"

# name -> (file content, the exact finding after the path)
HOSTILE: dict[str, tuple[bytes, str]] = {
    "billion-laughs": (
        f"# {SECRET}\n{BILLION_LAUGHS}".encode(),
        "7:8: document expands to more than 100000 nodes (alias expansion or size limit); "
        "refusing to load it"),
    "python-object-tag": (
        f"kind: !!python/object:os.system\n  cmd: {SECRET}\n".encode(),
        f"1:7: unsupported YAML tag '!!python/object:os.system': {PLAIN_ONLY}"),
    "python-apply-tag": (
        f"kind: !!python/object/apply:os.system ['echo {SECRET}']\n".encode(),
        f"1:7: unsupported YAML tag '!!python/object/apply:os.system': {PLAIN_ONLY}"),
    "python-name-tag": (
        f"kind: Priority\nx: !!python/name:os.system {SECRET}\n".encode(),
        f"2:4: unsupported YAML tag '!!python/name:os.system': {PLAIN_ONLY}"),
    "duplicate-keys": (
        f"kind: Priority\nmetadata: {{name: x}}\nkind: {SECRET}\n".encode(),
        "3:1: duplicate key 'kind' (first defined at line 1)"),
    "invalid-utf8": (
        f"kind: Priority\nnote: {SECRET}\xff\n".encode("latin-1"),
        "2:30: file is not valid UTF-8 (byte offset 44)"),
    "nul-byte": (
        f"kind: Priority\nnote: {SECRET}\0\n".encode(),
        "2:30: file contains a NUL byte"),
    "control-character": (
        f"kind: Priority\nnote: {SECRET}\x07\n".encode(),
        "2:30: invalid YAML: control characters are not allowed"),
    "deep-nesting": (
        (f"# {SECRET}\nx: " + "[" * 200 + "]" * 200 + "\n").encode(),
        "2:67: nesting deeper than 64 levels"),
    "deep-mappings": (
        "".join("  " * i + f"k{i}:\n" for i in range(100)).encode() + SECRET.encode(),
        "65:129: nesting deeper than 64 levels"),
    "multi-document": (
        f"kind: Priority\n---\nkind: {SECRET}\n".encode(),
        "2:1: a file must hold exactly one YAML document"),
    "merge-key": (
        f"base: &b {{note: {SECRET}}}\nspec:\n  <<: *b\n".encode(),
        "3:3: YAML merge keys ('<<') are not supported; write the fields out"),
    "complex-key": (
        f"? [{SECRET}]\n: 1\n".encode(),
        "1:3: mapping keys must be plain strings"),
    "unknown-alias": (
        f"note: {SECRET}\nx: *nowhere\n".encode(),
        "2:4: unknown alias '*nowhere'"),
    "syntax-error": (
        f"note: '{SECRET}\n".encode(),
        "2:1: invalid YAML: found unexpected end of stream"),
    "empty": (b"", "1:1: file is empty; expected a YAML mapping"),
    "scalar-document": (
        SECRET.encode(),
        "1:1: the document must be a mapping with apiVersion, kind, metadata"),
}


def _run(capsys: object, root: Path) -> tuple[int, str]:
    result = run_cli(capsys, "-C", str(root), "validate", "--no-cache")
    assert result.err == ""
    assert "Traceback" not in result.out
    return result.code, result.out


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_priority_file_is_refused(name: str, tmp_path: Path, capsys: object) -> None:
    content, finding = HOSTILE[name]
    root = minimal_repo(tmp_path / "repo")
    (root / PRIORITY).write_bytes(content)
    code, out = _run(capsys, root)
    assert code == 1
    assert out == f"{PRIORITY}:{finding}\n{SUMMARY}\n"
    assert SECRET not in out


def test_billion_laughs_is_refused_by_the_parser(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    assert len(BILLION_LAUGHS) < 400
    with pytest.raises(InputError) as caught:
        read_yaml(str(path), "bomb.yaml")
    assert caught.value.line == 6
    assert "refusing to load it" in str(caught.value)


def test_fifty_megabyte_file_is_refused_on_size(tmp_path: Path, capsys: object) -> None:
    root = minimal_repo(tmp_path / "repo")
    big = root / PRIORITY
    with open(big, "wb") as fh:
        fh.write(f"kind: Priority\nnote: {SECRET}\n".encode())
        fh.truncate(50 * 1024 * 1024)
    code, out = _run(capsys, root)
    assert code == 1
    assert out == (f"{PRIORITY}:1:1: file is larger than {MAX_YAML_BYTES} bytes, the limit for "
                   f"YAML files\n{SUMMARY}\n")
    assert SECRET not in out


def test_size_limit_reads_no_more_than_the_limit(tmp_path: Path) -> None:
    """read_yaml must refuse a huge file after reading at most the limit plus one byte:
    a FIFO that would block after that many bytes proves it never asks for more."""
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the writer child
        try:
            with open(fifo, "wb") as fh:
                fh.write(b"#" * (MAX_YAML_BYTES + 1))
        finally:
            os._exit(0)
    try:
        with pytest.raises(InputError) as caught:
            read_yaml(str(fifo), "pipe.yaml")
    finally:
        os.waitpid(pid, 0)
    assert caught.value.detail == f"file is larger than {MAX_YAML_BYTES} bytes, the limit " \
                                  "for YAML files"


@pytest.mark.parametrize(("ref", "message"), [
    ("../../../../etc/passwd", "path '../../../../etc/passwd' leaves the repository"),
    ("/etc/passwd", "path '/etc/passwd' must be relative to the priority folder"),
    ("C:/data.jsonl", "path 'C:/data.jsonl' must be relative to the priority folder"),
])
def test_dataset_path_outside_the_repository(ref: str, message: str, tmp_path: Path,
                                             capsys: object) -> None:
    root = minimal_repo(tmp_path / "repo")
    priority = root / PRIORITY
    priority.write_text(priority.read_text().replace("dataset: dataset.jsonl",
                                                     f"dataset: {ref}"))
    code, out = _run(capsys, root)
    assert code == 1
    assert out == f"{PRIORITY}:16:14: spec.dryRun.dataset: {message}\n{SUMMARY}\n"


def test_dataset_symlink_leaving_the_repository(tmp_path: Path, capsys: object) -> None:
    outside = tmp_path / "outside.jsonl"
    outside.write_text(f'{{"id": "{SECRET}", "input": {{}}}}\n{SECRET}\n')
    root = minimal_repo(tmp_path / "repo")
    dataset = root / "customers/acme/triage/dataset.jsonl"
    dataset.unlink()
    dataset.symlink_to(outside)
    code, out = _run(capsys, root)
    assert code == 1
    assert out == (f"{PRIORITY}:16:14: spec.dryRun.dataset: path 'dataset.jsonl' is a symlink "
                   f"that leaves the repository\n{SUMMARY}\n")
    assert SECRET not in out


def test_dataset_symlink_inside_the_repository_is_allowed(tmp_path: Path,
                                                         capsys: object) -> None:
    root = minimal_repo(tmp_path / "repo")
    folder = root / "customers/acme/triage"
    (folder / "dataset.jsonl").rename(root / "shared.jsonl")
    (folder / "dataset.jsonl").symlink_to(root / "shared.jsonl")
    assert _run(capsys, root) == (0, "All 3 files valid.\n")


@pytest.mark.parametrize("document", [PRIORITY, "customers/acme/customer.yaml"])
def test_document_symlink_leaving_the_repository(document: str, tmp_path: Path,
                                                 capsys: object) -> None:
    root = minimal_repo(tmp_path / "repo")
    outside = tmp_path / "outside.yaml"
    outside.write_text(f"kind: Priority\nsecret: {SECRET}\n")
    (root / document).unlink()
    (root / document).symlink_to(outside)
    code, out = _run(capsys, root)
    assert code == 1
    assert f"{document}:1:1: file is a symlink that leaves the repository\n" in out
    assert SECRET not in out


def test_symlinked_customer_folder_is_not_followed(tmp_path: Path, capsys: object) -> None:
    outside = minimal_repo(tmp_path / "elsewhere")
    root = minimal_repo(tmp_path / "repo")
    (root / "customers/evil").symlink_to(outside / "customers/acme")
    assert _run(capsys, root) == (0, "All 3 files valid.\n")


def test_dangling_symlink_is_a_finding(tmp_path: Path, capsys: object) -> None:
    root = minimal_repo(tmp_path / "repo")
    (root / PRIORITY).unlink()
    (root / PRIORITY).symlink_to(root / "customers/acme/triage/gone.yaml")
    code, out = _run(capsys, root)
    assert (code, out) == (1, f"{PRIORITY}:1:1: cannot read file: No such file or directory\n"
                              f"{SUMMARY}\n")
