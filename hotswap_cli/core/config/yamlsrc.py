"""Load YAML or JSON text into plain data; the file:line:col of each value is found on demand."""

from __future__ import annotations

import bisect
import json
import re
from functools import cached_property
from typing import Any

import yaml

from hotswap_cli.bounded_yaml import DataLimitError, NotPlain, check_depth, compose_yaml, load_plain
from hotswap_cli.errors import ConfigError
from hotswap_cli.model import JsonPath, Location


class DocumentError(ConfigError):
    """Unparsable file: carries the Location so validate can print file:line:col."""

    def __init__(self, location: Location, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.reason = message


class _Duplicate(Exception):
    """Raised by the fast loaders; the slow path then finds the exact place."""


class _StrictConstructor(yaml.constructor.SafeConstructor):
    """SafeConstructor that refuses duplicate keys and YAML merge keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or key_node.value in seen:
                raise _Duplicate()
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def _timestamp_as_text(loader: Any, node: yaml.ScalarNode) -> str:
    return loader.construct_scalar(node)  # type: ignore[no-any-return]


_StrictConstructor.add_constructor("tag:yaml.org,2002:map", _StrictConstructor.construct_yaml_map)  # type: ignore[type-var]
# Configs are JSON data: a YAML date stays the text it was written as.
_StrictConstructor.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


_PLAIN = _StrictConstructor()  # builds load_plain's scalars that are not text (it keeps no state for them)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Duplicate()
    return out


class Document:
    """A parsed file. Data is read with the fast loaders; locations are computed only when an
    error needs one (a valid repo never pays for them)."""

    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        if file.endswith(".json"):
            try:
                self.data: Any = json.loads(text, object_pairs_hook=_no_duplicates)
                check_depth(self.data)
                return
            except json.JSONDecodeError as exc:
                raise DocumentError(Location(file, exc.lineno, exc.colno), f"JSON syntax error: {exc.msg}") from None
            except (_Duplicate, RecursionError, DataLimitError):
                node = _compose(text, file)  # JSON is YAML: this finds the line
        else:
            try:
                self.data = load_plain(text, _PLAIN)  # a profile or config: mappings, lists, untagged scalars
                return
            except NotPlain:
                pass
            node = _compose(text, file)
            try:
                self.data = None if node is None else _StrictConstructor().construct_document(node)
                return
            except (_Duplicate, yaml.YAMLError):
                pass
        self.data, self.__dict__["locations"] = _located(node, file)

    @cached_property
    def locations(self) -> dict[JsonPath, Location]:
        if self.file.endswith(".json"):
            return _json_locations(self.text, self.file)  # YAML cannot read all JSON (a surrogate pair escape)
        return _parse_located(self.text, self.file)[1]


def parse_document(text: str | bytes, file: str) -> Document:
    """Parse YAML (JSON is YAML); duplicate keys and syntax errors raise DocumentError."""
    return Document(text.decode("utf-8") if isinstance(text, bytes) else text, file)


def _parse_located(text: str, file: str) -> tuple[Any, dict[JsonPath, Location]]:
    return _located(_compose(text, file), file)


def _compose(text: str, file: str) -> yaml.Node | None:
    """The document's nodes within bounded_yaml.compose_yaml's limits: aliases count against the 1 MiB
    limit of a rendered config as they are read, nesting and complex keys are refused."""
    try:
        return compose_yaml(text)
    except DataLimitError as exc:
        raise DocumentError(Location(file, exc.line or 0, exc.column or 0), exc.reason) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        raise DocumentError(loc, f"YAML syntax error: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise DocumentError(Location(file), f"YAML error: {exc}") from None


def _located(node: yaml.Node | None, file: str) -> tuple[Any, dict[JsonPath, Location]]:
    locations: dict[JsonPath, Location] = {}
    if node is None:
        return None, {(): Location(file, 1, 1)}
    return _build(node, (), file, locations), locations


_constructor = yaml.SafeLoader.__new__(yaml.SafeLoader)
yaml.constructor.SafeConstructor.__init__(_constructor)
_constructor.yaml_constructors = {  # type: ignore[misc]
    **_constructor.yaml_constructors, "tag:yaml.org,2002:timestamp": _timestamp_as_text}


def _build(node: yaml.Node, path: JsonPath, file: str, locations: dict[JsonPath, Location]) -> Any:
    locations[path] = _loc(node, file)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise DocumentError(_loc(key_node, file), "YAML merge keys (<<) are not supported; use extends:")
            key = _constructor.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                first = locations.get(path + (key,))
                where = f"first defined at line {first.line}" if first else "defined twice"
                raise DocumentError(_loc(key_node, file), f"duplicate key {key!r} ({where})")
            out[key] = _build(value_node, path + (key,), file, locations)
            locations[path + (key,)] = _loc(key_node, file)  # errors point at the key's line
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), file, locations) for i, item in enumerate(node.value)]
    try:
        return _constructor.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise DocumentError(_loc(node, file), f"cannot read value: {exc.problem}") from None


_JSON_SPACE = re.compile(r"[ \t\n\r]*")


def _json_locations(text: str, file: str) -> dict[JsonPath, Location]:
    """The file:line:col of every value of a JSON document json.loads already read (so valid, no
    duplicate keys, within the depth limit), a member at its key; found with json's own scanner."""
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # json's own scanner: value, end
    locations: dict[JsonPath, Location] = {}

    def loc(at: int) -> Location:
        line = bisect.bisect_right(starts, at)
        return Location(file, line, at - starts[line - 1] + 1)

    def skip(at: int) -> int:
        return _JSON_SPACE.match(text, at).end()  # type: ignore[union-attr]

    def value(at: int, path: JsonPath) -> int:
        """Locate the value starting at (or after spaces from) `at`; the offset just past it."""
        at = skip(at)
        locations[path] = loc(at)
        opening = text[at]
        if opening not in "{[":
            return scan(text, at)[1]  # type: ignore[no-any-return]
        at = skip(at + 1)
        index = 0
        while text[at] not in "}]":
            if opening == "{":
                key, after = scan(text, at)
                key_at = loc(at)
                at = value(skip(after) + 1, (*path, key))  # past the ':'
                locations[(*path, key)] = key_at  # errors point at the key's line
            else:
                at = value(at, (*path, index))
                index += 1
            at = skip(at)
            if text[at] == ",":
                at = skip(at + 1)
        return at + 1

    value(0, ())
    return locations


def _loc(node: yaml.Node, file: str) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


def dump_yaml(data: Any) -> str:
    """Block-style YAML with keys in their given order (rendered configs keep file order)."""
    try:
        from yaml import CSafeDumper as Dumper
    except ImportError:  # pragma: no cover
        from yaml import SafeDumper as Dumper  # type: ignore[assignment]
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False)
