"""Key-aware diff: table-driven cases on two rendered configs, the breaking flag, and the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.example import PROFILE, commit, edit, git

from hotswap_cli.core.config.merge import deep_merge
from hotswap_cli.core.versions.diff import diff_configs

ROUTES_SCHEMA = {"type": "object", "properties": {"routes": {"type": "array", "x-hotswap-key": "name"}}}

# (name, old, new, schema, expected [(kind, path, old, new)], breaking)
CASES: list[tuple[str, Any, Any, Any, list[tuple[str, str, Any, Any]], bool]] = [
    ("identical", {"a": {"b": [1, 2]}}, {"a": {"b": [1, 2]}}, None, [], False),
    ("nested map value", {"database": {"pool": {"max": 20, "min": 2}}}, {"database": {"pool": {"max": 80, "min": 2}}},
     None, [("changed", "$.database.pool.max", 20, 80)], False),
    ("added key", {"a": 1}, {"a": 1, "b": {"c": True}}, None, [("added", "$.b", None, {"c": True})], False),
    ("removed key is breaking", {"a": 1, "b": 2}, {"a": 1}, None, [("removed", "$.b", 2, None)], True),
    ("type change is breaking", {"port": 8080}, {"port": "8080"}, None, [("changed", "$.port", 8080, "8080")], True),
    ("bool is not int", {"n": 1}, {"n": True}, None, [("changed", "$.n", 1, True)], True),
    ("int to float", {"n": 1}, {"n": 1.0}, None, [("changed", "$.n", 1, 1.0)], True),
    ("map to scalar", {"a": {"x": 1}}, {"a": 5}, None, [("changed", "$.a", {"x": 1}, 5)], True),
    ("list by position", {"l": [1, 2, 3]}, {"l": [1, 9, 3, 4]}, None,
     [("changed", "$.l[1]", 2, 9), ("added", "$.l[3]", None, 4)], False),
    ("list shrinks", {"l": ["a", "b"]}, {"l": ["a"]}, None, [("removed", "$.l[1]", "b", None)], True),
    ("list of maps by position", {"l": [{"n": "a", "t": 1}, {"n": "b", "t": 2}]},
     {"l": [{"n": "b", "t": 2}, {"n": "a", "t": 1}]}, None,
     [("changed", "$.l[0].n", "a", "b"), ("changed", "$.l[0].t", 1, 2),
      ("changed", "$.l[1].n", "b", "a"), ("changed", "$.l[1].t", 2, 1)], False),
    ("keyed list: reorder is no change", {"routes": [{"name": "a", "t": 1}, {"name": "b", "t": 2}]},
     {"routes": [{"name": "b", "t": 2}, {"name": "a", "t": 1}]}, ROUTES_SCHEMA, [], False),
    ("keyed list: by name", {"routes": [{"name": "a", "t": 1}, {"name": "b", "t": 2}]},
     {"routes": [{"name": "c", "t": 3}, {"name": "b", "t": 5}]}, ROUTES_SCHEMA,
     [("removed", "$.routes[?(@.name=='a')]", {"name": "a", "t": 1}, None),
      ("changed", "$.routes[?(@.name=='b')].t", 2, 5),
      ("added", "$.routes[?(@.name=='c')]", None, {"name": "c", "t": 3})], True),
    ("keyed list with duplicate keys falls back to position",
     {"routes": [{"name": "a", "t": 1}, {"name": "a", "t": 2}]},
     {"routes": [{"name": "a", "t": 1}, {"name": "a", "t": 3}]}, ROUTES_SCHEMA,
     [("changed", "$.routes[1].t", 2, 3)], False),
    ("odd keys are quoted", {"a b": 1, "x": {"1st": 2}}, {"a b": 2, "x": {"1st": 3}}, None,
     [("changed", "$['a b']", 1, 2), ("changed", "$.x['1st']", 2, 3)], False),
    ("null in a list", {"l": [None, 1]}, {"l": [0, 1]}, None, [("changed", "$.l[0]", None, 0)], True),
]


def _rows(result: Any) -> list[tuple[str, str, Any, Any]]:
    return [(c.kind, c.path, c.old, c.new) for c in result.changes]


@pytest.mark.parametrize(("name", "old", "new", "schema", "expected", "breaking"), CASES, ids=[c[0] for c in CASES])
def test_diff_table(name: str, old: Any, new: Any, schema: Any, expected: list[Any], breaking: bool) -> None:
    before = json.dumps([old, new])
    result = diff_configs(old, new, schema, schema)
    assert sorted(_rows(result), key=lambda r: r[1]) == sorted(expected, key=lambda r: r[1])
    assert result.breaking is breaking
    assert result.empty is (not expected)
    assert json.dumps([old, new]) == before, "inputs must not be modified"


def test_null_delete_in_an_overlay_shows_as_a_removed_key() -> None:
    base = {"service": {"logLevel": "info"}, "http": {"port": 8080}}
    result = diff_configs(base, deep_merge(base, {"http": None}))
    assert _rows(result) == [("removed", "$.http", {"port": 8080}, None)]
    assert result.breaking_reasons == ("$.http removed",)


SCHEMA_V1 = {"type": "object", "properties": {"port": {"type": "integer", "maximum": 9000}}}
SCHEMA_V2 = {"type": "object", "required": ["host"], "properties": {"port": {"type": "integer", "maximum": 100}}}


def test_breaking_when_either_config_fails_the_other_schema() -> None:
    same = diff_configs({"port": 80}, {"port": 90}, SCHEMA_V1, SCHEMA_V1)
    assert not same.breaking
    crossed = diff_configs({"port": 80}, {"port": 90, "host": "h"}, SCHEMA_V1, SCHEMA_V2)
    assert crossed.breaking_reasons == ("the old config fails the new schema at $ (required)",)
    too_big = diff_configs({"port": 8000, "host": "h"}, {"port": 90, "host": "h"}, SCHEMA_V1, SCHEMA_V2)
    assert too_big.breaking_reasons == ("the old config fails the new schema at $.port (maximum)",)
    new_fails_old = diff_configs({"port": 80}, {"port": 9500}, SCHEMA_V1, {"type": "object"})
    assert new_fails_old.breaking_reasons == ("the new config fails the old schema at $.port (maximum)",)
    as_dict = too_big.to_dict()
    assert as_dict["breaking"] is True and as_dict["changed"] == [
        {"path": "$.port", "old": 8000, "new": 90, "breaking": False}]


def test_secrets_are_masked_in_every_change() -> None:
    schema = {"type": "object", "properties": {"db": {"type": "object", "properties": {
        "password": {"type": "string", "x-hotswap-secret": True}}}}}
    result = diff_configs({"db": {"password": "hunter2-old"}}, {"db": {"password": "hunter2-new"}}, schema, schema)
    (change,) = result.changes
    assert change.path == "$.db.password"
    assert change.old.startswith("*** ") and change.new.startswith("*** ") and change.old != change.new
    added = diff_configs({}, {"db": {"password": "hunter2-new"}}, schema, schema)
    assert "hunter2" not in json.dumps(added.to_dict())
    # a field that only the new schema marks secret is masked on the old side too
    became = diff_configs({"db": {"password": "hunter2-old"}}, {"db": {"password": "x"}}, None, schema)
    assert "hunter2" not in json.dumps(became.to_dict())


def test_cli_diff_latest_version_against_worktree(config_repo: Path, hs: Callable) -> None:
    assert hs("release", PROFILE, "1.0.0").exit_code == 0
    same = hs("diff", PROFILE, "--exit-code")
    assert same.exit_code == 0 and "no differences" in same.stderr
    config = config_repo / f"profiles/{PROFILE}/config.yaml"
    edit(config, "max: 80", "max: 90")
    edit(config, "  host: payments-db.prod.internal\n", "  host: payments-db.prod.internal\n  port: null\n")
    edit(config, "  savedCards: true\n", "  savedCards: true\n  wallet: true\n")
    text = hs("diff", PROFILE, "--exit-code")
    assert text.exit_code == 1, text
    out = text.stdout.splitlines()
    assert out[:2] == [f"--- {PROFILE} 1.0.0 ({_sha(config_repo)[:12]})", f"+++ {PROFILE} working tree"]
    assert "  + $.features.wallet: true" in out
    assert "  - $.database.port: 5432  (breaking)" in out
    assert "  ~ $.database.pool.max: 80 → 90" in out
    assert "BREAKING:" in out and "  ! $.database.port removed" in out
    assert hs("diff", PROFILE).exit_code == 0  # without --exit-code differences are not an error
    data = json.loads(hs("diff", PROFILE, "--json").stdout)
    assert data["from"]["version"] == "1.0.0" and data["to"]["ref"] == "working tree"
    assert [c["path"] for c in data["changed"]] == ["$.database.pool.max"]
    assert [c["path"] for c in data["removed"]] == ["$.database.port"]
    assert data["breaking"] is True
    unified = hs("diff", PROFILE, "--format", "unified", "--exit-code")
    assert unified.exit_code == 1
    assert "-    max: 80\n+    max: 90\n" in unified.stdout


def test_cli_diff_between_revisions_and_versions(config_repo: Path, hs: Callable) -> None:
    first = _sha(config_repo)
    edit(config_repo / "schemas/gateway-config/1.0.json", '"burst": {"type": "integer", "minimum": 0}',
         '"burst": {"type": "integer", "minimum": 0}, "mode": {"type": "string"}')
    edit(config_repo / "profiles/api-gateway.production/config.yaml", "    timeoutMs: 5000\n", "    timeoutMs: 6000\n")
    commit(config_repo, "gateway: slower payments route")
    result = hs("diff", "api-gateway.production", first, "HEAD", "--json")
    assert json.loads(result.stdout)["changed"] == [
        {"path": "$.routes[?(@.name=='payments')].timeoutMs", "old": 5000, "new": 6000, "breaking": False}]
    none = hs("diff", PROFILE)
    assert none.exit_code == 1 and "has no versions yet" in none.stderr
    bad = hs("diff", PROFILE, "HEAD", "nope-no-such-rev")
    assert bad.exit_code == 1 and "unknown revision 'nope-no-such-rev'" in bad.stderr
    live = hs("diff", PROFILE, "HEAD", "live:pay-prod-1")  # nothing listens on its port in this test
    assert live.exit_code == 1 and "cannot read what pay-prod-1 runs" in live.stderr
    unknown = hs("diff", PROFILE, "HEAD", "live:nope")
    assert unknown.exit_code == 2 and "has no target 'nope'" in unknown.stderr


def _sha(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()
