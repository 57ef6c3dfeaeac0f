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


# -- load_plain: profiles and configs built straight from libyaml's events ------------------------

ROOT = __import__("pathlib").Path(__file__).resolve().parents[3]


def the_full_path(text: str) -> object:
    """What compose_yaml and the strict constructor make of `text` (the path load_plain shortcuts)."""
    from hotswap_cli.bounded_yaml import compose_yaml
    from hotswap_cli.core.config.yamlsrc import _StrictConstructor

    node = compose_yaml(text)
    return None if node is None else _StrictConstructor().construct_document(node)


PLAIN = [
    "a: 1\nb: [true, false, null, ~, 1.5, -2, 0x1F, 1_000, .inf, 010]\nc: {d: e}\n",
    "when: 2024-05-01\nat: 2024-05-01T12:00:00Z\nversion: 1.10\nport: '8080'\n",  # dates stay text
    "text: |\n  line one\n  line two\nfolded: >\n  a\n  b\nquoted: \"a\\tb\\u00e9\"\nempty:\nblank: ''\n",
    "- 1\n- - 2\n  - {x: [3, {y: z}]}\n- []\n- {}\n",
    "just a scalar\n",
    "---\nkey: value\n...\n",
    "unicode: héllo ☃\n'quoted key': 1\n\"other key\": 2\n? explicit\n: 3\n",
    "flag: on\nother: off\nsexagesimal: 1:20\n",
]


@pytest.mark.parametrize("text", PLAIN)
def test_load_plain_builds_what_the_full_path_builds(text: str) -> None:
    from hotswap_cli.bounded_yaml import load_plain
    from hotswap_cli.core.config.yamlsrc import _PLAIN

    assert repr(load_plain(text, _PLAIN)) == repr(the_full_path(text))  # repr: 1, 1.0 and True differ


def test_load_plain_reads_every_yaml_file_in_the_repo_as_the_full_path_does() -> None:
    from hotswap_cli.bounded_yaml import NotPlain, load_plain
    from hotswap_cli.core.config.yamlsrc import _PLAIN

    files = [p for p in ROOT.rglob("*.y*ml") if ".git" not in p.parts and p.is_file()]
    assert len(files) > 15
    for path in files:
        text = path.read_text()
        try:
            built = load_plain(text, _PLAIN)
        except NotPlain:
            continue  # e.g. more than one document: the full path's business
        assert repr(built) == repr(the_full_path(text)), path


NOT_PLAIN = [
    "base: &x {a: 1}\nother: *x\n",  # anchors and aliases: counted by compose_yaml
    "a: !!str 1\n",  # tags
    "a: !custom x\n",
    "b: !!binary aGVsbG8=\n",
    "base: {a: 1}\nother:\n  <<: {b: 2}\n",  # merge keys: refused with a line by the full path
    "a: 1\nb: 2\na: 3\n",  # duplicates: placed by the full path
    "1: one\n",  # keys that are not text
    "null: x\n",
    "yes: x\n",  # a YAML 1.1 boolean
    "? [a, b]\n: c\n",  # a list as a key
    "? {a: b}\n: c\n",
    "a: 1\n---\nb: 2\n",  # two documents
    "a: [1, 2\nb: 3\n",  # a syntax error: placed by the full path
    "x: " + "[" * 101 + "]" * 101 + "\n",  # past the depth limit
]


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_load_plain_leaves_everything_else_to_the_full_path(text: str) -> None:
    from hotswap_cli.bounded_yaml import NotPlain, load_plain
    from hotswap_cli.core.config.yamlsrc import _PLAIN

    with pytest.raises(NotPlain):
        load_plain(text, _PLAIN)
