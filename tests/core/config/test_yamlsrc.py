"""The YAML loader keeps a file:line:col for every value and rejects duplicate keys."""

from __future__ import annotations

import pytest

from hotswap_cli.core.config.yamlsrc import DocumentError, parse_document


def test_locations_point_at_keys_and_items() -> None:
    doc = parse_document("a: 1\nb:\n  c: [10, 20]\n  d:\n    - x: y\n", "f.yaml")
    assert doc.data == {"a": 1, "b": {"c": [10, 20], "d": [{"x": "y"}]}}
    assert str(doc.locations[("a",)]) == "f.yaml:1:1"
    assert str(doc.locations[("b",)]) == "f.yaml:2:1"
    assert str(doc.locations[("b", "c", 1)]) == "f.yaml:3:11"
    assert str(doc.locations[("b", "d", 0, "x")]) == "f.yaml:5:7"


def test_json_is_read_with_locations() -> None:
    doc = parse_document('{\n  "a": {\n    "b": 3\n  }\n}\n', "c.json")
    assert doc.data == {"a": {"b": 3}}
    assert str(doc.locations[("a", "b")]) == "c.json:3:5"


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("a: 1\nb: 2\na: 3\n", "f.yaml:3:1", "duplicate key 'a' (first defined at line 1)"),
        ("a: [1, 2\nb: 3\n", "f.yaml:2:2", "YAML syntax error"),
        ("a:\n  b: 1\n c: 2\n", "f.yaml:3:2", "YAML syntax error"),
        ("base: &x {a: 1}\nother:\n  <<: *x\n", "f.yaml:3:3", "merge keys"),
    ],
)
def test_errors_carry_line_and_column(text: str, where: str, words: str) -> None:
    with pytest.raises(DocumentError) as info:
        parse_document(text, "f.yaml")
    assert str(info.value.location) == where
    assert words in str(info.value)


def test_empty_file_is_none() -> None:
    assert parse_document("", "e.yaml").data is None
