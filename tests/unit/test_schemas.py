from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from pipeline.documents.schemas import file_name, render_schema, stale_schemas
from pipeline.documents.yamlio import parse_yaml
from pipeline.model import KINDS
from pipeline.model.scalars import typed
from tests.support import CASES, ROOT, run_cli


def test_checked_in_schemas_are_current() -> None:
    assert stale_schemas(str(ROOT / "schemas")) == [], "run `.venv/bin/ailoop schemas`"


def test_one_schema_file_per_kind() -> None:
    names = sorted(file_name(kind) for kind in KINDS)
    assert names == sorted(p.name for p in (ROOT / "schemas").glob("*.schema.json"))
    assert file_name("ReviewRequest") == "review-request.schema.json"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_schema_header(kind: str) -> None:
    schema = json.loads(render_schema(kind))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://ailoop.dev/schemas/{file_name(kind)}"
    assert schema["title"] == f"ailoop {kind}"
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("rel", ["ailoop.yaml", "customers/acme/customer.yaml",
                                 "customers/acme/triage/priority.yaml"])
def test_valid_documents_satisfy_their_schema(rel: str) -> None:
    data = typed(parse_yaml((CASES / "base" / rel).read_bytes(), rel).data)
    schema = json.loads(render_schema(data["kind"]))
    jsonschema.Draft202012Validator(schema).validate(data)


def test_cli_check_passes_then_names_an_edited_file(tmp_path: Path, capsys: object) -> None:
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    (tmp_path / "ailoop.yaml").write_text("kind: Project\n")
    ok = run_cli(capsys, "-C", str(tmp_path), "schemas", "--check")
    assert (ok.code, ok.out) == (0, "Schemas are up to date.\n")
    edited = tmp_path / "schemas" / "priority.schema.json"
    edited.write_text(edited.read_text().replace('"title": "ailoop Priority"', '"title": "x"'))
    (tmp_path / "schemas" / "waiver.schema.json").unlink()
    stale = run_cli(capsys, "-C", str(tmp_path), "schemas", "--check")
    assert stale.code == 1
    assert stale.out == (
        f"{tmp_path}/schemas/priority.schema.json: stale; run `ailoop schemas`\n"
        f"{tmp_path}/schemas/waiver.schema.json: stale; run `ailoop schemas`\n")


def test_cli_writes_schemas_atomically_to_a_folder(tmp_path: Path, capsys: object) -> None:
    out = tmp_path / "out"
    result = run_cli(capsys, "schemas", "--out", str(out))
    assert result.code == 0
    assert result.out.splitlines() == [f"wrote {out}/{file_name(k)}" for k in sorted(KINDS)]
    assert sorted(p.name for p in out.iterdir()) == sorted(file_name(k) for k in KINDS)
    again = run_cli(capsys, "schemas", "--check", "--out", str(out))
    assert (again.code, again.out) == (0, "Schemas are up to date.\n")


def test_cli_check_on_this_repository(capsys: object) -> None:
    result = run_cli(capsys, "-C", str(ROOT), "schemas", "--check")
    assert (result.code, result.out) == (0, "Schemas are up to date.\n")
