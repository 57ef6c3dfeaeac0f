"""Key-aware diff of two rendered configs: changes by JSONPath, breaking flag, secrets masked."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hotswap_cli.core.secrets.crypto import (
    KEY_MARKER,
    PathTrie,
    is_encrypted,
    is_secret_path,
    marked_value,
    mask_config,
    merge_trie,
    schema_markers,
    secret_trie,
    step_all,
)
from hotswap_cli.model import format_path

_MAX_SCHEMA_REASONS = 5


@dataclass(frozen=True)
class KeyedItem:
    """A list item matched by its key field (schema `x-hotswap-key`), not by position."""

    field: str
    value: Any

    def __str__(self) -> str:
        value = f"'{self.value}'" if isinstance(self.value, str) else json.dumps(self.value)
        return f"[?(@.{self.field}=={value})]"


PathPart = str | int | KeyedItem


def diff_path(parts: tuple[PathPart, ...]) -> str:
    """JSONPath of a change: $.database.pool.max, $.list[2], $.routes[?(@.name=='api')].timeoutMs."""
    out, plain = "$", list[str | int]()
    for part in parts:
        if isinstance(part, KeyedItem):
            out += format_path(tuple(plain))[1:] + str(part)
            plain = []
        else:
            plain.append(part)
    return out + format_path(tuple(plain))[1:]


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


@dataclass(frozen=True)
class Change:
    """One difference. Values are masked: a secret shows as `*** <fingerprint>`."""

    kind: str  # added | removed | changed
    path: str
    old: Any = None
    new: Any = None
    breaking: bool = False

    @property
    def type_changed(self) -> bool:
        return self.kind == "changed" and json_type(self.old) != json_type(self.new)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path}
        if self.kind != "added":
            out["old"] = self.old
        if self.kind != "removed":
            out["new"] = self.new
        if self.type_changed:
            out["type"] = [json_type(self.old), json_type(self.new)]
        out["breaking"] = self.breaking
        return out


@dataclass(frozen=True)
class ConfigDiff:
    """What changed between two rendered configs, and why it may break a running service."""

    changes: tuple[Change, ...]
    breaking_reasons: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not self.changes

    @property
    def breaking(self) -> bool:
        return bool(self.breaking_reasons)

    def of_kind(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    @property
    def paths(self) -> list[str]:
        return [c.path for c in self.changes]

    def to_dict(self) -> dict[str, Any]:
        return {
            "identical": self.empty,
            "breaking": self.breaking,
            "breaking_reasons": list(self.breaking_reasons),
            "added": [c.to_dict() for c in self.of_kind("added")],
            "removed": [c.to_dict() for c in self.of_kind("removed")],
            "changed": [c.to_dict() for c in self.of_kind("changed")],
        }


def diff_configs(old: Any, new: Any, schema_old: Any = None, schema_new: Any = None, *,
                 key: bytes | None = None, check_schemas: bool = True) -> ConfigDiff:
    """Pure: compare two rendered configs. Secret fields of either schema are masked before
    comparing (so a ConfigDiff never holds a secret); lists are matched by `x-hotswap-key`."""
    schemas = [s for s in (schema_old, schema_new) if isinstance(s, dict)]
    old_m = mask_config(old, *schemas, key=key)
    new_m = mask_config(new, *schemas, key=key)
    keyed = PathTrie()
    for schema in schemas:
        merge_trie(keyed, schema_markers(schema, KEY_MARKER))
    raw: list[tuple[str, tuple[PathPart, ...], Any, Any]] = []
    _walk(old_m, new_m, (), [keyed], raw)
    changes = []
    reasons = []
    for kind, parts, a, b in raw:
        path = diff_path(parts)
        breaking = kind == "removed" or (kind == "changed" and json_type(a) != json_type(b))
        if kind == "removed":
            reasons.append(f"{path} removed")
        elif breaking:
            reasons.append(f"{path} type changed: {json_type(a)} → {json_type(b)}")
        changes.append(Change(kind, path, a, b, breaking))
    if check_schemas and changes:
        if isinstance(schema_old, dict):
            reasons += _schema_reasons(schema_old, new, "the new config fails the old schema")
        if isinstance(schema_new, dict):
            reasons += _schema_reasons(schema_new, old, "the old config fails the new schema")
    return ConfigDiff(tuple(changes), tuple(reasons))


Raw = list[tuple[str, tuple[PathPart, ...], Any, Any]]


def _walk(old: Any, new: Any, path: tuple[PathPart, ...], nodes: list[PathTrie], out: Raw) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for k, v in old.items():
            if k not in new:
                out.append(("removed", (*path, k), v, None))
            else:
                _walk(v, new[k], (*path, k), step_all(nodes, k), out)
        for k, v in new.items():
            if k not in old:
                out.append(("added", (*path, k), None, v))
    elif isinstance(old, list) and isinstance(new, list):
        if old == new and _same_types(old, new):
            return
        key = marked_value(nodes)
        if isinstance(key, str) and _keyable(old, key) and _keyable(new, key):
            _walk_keyed(old, new, path, nodes, key, out)
        elif _has_keyed_lists(nodes):
            _walk_positional(old, new, path, nodes, out)
        else:
            _deepdiff_list(old, new, path, out)
    elif type(old) is not type(new) or old != new:
        out.append(("changed", path, old, new))


def _same_types(old: list[Any], new: list[Any]) -> bool:
    """`==` says 1 == 1.0 == True: make sure equal lists also agree on types."""
    return json.dumps(old, sort_keys=True) == json.dumps(new, sort_keys=True)


def _keyable(items: list[Any], key: str) -> bool:
    values = [i.get(key) for i in items if isinstance(i, dict)]
    return (len(values) == len(items) and all(isinstance(v, str | int) and not isinstance(v, bool) for v in values)
            and len(set(values)) == len(values))


def _walk_keyed(old: list[Any], new: list[Any], path: tuple[PathPart, ...], nodes: list[PathTrie],
                key: str, out: Raw) -> None:
    new_by = {item[key]: item for item in new}
    old_keys = {item[key] for item in old}
    for item in old:
        part = KeyedItem(key, item[key])
        if item[key] in new_by:
            _walk(item, new_by[item[key]], (*path, part), step_all(nodes, 0), out)
        else:
            out.append(("removed", (*path, part), item, None))
    for item in new:
        if item[key] not in old_keys:
            out.append(("added", (*path, KeyedItem(key, item[key])), None, item))


def _walk_positional(old: list[Any], new: list[Any], path: tuple[PathPart, ...], nodes: list[PathTrie],
                     out: Raw) -> None:
    for i in range(max(len(old), len(new))):
        if i >= len(new):
            out.append(("removed", (*path, i), old[i], None))
        elif i >= len(old):
            out.append(("added", (*path, i), None, new[i]))
        else:
            _walk(old[i], new[i], (*path, i), step_all(nodes, i), out)


def _has_keyed_lists(nodes: list[PathTrie]) -> bool:
    return any(n.wildcard is not None or n.children for n in nodes)


_DEEPDIFF_KINDS = {
    "values_changed": "changed", "type_changes": "changed",
    "dictionary_item_added": "added", "iterable_item_added": "added",
    "dictionary_item_removed": "removed", "iterable_item_removed": "removed",
}


def _deepdiff_list(old: list[Any], new: list[Any], path: tuple[PathPart, ...], out: Raw) -> None:
    """Lists without a key field: deepdiff, item by position."""
    from deepdiff import DeepDiff

    tree = DeepDiff(old, new, view="tree", zip_ordered_iterables=True, ignore_order=False, verbose_level=2)
    found = []
    for report, levels in tree.items():
        kind = _DEEPDIFF_KINDS.get(report)
        if kind is None:
            continue
        for level in levels:
            rel = tuple(level.path(output_format="list"))
            a = None if kind == "added" else level.t1
            b = None if kind == "removed" else level.t2
            found.append((rel, kind, a, b))
    for rel, kind, a, b in sorted(found, key=lambda f: [(isinstance(p, str), p) for p in f[0]]):
        out.append((kind, (*path, *rel), a, b))


def _schema_reasons(schema: dict[str, Any], data: Any, what: str) -> list[str]:
    """Value-free reasons: `data` fails `schema` at these paths (secret ciphertexts are not judged)."""
    trie = secret_trie(schema)
    failures = []
    for path, validator, instance in _violations(schema, data):
        if is_secret_path(path, trie) and is_encrypted(instance):
            continue
        failures.append(f"{what} at {diff_path(path)} ({validator})")
    if len(failures) > _MAX_SCHEMA_REASONS:
        extra = len(failures) - _MAX_SCHEMA_REASONS
        failures = [*failures[:_MAX_SCHEMA_REASONS], f"{what}: and {extra} more"]
    return failures


_CHECKERS: dict[str, Any] = {}


def _violations(schema: dict[str, Any], data: Any) -> list[tuple[tuple[str | int, ...], str, Any]]:
    """(path, keyword, instance) of each schema violation: compiled fast path, jsonschema for details."""
    from hotswap_cli.core.config.schema import SchemaChecker

    cache_key = json.dumps(schema, sort_keys=True)
    checker = _CHECKERS.get(cache_key)
    if checker is None:
        checker = _CHECKERS[cache_key] = SchemaChecker(schema, "schema")
    try:
        return [(v.path, v.validator, v.instance) for v in checker.violations(data)]
    except Exception:  # noqa: BLE001 - a broken schema (bad $ref) is validate's to report, not diff's
        return []


def canonical_yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=True, allow_unicode=True, default_flow_style=False)


def unified_diff(old: Any, new: Any, schema_old: Any = None, schema_new: Any = None, *,
                 old_label: str = "a", new_label: str = "b", key: bytes | None = None) -> str:
    """A text diff of the canonical YAML of both configs, secrets masked."""
    import difflib

    schemas = [s for s in (schema_old, schema_new) if isinstance(s, dict)]
    a = canonical_yaml(mask_config(old, *schemas, key=key)).splitlines(keepends=True)
    b = canonical_yaml(mask_config(new, *schemas, key=key)).splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, fromfile=old_label, tofile=new_label))
