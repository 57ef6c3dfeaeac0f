"""Load YAML or JSON text into plain data plus a map from each JSON path to its file:line:col."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from hotswap_cli.errors import ConfigError
from hotswap_cli.model import JsonPath, Location

try:  # the C composer is several times faster; fall back where libyaml is absent
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


@dataclass(frozen=True)
class Document:
    """Parsed file content with the location of every value it holds."""

    data: Any
    locations: dict[JsonPath, Location]
    file: str


class DocumentError(ConfigError):
    """Unparsable file: carries the Location so validate can print file:line:col."""

    def __init__(self, location: Location, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.reason = message


def parse_document(text: str | bytes, file: str) -> Document:
    """Parse YAML (JSON is YAML) keeping locations; duplicate keys are errors."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        raise DocumentError(loc, f"YAML syntax error: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise DocumentError(Location(file), f"YAML error: {exc}") from None
    locations: dict[JsonPath, Location] = {}
    if node is None:
        return Document(None, {(): Location(file, 1, 1)}, file)
    data = _build(node, (), file, locations)
    return Document(data, locations, file)


_constructor = yaml.SafeLoader.__new__(yaml.SafeLoader)
yaml.constructor.SafeConstructor.__init__(_constructor)


def _build(node: yaml.Node, path: JsonPath, file: str, locations: dict[JsonPath, Location]) -> Any:
    locations[path] = Location(file, node.start_mark.line + 1, node.start_mark.column + 1)
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
                raise DocumentError(_loc(key_node, file), f"duplicate key {key!r} (first defined at line {first.line if first else '?'})")
            out[key] = _build(value_node, path + (key,), file, locations)
            locations[path + (key,)] = _loc(key_node, file)  # errors point at the key's line
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), file, locations) for i, item in enumerate(node.value)]
    try:
        return _constructor.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise DocumentError(_loc(node, file), f"cannot read value: {exc.problem}") from None


def _loc(node: yaml.Node, file: str) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


def dump_yaml(data: Any) -> str:
    """Block-style YAML with keys in their given order (rendered configs keep file order)."""
    try:
        from yaml import CSafeDumper as Dumper
    except ImportError:  # pragma: no cover
        from yaml import SafeDumper as Dumper  # type: ignore[assignment]
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False)
