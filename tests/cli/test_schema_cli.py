"""`hotswap schema diff`: the real app on a copy of the example repo, exact lines and exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

OLD = "schemas/payment-config/1.0.json"
NEW = "schemas/payment-config/2.0.json"


def _write_version(repo: Path, change: Callable[[dict[str, Any]], None]) -> str:
    """payment-config 2.0: 1.0 as edited by `change`; returns the text written."""
    schema = json.loads((repo / OLD).read_text())
    change(schema)
    text = json.dumps(schema, indent=2) + "\n"
    (repo / NEW).write_text(text)
    return text


def _at(text: str, needle: str, file: str = NEW) -> str:
    """file:line:column of the first `needle` in `text` (what a change's location names)."""
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return f"{file}:{number}:{line.index(needle) + 1}"
    raise AssertionError(needle)


def _props(schema: dict[str, Any], *keys: str) -> dict[str, Any]:
    for key in keys:
        schema = schema["properties"][key]
    return schema


def test_a_backward_compatible_version_exits_0(config_repo: Path, cli: Callable) -> None:
    def change(s: dict[str, Any]) -> None:
        _props(s, "database", "pool", "max")["maximum"] = 1000
        _props(s, "service", "logLevel")["enum"].append("trace")
        _props(s, "service")["description"] = "annotations are not changes"

    text = _write_version(config_repo, change)
    result = cli("--repo", str(config_repo), "schema", "diff", "payment-config", "1.0", "2.0")
    assert result.exit_code == 0, result
    assert result.stdout.splitlines() == [
        'enum_widened   $.service.logLevel   enum: + "trace"      backward ✓ forward ✗  ' + _at(text, '"enum"'),
        "bound_relaxed  $.database.pool.max  maximum 500 -> 1000  backward ✓ forward ✗  "
        + _at(text, '"maximum": 1000'),
    ]
    assert result.stderr == ("payment-config 1.0 -> 2.0: backward ✓  forward ✗  full ✗; "
                             "declared mode backward: compatible\n")


def test_a_version_that_breaks_its_declared_mode_exits_3(config_repo: Path, cli: Callable) -> None:
    def change(s: dict[str, Any]) -> None:
        s["x-hotswap-compatibility"] = "full"
        _props(s, "http", "port")["maximum"] = 1024
        _props(s, "service")["properties"]["zone"] = {"type": "string"}
        _props(s, "service", "name")["pattern"] = "^[a-z-]+$"
        _props(s, "retries")["required"].append("retryOn")

    text = _write_version(config_repo, change)
    result = cli("--repo", str(config_repo), "schema", "diff", "payment-config", "1.0", "2.0")
    assert result.exit_code == 3, result
    assert [line.split() for line in result.stdout.splitlines()] == [
        ["uncertain", "$.service.name", "pattern", "added:", "cannot", "tell", "backward", "?", "forward", "✓",
         _at(text, '"pattern"')],
        ["property_added", "$.service.zone", "new", "key", "(the", "old", "object", "was", "closed)", "backward", "✓",
         "forward", "✗", _at(text, '"zone"')],
        ["bound_tightened", "$.http.port", "maximum", "65535", "->", "1024", "backward", "✗", "forward", "✓",
         _at(text, '"maximum": 1024')],
        ["required_added", "$.retries.retryOn", "required:", "+", "retryOn", "backward", "✗", "forward", "✓",
         _at(text, '"retryOn"')],  # its place in `required`, which comes before `properties`
    ]
    assert result.stderr.splitlines() == [
        "payment-config 1.0 -> 2.0: backward ✗  forward ✗  full ✗; declared mode full: not compatible",
        "1 change(s) cannot be judged structurally: review them "
        "(`hotswap validate` also checks the configs that use the old version)",
    ]


def test_json(config_repo: Path, cli: Callable) -> None:
    text = _write_version(config_repo, lambda s: _props(s, "http", "port").update(maximum=1024))
    result = cli("--repo", str(config_repo), "schema", "diff", "payment-config", "1.0", "2.0", "--json")
    assert result.exit_code == 3, result
    assert json.loads(result.stdout) == {
        "schema": "payment-config", "old": "1.0", "new": "2.0", "declared_mode": "backward",
        "changes": [{"path": "$.http.port", "pointer": "/properties/http/properties/port/maximum", "side": "new",
                     "kind": "bound_tightened", "detail": "maximum 65535 -> 1024", "backward": False, "forward": True,
                     "file": "", "location": _at(text, '"maximum": 1024')}],
        "compatible": {"backward": False, "forward": True, "full": False},
    }


def test_the_declared_mode_decides_and_strict_counts_what_cannot_be_told(config_repo: Path, cli: Callable) -> None:
    def narrowed(mode: str) -> Callable[[dict[str, Any]], None]:
        def change(s: dict[str, Any]) -> None:
            s["x-hotswap-compatibility"] = mode
            _props(s, "http", "port")["maximum"] = 1024
        return change

    args = ("--repo", str(config_repo), "schema", "diff", "payment-config", "1.0", "2.0")
    for mode, code, word in (("forward", 0, "compatible"), ("none", 0, "compatible"),
                             ("backward", 3, "not compatible")):
        _write_version(config_repo, narrowed(mode))
        result = cli(*args)
        assert (result.exit_code, result.stderr.splitlines()[-1].rsplit(": ", 1)[1]) == (code, word), (mode, result)

    _write_version(config_repo, lambda s: _props(s, "service", "name").update(pattern="^[a-z]+$"))
    result = cli(*args)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "payment-config 1.0 -> 2.0: backward ?  forward ✓  full ?; declared mode backward: cannot tell",
        "1 change(s) cannot be judged structurally: review them "
        "(`hotswap validate` also checks the configs that use the old version)",
    ]
    assert cli(*args, "--strict").exit_code == 3


def test_refs_to_another_schema_file_are_followed_inside_the_repo(config_repo: Path, cli: Callable) -> None:
    common = config_repo / "schemas/common"
    common.mkdir()
    (common / "1.0.json").write_text('{"$defs": {"port": {"type": "integer", "minimum": 1, "maximum": 65535}}}\n')
    (common / "2.0.json").write_text('{\n  "$defs": {\n    "port": {"type": "integer", "minimum": 1024,'
                                     ' "maximum": 65535}\n  }\n}\n')
    for version in ("1.0", "2.0"):
        def change(s: dict[str, Any], version: str = version) -> None:
            _props(s, "http")["properties"]["port"] = {"$ref": f"../common/{version}.json#/$defs/port"}
        text = _write_version(config_repo, change)
        (config_repo / f"schemas/payment-config/{version}.json").write_text(text)
    result = cli("--repo", str(config_repo), "schema", "diff", "payment-config", "1.0", "2.0")
    assert result.exit_code == 3, result
    assert result.stdout.split() == ["bound_tightened", "$.http.port", "minimum", "1", "->", "1024", "backward", "✗",
                                     "forward", "✓", "schemas/common/2.0.json:3:33"]

    _write_version(config_repo, lambda s: _props(s, "http")["properties"].update(
        port={"$ref": "../../../outside.json"}))
    result = cli("--repo", str(config_repo), "schema", "diff", "payment-config", "1.0", "2.0")
    assert result.exit_code == 1
    assert result.stderr == (f"hotswap: error: {NEW}: $ref '../../../outside.json' leaves the config repo\n")


def test_a_missing_version_names_the_versions_there_are(config_repo: Path, cli: Callable) -> None:
    _write_version(config_repo, lambda s: None)
    result = cli("--repo", str(config_repo), "schema", "diff", "payment-config", "1.0", "3.0")
    assert result.exit_code == 1
    assert result.stderr == ("hotswap: error: schemas/payment-config/3.0.json not found "
                             "(versions of payment-config: 1.0, 2.0)\n")
    result = cli("--repo", str(config_repo), "schema", "diff", "no-such-config", "1.0", "2.0")
    assert result.exit_code == 1
    assert result.stderr.startswith("hotswap: error: schemas/no-such-config/1.0.json not found "
                                    "(no schema 'no-such-config'; schemas: ")
    assert "payment-config" in result.stderr


def test_same_version_and_help(config_repo: Path, cli: Callable) -> None:
    result = cli("--repo", str(config_repo), "schema", "diff", "payment-config", "1.0", "1.0")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr.splitlines() == [
        "payment-config 1.0 -> 1.0: no structural changes",
        "payment-config 1.0 -> 1.0: backward ✓  forward ✓  full ✓; declared mode backward: compatible",
    ]
    help_text = " ".join(cli("schema", "diff", "--help").stdout.split())
    assert "Examples: $ hotswap schema diff worker-config 1.0 2.0" in help_text
    assert help_text.count("Exit codes:") == 1 and "Exit codes: 0 compatible in the declared mode" in help_text
    assert "3 not compatible" in help_text
