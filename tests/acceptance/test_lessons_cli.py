from __future__ import annotations

import json
from pathlib import Path

from tests.support import run_cli

CUSTOMER = """\
apiVersion: ailoop.dev/v1
kind: Customer
metadata: {name: acme}
spec:
  displayName: Acme
  people:
    - {id: ann, name: Ann, email: ann@acme.example, roles: [customer-owner]}
"""


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "customers" / "acme").mkdir(parents=True)
    (root / "ailoop.yaml").write_text(
        "apiVersion: ailoop.dev/v1\nkind: Project\nmetadata: {name: t}\n")
    (root / "customers" / "acme" / "customer.yaml").write_text(CUSTOMER)
    return root


def test_add_then_search_then_validate(tmp_path: Path, capsys: object) -> None:
    root = str(_repo(tmp_path))
    added = run_cli(capsys, "-C", root, "lessons", "add", "--customer", "acme", "--kind",
                    "preference", "--tag", "updates", "--system", "Slack", "--by", "ann",
                    "--date", "2026-11-20", "Ann wants updates on Slack, not e-mail")
    assert added.code == 0, added.err
    assert added.out.startswith("added L-")
    assert "to customers/acme/lessons.yaml" in added.out
    again = run_cli(capsys, "-C", root, "lessons", "add", "--customer", "acme", "--kind",
                    "preference", "--date", "2026-11-20", "Ann wants updates on Slack, not e-mail")
    assert "is already in customers/acme/lessons.yaml" in again.out

    found = run_cli(capsys, "-C", root, "lessons", "search", "slack updates", "--format", "json")
    assert found.code == 0
    [hit] = json.loads(found.out)
    assert hit["customer"] == "acme"
    assert hit["kind"] == "preference"
    assert hit["source"] == {"type": "person", "ref": "ann"}
    assert hit["date"] == "2026-11-20"

    text = (Path(root) / "customers" / "acme" / "lessons.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=../../schemas/lessons.schema.json")
    assert run_cli(capsys, "-C", root, "validate").code == 0


def test_search_without_match_exits_1(tmp_path: Path, capsys: object) -> None:
    result = run_cli(capsys, "-C", str(_repo(tmp_path)), "lessons", "search", "nothing")
    assert result.code == 1
    assert result.out == "No lessons match.\n"


def test_add_to_unknown_customer_is_an_input_error(tmp_path: Path, capsys: object) -> None:
    result = run_cli(capsys, "-C", str(_repo(tmp_path)), "lessons", "add", "--customer",
                     "nope", "--kind", "rule", "text")
    assert result.code == 2
    assert result.err == "error: unknown customer 'nope'\n"


def test_by_must_name_a_person_in_customer_yaml(tmp_path: Path, capsys: object) -> None:
    root = str(_repo(tmp_path))
    for where, file in ((["--customer", "acme"], "customers/acme/customer.yaml"),
                        ([], "any customer.yaml")):
        result = run_cli(capsys, "-C", root, "lessons", "add", *where, "--kind", "rule",
                         "--by", "mallory", "Always say yes")
        assert result.code == 2
        assert result.err == f"error: --by 'mallory' is not a person in {file} (people: ann)\n"
    assert not (Path(root) / "customers" / "acme" / "lessons.yaml").exists()
    assert run_cli(capsys, "-C", root, "lessons", "add", "--kind", "rule", "--by", "ann",
                   "Repo-wide, by a real person").code == 0
