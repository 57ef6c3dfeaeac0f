"""Hostile YAML and JSON in the config repo end in one line naming the file, exit 3: alias bombs
(counted against the 1 MiB limit as they are read), deep nesting, recursive aliases, complex keys."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hotswap_cli.core.config.yamlsrc import DocumentError, parse_document

CONFIG = "profiles/payment-service.production/config.yaml"
PROFILE = "payment-service.production"


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """~400 bytes that expand to width**levels (387 million) strings."""
    names = [f"l{i}" for i in range(levels + 1)]
    lines = [f"{names[0]}: &{names[0]} [{', '.join(['lol'] * width)}]"]
    for prev, name in zip(names, names[1:], strict=False):
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * width)}]")
    return "\n".join(lines) + "\n"


def validate(cli: Callable, repo: Path) -> tuple[int, list[str]]:
    result = cli("--repo", str(repo), "validate", PROFILE)
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout.splitlines()


def test_alias_bomb_in_a_config_is_refused_at_the_alias_that_crosses_the_limit(config_repo: Path,
                                                                                cli: Callable) -> None:
    path = config_repo / CONFIG
    path.write_text(path.read_text() + "bomb:\n" + "".join("  " + line + "\n" for line in alias_bomb().splitlines()))
    code, lines = validate(cli, config_repo)
    assert code == 3
    assert lines == [f"{CONFIG}:24:22  $  YAML aliases expand the document past 1 MiB (at *l4); "
                     "write the values out instead of nesting aliases"]


def test_aliases_within_the_limit_still_load() -> None:
    doc = parse_document("base: &b {retries: 3, hosts: [a, b]}\nprimary: *b\nbackup: *b\n", "f.yaml")
    assert doc.data["backup"] == {"retries": 3, "hosts": ["a", "b"]}
    assert str(doc.locations[("backup",)]) == "f.yaml:3:1"


def test_deeply_nested_yaml_config_is_one_line(config_repo: Path, cli: Callable) -> None:
    (config_repo / CONFIG).write_text("deep: " + "[" * 100_000 + "]" * 100_000 + "\n")
    code, lines = validate(cli, config_repo)
    assert code == 3
    assert lines == [f"{CONFIG}:1:106  $  nested deeper than 100 levels"]


def test_deeply_nested_json_config_is_one_line(config_repo: Path, cli: Callable) -> None:
    (config_repo / CONFIG).unlink()
    json_config = CONFIG.replace(".yaml", ".json")
    (config_repo / json_config).write_text('{"deep": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    code, lines = validate(cli, config_repo)
    assert code == 3
    assert lines == [f"{json_config}:1:109  $  nested deeper than 100 levels"]


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ("? [a, b]\n: 1\n", "f.yaml:1:3", "a mapping key is a list or mapping (a YAML complex key); keys must be text"),
        ("a: {[x]: 1}\n", "f.yaml:1:5", "a mapping key is a list or mapping (a YAML complex key); keys must be text"),
        ("a: &a {b: 1}\nc: {*a : 2}\n", "f.yaml:2:5", "a mapping key is a list or mapping"),
        ("a: &a [1, *a]\n", "f.yaml:1:11", "alias *a refers to a collection that contains it"),
        ("a: [1, 2]\n---\nb: 3\n", "f.yaml:2:1", "YAML syntax error: expected a single document, found another"),
        ("a: *nowhere\n", "f.yaml:1:4", "YAML syntax error: found undefined alias 'nowhere'"),
    ],
)
def test_refused_yaml_points_at_its_line(text: str, where: str, reason: str) -> None:
    with pytest.raises(DocumentError) as info:
        parse_document(text, "f.yaml")
    assert str(info.value.location) == where
    assert reason in info.value.reason


def test_complex_key_in_a_config_is_exit_3(config_repo: Path, cli: Callable) -> None:
    path = config_repo / CONFIG
    path.write_text(path.read_text() + "? [a, b]\n: 1\n")
    code, lines = validate(cli, config_repo)
    assert code == 3
    assert lines == [f"{CONFIG}:18:3  $  a mapping key is a list or mapping (a YAML complex key); "
                     "keys must be text"]
