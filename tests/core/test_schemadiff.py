"""The structural schema diff: one row per keyword and direction, refs, nested paths, uncertainty."""

from __future__ import annotations

from typing import Any

import pytest

from hotswap_cli.core.config.schemadiff import (
    SchemaChange,
    breaking,
    compatibility,
    declared_mode,
    diff_schemas,
    uncertain,
)
from hotswap_cli.errors import ConfigError

OPEN: dict[str, Any] = {"type": "object"}
CLOSED: dict[str, Any] = {"type": "object", "additionalProperties": False}
INT = {"type": "integer"}

# (id, old, new, kind, backward, forward): each diff holds exactly one change
ROWS: list[tuple[str, Any, Any, str, bool | None, bool | None]] = [
    # properties
    ("added to a closed object", CLOSED, {**CLOSED, "properties": {"a": INT}}, "property_added", True, False),
    ("added to an open object", OPEN, {**OPEN, "properties": {"a": INT}}, "property_added", False, True),
    ("added as {} to an open object", OPEN, {**OPEN, "properties": {"a": {}}}, "property_added", True, True),
    ("added under additionalProperties, same schema", {**OPEN, "additionalProperties": INT},
     {**OPEN, "additionalProperties": INT, "properties": {"a": INT}}, "property_added", True, True),
    ("added under additionalProperties, narrower", {**OPEN, "additionalProperties": INT},
     {**OPEN, "additionalProperties": INT, "properties": {"a": {**INT, "maximum": 9}}}, "property_added", False, True),
    ("added under a matching patternProperties", {**CLOSED, "patternProperties": {"^x-": INT}},
     {**CLOSED, "patternProperties": {"^x-": INT}, "properties": {"x-a": {"type": "number"}}},
     "property_added", True, False),
    ("removed from a closed object", {**CLOSED, "properties": {"a": INT}}, CLOSED, "property_removed", False, True),
    ("removed from an open object", {**OPEN, "properties": {"a": INT}}, OPEN, "property_removed", True, False),
    ("removed into additionalProperties", {**OPEN, "properties": {"a": INT}, "additionalProperties": INT},
     {**OPEN, "additionalProperties": INT}, "property_removed", True, True),
    # required
    ("required added", OPEN, {**OPEN, "required": ["a"]}, "required_added", False, True),
    ("required removed", {**OPEN, "required": ["a"]}, OPEN, "required_removed", True, False),
    # type
    ("type integer -> number", INT, {"type": "number"}, "type_widened", True, False),
    ("type number -> integer", {"type": "number"}, INT, "type_narrowed", False, True),
    ("type string -> [string, null]", {"type": "string"}, {"type": ["string", "null"]}, "type_widened", True, False),
    ("type removed", {"type": "string"}, {}, "type_widened", True, False),
    ("type added", {}, {"type": "string"}, "type_narrowed", False, True),
    ("type string -> integer", {"type": "string"}, INT, "type_changed", False, False),
    ("schema true -> false", True, False, "type_narrowed", False, True),
    ("schema false -> {}", False, {}, "type_widened", True, False),
    # enum and const
    ("enum value added", {"enum": ["a", "b"]}, {"enum": ["a", "b", "c"]}, "enum_widened", True, False),
    ("enum value removed", {"enum": ["a", "b"]}, {"enum": ["a"]}, "enum_narrowed", False, True),
    ("enum value swapped", {"enum": ["a", "b"]}, {"enum": ["a", "c"]}, "enum_changed", False, False),
    ("enum added", {"type": "string"}, {"type": "string", "enum": ["a"]}, "enum_narrowed", False, True),
    ("enum removed", {"type": "string", "enum": ["a"]}, {"type": "string"}, "enum_widened", True, False),
    ("const changed", {"const": 1}, {"const": 2}, "enum_changed", False, False),
    ("const -> enum holding it", {"const": 1}, {"enum": [1, 2]}, "enum_widened", True, False),
    # numeric bounds
    ("maximum lowered", {"maximum": 1000}, {"maximum": 500}, "bound_tightened", False, True),
    ("maximum raised", {"maximum": 500}, {"maximum": 1000}, "bound_relaxed", True, False),
    ("maximum added", {}, {"maximum": 5}, "bound_tightened", False, True),
    ("maximum removed", {"maximum": 5}, {}, "bound_relaxed", True, False),
    ("minimum raised", {"minimum": 1}, {"minimum": 2}, "bound_tightened", False, True),
    ("minimum lowered", {"minimum": 2}, {"minimum": 1}, "bound_relaxed", True, False),
    ("maximum -> exclusiveMaximum, same number", {"maximum": 5}, {"exclusiveMaximum": 5}, "bound_tightened",
     False, True),
    ("exclusiveMinimum -> minimum, same number", {"exclusiveMinimum": 0}, {"minimum": 0}, "bound_relaxed",
     True, False),
    ("draft 4 exclusiveMaximum: true added", {"maximum": 5}, {"maximum": 5, "exclusiveMaximum": True},
     "bound_tightened", False, True),
    ("multipleOf added", {}, {"multipleOf": 2}, "bound_tightened", False, True),
    ("multipleOf removed", {"multipleOf": 2}, {}, "bound_relaxed", True, False),
    ("multipleOf 2 -> 4", {"multipleOf": 2}, {"multipleOf": 4}, "bound_tightened", False, True),
    ("multipleOf 4 -> 2", {"multipleOf": 4}, {"multipleOf": 2}, "bound_relaxed", True, False),
    ("multipleOf 2 -> 3", {"multipleOf": 2}, {"multipleOf": 3}, "uncertain", None, None),
    ("multipleOf 0.5 -> 0.25", {"multipleOf": 0.5}, {"multipleOf": 0.25}, "uncertain", None, None),
    # strings
    ("maxLength lowered", {"maxLength": 10}, {"maxLength": 5}, "bound_tightened", False, True),
    ("minLength removed", {"minLength": 1}, {}, "bound_relaxed", True, False),
    ("pattern changed", {"pattern": "^a"}, {"pattern": "^b"}, "uncertain", None, None),
    ("pattern added", {}, {"pattern": "^a"}, "uncertain", None, True),
    ("pattern removed", {"pattern": "^a"}, {}, "uncertain", True, None),
    ("format changed", {"format": "email"}, {"format": "uri"}, "uncertain", None, None),
    # arrays
    ("items narrowed", {"type": "array", "items": {"type": "number"}}, {"type": "array", "items": INT},
     "type_narrowed", False, True),
    ("maxItems lowered", {"maxItems": 5}, {"maxItems": 3}, "bound_tightened", False, True),
    ("minItems removed", {"minItems": 1}, {}, "bound_relaxed", True, False),
    ("uniqueItems added", {}, {"uniqueItems": True}, "items_changed", False, True),
    ("uniqueItems removed", {"uniqueItems": True}, {"uniqueItems": False}, "items_changed", True, False),
    ("tuple items changed", {"items": [INT]}, {"items": [{"type": "string"}]}, "items_changed", None, None),
    ("prefixItems added", {}, {"prefixItems": [INT]}, "items_changed", None, True),
    ("contains changed", {"contains": INT}, {"contains": {"type": "string"}}, "uncertain", None, None),
    # objects
    ("additionalProperties closed", OPEN, CLOSED, "additional_closed", False, True),
    ("additionalProperties opened", CLOSED, OPEN, "additional_opened", True, False),
    ("additionalProperties true -> schema", {**OPEN, "additionalProperties": True},
     {**OPEN, "additionalProperties": INT}, "additional_closed", False, True),
    ("additionalProperties false -> schema", CLOSED, {**OPEN, "additionalProperties": INT}, "additional_opened",
     True, False),
    ("unevaluatedProperties: false stands in", {**OPEN, "unevaluatedProperties": False}, OPEN,
     "additional_opened", True, False),
    ("maxProperties lowered", {"maxProperties": 5}, {"maxProperties": 4}, "bound_tightened", False, True),
    ("propertyNames added", {}, {"propertyNames": {"pattern": "^[a-z]+$"}}, "uncertain", None, True),
    ("patternProperties entry added", OPEN, {**OPEN, "patternProperties": {"^x": INT}}, "uncertain", None, None),
    ("dependentRequired changed", {"dependentRequired": {"a": ["b"]}}, {"dependentRequired": {"a": ["c"]}},
     "uncertain", None, None),
    # compositions
    ("oneOf branch changed", {"oneOf": [INT, {"type": "string"}]}, {"oneOf": [{"type": "number"}, {"type": "string"}]},
     "uncertain", None, None),
    ("anyOf added", {}, {"anyOf": [INT, {"type": "string"}]}, "uncertain", None, True),
    ("not removed", {"not": INT}, {}, "uncertain", True, None),
    ("if/then changed", {"if": INT, "then": {"minimum": 1}}, {"if": INT, "then": {"minimum": 2}}, "uncertain",
     None, None),
    ("allOf member narrowed", {"allOf": [{"maximum": 5}, {"minimum": 0}]},
     {"allOf": [{"maximum": 4}, {"minimum": 0}]}, "bound_tightened", False, True),
    ("an unknown keyword changed", {"frobnicate": 1}, {"frobnicate": 2}, "uncertain", None, None),
]


@pytest.mark.parametrize(("old", "new", "kind", "backward", "forward"), [r[1:] for r in ROWS],
                         ids=[r[0] for r in ROWS])
def test_one_keyword_one_direction(old: Any, new: Any, kind: str, backward: bool | None,
                                   forward: bool | None) -> None:
    changes = diff_schemas(old, new)
    assert [(c.kind, c.backward, c.forward) for c in changes] == [(kind, backward, forward)], changes


@pytest.mark.parametrize(("old", "new"), [
    ({"type": "object", "title": "a", "description": "x", "properties": {"a": {"default": 1, "examples": [2]}}},
     {"type": "object", "title": "b", "description": "y", "properties": {"a": {"default": 3, "x-hotswap-secret": True,
                                                                               "$comment": "z"}}}),
    ({"type": ["number", "integer"]}, {"type": "number"}),
    ({"enum": ["a", "b", 1]}, {"enum": [1.0, "b", "a"]}),
    ({"required": ["a", "b"]}, {"required": ["b", "a"]}),
    ({"x-hotswap-compatibility": "backward", "x-hotswap-status": "draft"}, {"x-hotswap-status": "approved"}),
    ({"oneOf": [INT, {"$ref": "#/$defs/s"}], "$defs": {"s": {"type": "string"}}},
     {"oneOf": [INT, {"$ref": "#/$defs/t"}], "$defs": {"t": {"type": "string", "description": "renamed"}}}),
], ids=["annotations", "integer inside number", "enum order and 1 == 1.0", "required order", "x-hotswap keys",
        "oneOf equal through refs"])
def test_what_is_not_a_change(old: Any, new: Any) -> None:
    assert diff_schemas(old, new) == []


def test_a_keyword_for_a_type_the_schema_does_not_allow_changes_nothing() -> None:
    assert diff_schemas({"type": "string", "maximum": 5}, {"type": "string", "maximum": 1}) == []
    # the old schema allowed no numbers: no old config can break on the new bound
    [change] = diff_schemas({"type": "string"}, {"type": ["string", "number"], "maximum": 1})[1:]
    assert (change.kind, change.backward, change.forward) == ("bound_tightened", True, True)
    # an enum of strings allows no objects either
    assert diff_schemas({"enum": ["a"], "required": ["x"]}, {"enum": ["a"]}) == []


def test_changes_are_named_by_config_path_and_schema_pointer() -> None:
    old = {"type": "object", "properties": {
        "queue": {"type": "object", "additionalProperties": False,
                  "properties": {"prefetch": {"type": "integer", "maximum": 1000}, "old key": INT}},
        "servers": {"type": "array", "items": {"type": "object", "properties": {"port": INT}}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}
    new = {"type": "object", "properties": {
        "queue": {"type": "object", "additionalProperties": False, "required": ["prefetch"],
                  "properties": {"prefetch": {"type": "integer", "maximum": 500}}},
        "servers": {"type": "array", "items": {"type": "object", "properties": {"port": {**INT, "minimum": 1}}}},
        "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 63}}}}
    got = [(c.path, c.pointer, c.side, c.kind, c.detail) for c in diff_schemas(old, new)]
    assert got == [
        ("$.queue.prefetch", "/properties/queue/properties/prefetch/maximum", "new", "bound_tightened",
         "maximum 1000 -> 500"),
        ("$.queue['old key']", "/properties/queue/properties/old key", "old", "property_removed",
         "key removed (the new object is closed)"),
        ("$.queue.prefetch", "/properties/queue/required/0", "new", "required_added", "required: + prefetch"),
        ("$.servers[*].port", "/properties/servers/items/properties/port/minimum", "new", "bound_tightened",
         "minimum added: 1"),
        ("$.labels.*", "/properties/labels/additionalProperties/maxLength", "new", "bound_tightened",
         "maxLength added: 63"),
    ]


def test_local_refs_are_followed_on_both_sides() -> None:
    old = {"$defs": {"port": {"type": "integer", "maximum": 65535}},
           "properties": {"http": {"properties": {"port": {"$ref": "#/$defs/port"}}}}}
    new = {"definitions": {"p": {"type": "integer", "maximum": 1024}},
           "properties": {"http": {"properties": {"port": {"$ref": "#/definitions/p"}}}}}
    [change] = diff_schemas(old, new)
    assert (change.path, change.pointer, change.side, change.detail) == (
        "$.http.port", "/definitions/p/maximum", "new", "maximum 65535 -> 1024")


def test_a_ref_to_another_file_goes_through_resolve_with_paths_relative_to_the_schema() -> None:
    common = {
        "old": {"$defs": {"tls": {"type": "object", "properties": {"port": {"$ref": "#/$defs/port"},
                                                                   "ca": {"$ref": "certs.json"}}},
                          "port": {"type": "integer", "minimum": 1}}},
        "new": {"$defs": {"tls": {"type": "object", "properties": {"port": {"$ref": "#/$defs/port"},
                                                                   "ca": {"$ref": "certs.json"}}},
                          "port": {"type": "integer", "minimum": 1024}}},
    }
    certs = {"old": {"type": "string"}, "new": {"type": "string", "maxLength": 4096}}
    asked: list[tuple[str, str]] = []

    def resolve(file: str, side: str) -> Any:
        asked.append((file, side))
        return {"../common/1.0.json": common, "../common/certs.json": certs}[file][side]

    schema = {"properties": {"tls": {"$ref": "../common/1.0.json#/$defs/tls"}}}
    changes = diff_schemas(schema, schema, resolve=resolve)
    assert [(c.path, c.file, c.pointer, c.detail) for c in changes] == [
        ("$.tls.port", "../common/1.0.json", "/$defs/port/minimum", "minimum 1 -> 1024"),
        ("$.tls.ca", "../common/certs.json", "/maxLength", "maxLength added: 4096"),
    ]
    assert sorted(set(asked)) == [("../common/1.0.json", "new"), ("../common/1.0.json", "old"),
                                  ("../common/certs.json", "new"), ("../common/certs.json", "old")]


def test_a_ref_that_cannot_be_followed_is_uncertain() -> None:
    old = {"properties": {"a": {"$ref": "#/$defs/missing"}}}
    [change] = diff_schemas(old, {"properties": {"a": INT}})
    assert (change.path, change.kind, change.backward, change.forward) == ("$.a", "uncertain", None, None)
    assert "does not resolve" in change.detail
    [change] = diff_schemas({"$ref": "other.json"}, {"$ref": "other.json"})  # no resolver given
    assert (change.kind, change.detail) == ("uncertain", "cannot follow $ref 'other.json'")


def test_recursive_schemas_end() -> None:
    def tree(leaf: str) -> dict[str, Any]:
        return {"$ref": "#/$defs/node", "$defs": {"node": {"type": "object", "properties": {
            "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}, "value": {"type": leaf}}}}}
    assert diff_schemas(tree("string"), tree("string")) == []
    assert {(c.path, c.kind) for c in diff_schemas(tree("integer"), tree("number"))} == {
        ("$.value", "type_widened"), ("$.children[*].value", "type_widened")}
    assert diff_schemas({"allOf": [{"$ref": "#"}], "type": "string"}, {"type": "string"}) == []


def test_anchors_and_draft7_ref_siblings() -> None:
    old = {"$defs": {"p": {"$anchor": "port", "type": "integer"}}, "properties": {"a": {"$ref": "#port"}}}
    new = {"$defs": {"p": {"$anchor": "port", "type": "integer", "minimum": 1}}, "properties": {"a": {"$ref": "#port"}}}
    assert [c.pointer for c in diff_schemas(old, new)] == ["/$defs/p/minimum"]
    draft7 = "http://json-schema.org/draft-07/schema#"
    old = {"$schema": draft7, "definitions": {"s": {"type": "string"}},
           "properties": {"a": {"$ref": "#/definitions/s"}}}
    new = {**old, "properties": {"a": {"$ref": "#/definitions/s", "maxLength": 3}}}  # ignored by draft 7
    assert diff_schemas(old, new) == []
    new = {**new, "$schema": "https://json-schema.org/draft/2020-12/schema"}
    assert [c.kind for c in diff_schemas(old, new)] == ["bound_tightened"]


def test_a_ref_beside_keywords_is_a_conjunction() -> None:
    defs = {"$defs": {"base": {"type": "object", "properties": {"a": INT}}}}
    old = {**defs, "$ref": "#/$defs/base", "properties": {"b": {"type": "string"}}}
    # properties in both conjuncts cannot be merged: compared conjunct by conjunct
    new = {**defs, "$ref": "#/$defs/base", "properties": {"b": {"type": "string", "minLength": 1}}}
    assert [(c.path, c.kind) for c in diff_schemas(old, new)] == [("$.b", "bound_tightened")]
    # a different number of conjuncts that do not merge: cannot tell
    new = {"type": "object", "properties": {"a": INT, "b": {"type": "string"}}}
    [change] = diff_schemas(old, new)
    assert (change.kind, change.backward, change.forward) == ("uncertain", None, None)


def _change(backward: bool | None, forward: bool | None) -> SchemaChange:
    return SchemaChange("$.a", "/properties/a", "new", "uncertain", "", backward, forward)


def test_verdicts_per_mode() -> None:
    back_only, fwd_only = _change(True, False), _change(False, True)
    unsure, both = _change(None, True), _change(True, True)
    changes = [back_only, fwd_only, unsure, both]
    assert breaking(changes, "backward") == [fwd_only]
    assert breaking(changes, "forward") == [back_only]
    assert breaking(changes, "full") == [back_only, fwd_only]
    assert breaking(changes, "none") == []
    assert uncertain(changes, "backward") == [unsure]
    assert uncertain(changes, "forward") == []
    assert uncertain([_change(None, False), unsure], "full") == [unsure]
    assert compatibility([back_only, both]) == {"backward": True, "forward": False, "full": False}
    assert compatibility([unsure]) == {"backward": None, "forward": True, "full": None}
    assert compatibility([]) == {"backward": True, "forward": True, "full": True}
    with pytest.raises(ConfigError, match="unknown compatibility mode 'sideways'"):
        breaking(changes, "sideways")


def test_declared_mode() -> None:
    assert declared_mode({}) == "backward"
    assert declared_mode({}, default_mode="full") == "full"
    assert declared_mode({"x-hotswap-compatibility": "none"}) == "none"
    with pytest.raises(ConfigError, match="'both' is not a compatibility mode"):
        declared_mode({"x-hotswap-compatibility": "both"})


def test_to_dict() -> None:
    assert _change(True, None).to_dict() == {
        "path": "$.a", "pointer": "/properties/a", "side": "new", "kind": "uncertain", "detail": "",
        "backward": True, "forward": None, "file": ""}
