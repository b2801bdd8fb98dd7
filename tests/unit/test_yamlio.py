from __future__ import annotations

import math
from pathlib import Path

import pytest

from pipeline.documents import yamlio
from pipeline.documents.yamlio import dump_yaml, parse_yaml, read_yaml
from pipeline.errors import InputError
from pipeline.model.scalars import PlainScalar, typed

DOC = """\
kind: Priority
spec:
  rollout:
    stages:
      - name: shadow
        percent: 0
      -   name: canary
          percent: 5
  quoted: "NO"
"""


def _error(text: str | bytes) -> InputError:
    with pytest.raises(InputError) as caught:
        parse_yaml(text, "f.yaml")
    return caught.value


def test_every_key_and_value_has_its_position() -> None:
    loaded = parse_yaml(DOC, "f.yaml")
    assert loaded.locate(("kind",)) == ((1, 7), ("kind",))
    assert loaded.locate(("kind",), at_key=True) == ((1, 1), ("kind",))
    assert loaded.locate(("spec", "rollout", "stages", 1, "percent")) == (
        (8, 20), ("spec", "rollout", "stages", 1, "percent"))
    assert loaded.locate(("spec", "rollout", "stages", 1)) == (
        (7, 11), ("spec", "rollout", "stages", 1))
    assert loaded.locate(()) == ((1, 1), ())


def test_missing_last_part_points_at_its_parent_and_stays_in_the_path() -> None:
    loaded = parse_yaml(DOC, "f.yaml")
    assert loaded.locate(("spec", "rollout", "target")) == (
        (4, 5), ("spec", "rollout", "target"))


def test_parts_that_are_not_in_the_data_are_skipped() -> None:
    """pydantic puts union tags in error locations; they are not YAML keys."""
    loaded = parse_yaml(DOC, "f.yaml")
    assert loaded.locate(("spec", "rollout", "stages", 0, "regex", "name")) == (
        (5, 15), ("spec", "rollout", "stages", 0, "name"))
    assert loaded.locate(("spec", "rollout", "stages", 7, "name")) == (
        (5, 7), ("spec", "rollout", "stages", 7, "name"))
    assert loaded.locate(("spec", "monitoring", "gates", 0)) == (
        (3, 3), ("spec", "monitoring", "gates", 0))


def test_plain_scalars_keep_their_text() -> None:
    data = parse_yaml("a: NO\nb: 010\nc: no\nd: 1.10\ne: 'no'\nf: on\n", "f.yaml").data
    assert data == {"a": "NO", "b": "010", "c": "no", "d": "1.10", "e": "no", "f": "on"}
    assert all(isinstance(data[k], PlainScalar) for k in "abcdf")
    assert type(data["e"]) is str


@pytest.mark.parametrize("text", ["", "~", "null", "Null", "NULL"])
def test_null_words_are_none(text: str) -> None:
    assert parse_yaml(f"a: {text}\n", "f.yaml").data == {"a": None}


def test_quoted_null_words_are_strings() -> None:
    assert parse_yaml("a: 'null'\nb: \"~\"\n", "f.yaml").data == {"a": "null", "b": "~"}


@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("False", False), ("010", 10), ("-7", -7), ("+3", 3), ("0o17", 15),
    ("0x1f", 31), ("1.5", 1.5), ("1e3", 1000.0), (".5", 0.5), ("-.inf", -math.inf),
    ("no", "no"), ("yes", "yes"), ("on", "on"), ("NO", "NO"), ("1_000", "1_000"),
    ("0b101", "0b101"), ("12:30", "12:30"), ("2026-01-01", "2026-01-01"),
])
def test_typed_follows_the_yaml_1_2_core_schema(text: str, value: object) -> None:
    result = typed(PlainScalar(text))
    assert result == value
    assert type(result) is type(value)


def test_typed_converts_nested_values_and_leaves_quoted_strings() -> None:
    data = parse_yaml("a: [1, '2', {b: true, c: 'true'}]\nd: .nan\n", "f.yaml").data
    result = typed(data)
    assert result["a"] == [1, "2", {"b": True, "c": "true"}]
    assert math.isnan(result["d"])


@pytest.mark.parametrize(("text", "value"), [
    ("!!str 010", "010"), ("!!int 010", 10), ("!!float 1", 1.0), ("!!bool true", True),
    ("!!null ''", None), ("!!str yes", "yes"), ("!!map {x: 1}", {"x": "1"}),
    ("!!seq [1]", ["1"]), ("! 5", "5"),
])
def test_core_tags_are_applied(text: str, value: object) -> None:
    result = parse_yaml(f"a: {text}\n", "f.yaml").data["a"]
    assert result == value
    assert type(result) is type(value)


@pytest.mark.parametrize(("text", "message"), [
    ("!!bool yes", "f.yaml:1:4: value is not a valid !!bool"),
    ("!!int 1.5", "f.yaml:1:4: value is not a valid !!int"),
    ("!!float abc", "f.yaml:1:4: value is not a valid !!float"),
    ("!!int true", "f.yaml:1:4: value is not a valid !!int"),
    ("!Ref x", "f.yaml:1:4: unsupported YAML tag '!Ref': only plain data (mappings, lists, "
               "strings, numbers, booleans, null) is allowed"),
    ("!!set {a}", "f.yaml:1:4: unsupported YAML tag '!!set': only plain data (mappings, "
                  "lists, strings, numbers, booleans, null) is allowed"),
    ("!!timestamp 2020-01-01", "f.yaml:1:4: unsupported YAML tag '!!timestamp': only plain "
                               "data (mappings, lists, strings, numbers, booleans, null) is "
                               "allowed"),
])
def test_bad_or_unsupported_tags_are_errors(text: str, message: str) -> None:
    assert str(_error(f"a: {text}\n")) == message


def test_aliases_share_the_anchored_value() -> None:
    data = parse_yaml("a: &x [1, 2]\nb: *x\n", "f.yaml").data
    assert data["b"] == ["1", "2"]


def test_aliases_count_their_full_expanded_size(monkeypatch: pytest.MonkeyPatch) -> None:
    # root 1 + key 1 + anchored list 11 (start and 10 items) = 13; each alias key 1 + 11.
    monkeypatch.setattr(yamlio, "MAX_NODES", 50)
    anchor = "a: &x [" + ", ".join("v" for _ in range(10)) + "]\n"
    three = anchor + "".join(f"k{i}: *x\n" for i in range(3))
    assert len(parse_yaml(three, "f.yaml").data) == 4  # 13 + 3 * 12 = 49 nodes
    err = _error(three + "k3: *x\n")  # 61 nodes
    assert str(err) == ("f.yaml:5:5: document expands to more than 50 nodes (alias expansion "
                        "or size limit); refusing to load it")


def test_unknown_alias_is_an_error() -> None:
    assert str(_error("a: *nope\n")) == "f.yaml:1:4: unknown alias '*nope'"


@pytest.mark.parametrize(("text", "message"), [
    ("a: 1\na: 2\n", "f.yaml:2:1: duplicate key 'a' (first defined at line 1)"),
    ("x:\n  a: 1\n  b: 2\n  'a': 3\n", "f.yaml:4:3: duplicate key 'a' (first defined at line 2)"),
    ("a: &m {x: 1}\nb:\n  <<: *m\n", "f.yaml:3:3: YAML merge keys ('<<') are not supported; "
                                     "write the fields out"),
    ("? [a]\n: 1\n", "f.yaml:1:3: mapping keys must be plain strings"),
    ("~: 1\n", "f.yaml:1:1: mapping keys must be plain strings"),
    ("a: 1\n---\nb: 2\n", "f.yaml:2:1: a file must hold exactly one YAML document"),
    ("", "f.yaml:1:1: file is empty; expected a YAML mapping"),
    ("# nothing\n", "f.yaml:1:1: file is empty; expected a YAML mapping"),
    ("---\n...\n", "f.yaml:1:1: file is empty; expected a YAML mapping"),
    ("a: [1\n", "f.yaml:2:1: invalid YAML: did not find expected ',' or ']'"),
    ("a:\n\tb: 1\n", "f.yaml:2:1: invalid YAML: found character that cannot start any token"),
    ("a: b\x07c\n", "f.yaml:1:5: invalid YAML: control characters are not allowed"),
    ("a: é\x07\n", "f.yaml:1:6: invalid YAML: control characters are not allowed"),
    ("a: 1\nb: x\x00\n", "f.yaml:2:5: file contains a NUL byte"),
])
def test_structural_errors_name_the_place(text: str, message: str) -> None:
    assert str(_error(text)) == message


def test_quoted_merge_key_is_an_ordinary_key() -> None:
    assert parse_yaml("'<<': 1\n", "f.yaml").data == {"<<": "1"}


def test_nesting_is_bounded() -> None:
    ok = "a: " + "[" * 63 + "]" * 63 + "\n"
    assert isinstance(parse_yaml(ok, "f.yaml").data["a"], list)
    assert str(_error("a: " + "[" * 64 + "]" * 64 + "\n")) == (
        "f.yaml:1:67: nesting deeper than 64 levels")


def test_bytes_are_decoded_strictly() -> None:
    assert parse_yaml(b"\xef\xbb\xbfa: 1\n", "f.yaml").data == {"a": "1"}
    assert str(_error(b"a: 1\nb: \xc3\x28\n")) == (
        "f.yaml:2:4: file is not valid UTF-8 (byte offset 8)")
    assert str(_error(b"a: \x00\n")) == "f.yaml:1:4: file contains a NUL byte"


def test_size_is_bounded_for_text_and_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlio, "MAX_YAML_BYTES", 10)
    monkeypatch.setattr(yamlio, "_TOO_LARGE", "too large")
    assert parse_yaml("a: 1234567", "f.yaml").data == {"a": "1234567"}
    assert str(_error("a: 12345678")) == "f.yaml: too large"
    assert str(_error(b"a: 12345678")) == "f.yaml: too large"


def test_read_yaml_names_the_relative_path(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text("a: 1\n")
    assert read_yaml(str(tmp_path / "ok.yaml"), "x/ok.yaml").path == "x/ok.yaml"
    with pytest.raises(InputError) as caught:
        read_yaml(str(tmp_path / "missing.yaml"), "x/missing.yaml")
    assert str(caught.value) == "x/missing.yaml: cannot read file: No such file or directory"


def test_dump_keeps_order_and_round_trips_surprising_strings() -> None:
    data = {"z": "no", "a": PlainScalar("010"), "m": ["on", "1.10", None, True, 3],
            "text": "multi\nline"}
    text = dump_yaml(data, header="# generated\n")
    assert text.startswith("# generated\nz: ")
    assert text.index("z:") < text.index("a:")
    back = parse_yaml(text, "f.yaml").data
    assert back["z"] == "no" and back["a"] == "010" and back["text"] == "multi\nline"
    assert typed(back["m"]) == ["on", "1.10", None, True, 3]
