"""Config bytes: what a target receives (json, yaml, toml, ini, properties, env or text), refusing
what a format cannot hold, and reading structured bytes back as data within bounded_yaml's limits."""

from __future__ import annotations

import datetime
import io
import json
import re
from collections.abc import Iterator
from typing import Any

from hotswap_cli.bounded_yaml import (
    MAX_DEPTH,
    DataLimitError,
    NotPlain,
    check_depth,
    compose_yaml,
    format_size,
    load_plain,
    text_dates,
)
from hotswap_cli.jsonpath import JsonPath, format_path

__all__ = ["CONTENT_TYPES", "FORMATS", "STRUCTURED_FORMATS", "Unrepresentable", "encode", "format_for",
           "format_size", "parse_as", "parse_config_bytes"]

FORMATS = ("json", "yaml", "toml", "ini", "properties", "env", "text")
# The formats parse_as reads back into data; the others are compared by their bytes.
STRUCTURED_FORMATS = ("json", "yaml", "toml")
_TEXT = "text/plain; charset=utf-8"
CONTENT_TYPES = {"json": "application/json", "yaml": "application/yaml", "toml": "application/toml",
                 "ini": _TEXT, "properties": _TEXT, "env": _TEXT, "text": _TEXT}
_SUFFIXES = ((".yaml", "yaml"), (".yml", "yaml"), (".toml", "toml"), (".ini", "ini"),
             (".properties", "properties"), (".env", "env"))

Path = JsonPath


class Unrepresentable(ValueError):
    """A config the format cannot express: `path` is where (a JSONPath tuple), `reason` why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{format_path(path)}: {reason}")
        self.path = path
        self.reason = reason


def format_for(location: str, explicit: str | None = None) -> str:
    """`format:` if given, else from the path or URL suffix (.yaml/.yml, .toml, .ini, .properties,
    .env), else json."""
    if explicit:
        return explicit
    return next((fmt for suffix, fmt in _SUFFIXES if location.endswith(suffix)), "json")


def encode(config: Any, fmt: str) -> bytes:
    """The bytes pushed for a rendered config: the same config gives the same bytes everywhere (key
    order as given, `\\n` line endings, UTF-8). Raises Unrepresentable for what `fmt` cannot hold."""
    encoder = _ENCODERS.get(fmt)
    if encoder is None:
        raise ValueError(f"unknown format {fmt!r} (use one of {', '.join(FORMATS)})")
    try:
        return encoder(config).encode("utf-8")
    except UnicodeEncodeError:
        raise Unrepresentable((), f"{fmt} needs valid Unicode text (the config holds a lone surrogate)") from None


def _encode_json(config: Any) -> str:
    return json.dumps(config, indent=2, ensure_ascii=False) + "\n"


def _encode_yaml(config: Any) -> str:
    import yaml

    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def _encode_toml(config: Any) -> str:
    _require_mapping(config, "toml")
    for path, value in _nodes(config):
        if value is None:
            raise Unrepresentable(path, "toml cannot hold null (TOML has no null; leave the key out)")
    import tomli_w

    try:
        return tomli_w.dumps(config)
    except TypeError as exc:
        raise Unrepresentable((), f"toml cannot hold this value ({exc})") from None


# Names that configparser (and most INI readers) would read as something else: a comment, a section
# header, a delimiter, a continuation line.
_INI_BAD_START = (";", "#", "[")
_INI_BAD_CHARS = ("]", "=", ":", "\n", "\r")


def _encode_ini(config: Any) -> str:
    import configparser

    _require_mapping(config, "ini", "of sections")
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep keys' case
    for section, body in config.items():
        _check_ini_name(section, (section,), "section")
        if not isinstance(body, dict):
            raise Unrepresentable((section,), f"ini cannot hold {_kind(body)} at the top level "
                                              "(the top level holds [sections]; nest it under one)")
        values: dict[str, str] = {}
        for key, value in body.items():
            path = (section, key)
            _check_ini_name(key, path, "key")
            if isinstance(value, dict | list) or value is None:
                raise Unrepresentable(path, f"ini cannot hold {_kind(value)} (sections hold key = value pairs)")
            text = _scalar_text(value)
            if "\n" in text or "\r" in text:
                raise Unrepresentable(path, "ini cannot hold a line break in a value")
            if text != text.strip():
                raise Unrepresentable(path, "ini cannot hold spaces around a value (readers strip them)")
            values[key] = text
        parser[section] = values
    out = io.StringIO()
    parser.write(out)
    # configparser ends every section with a blank line; the file ends with one newline.
    text = out.getvalue().rstrip("\n")
    return text + "\n" if text else ""


def _check_ini_name(name: Any, path: Path, what: str) -> None:
    if not isinstance(name, str) or not name:
        raise Unrepresentable(path, f"ini needs a non-empty {what} name")
    if name.startswith(_INI_BAD_START) or any(c in name for c in _INI_BAD_CHARS):
        raise Unrepresentable(path, f"ini cannot hold the {what} name {name!r} (no ] = : or line breaks, "
                                    "not starting with ; # or [)")
    if name != name.strip():
        raise Unrepresentable(path, f"ini cannot hold spaces around the {what} name {name!r} (readers strip them)")


def _encode_properties(config: Any) -> str:
    import javaproperties

    _require_mapping(config, "properties")
    pairs: list[tuple[str, str]] = []
    written: dict[str, Path] = {}
    for path, value in _nodes(config):
        if isinstance(value, dict | list):
            if not value and path:
                raise Unrepresentable(path, f"properties cannot hold {_kind(value, empty=True)} "
                                            "(it would write no line)")
            continue
        if value is None:
            raise Unrepresentable(path, "properties cannot hold null (leave the key out)")
        key = _property_key(path)
        if key in written:
            raise Unrepresentable(path, f"properties would write the key {key!r} twice "
                                        f"(also from {format_path(written[key])})")
        written[key] = path
        pairs.append((key, _scalar_text(value)))
    # javaproperties escapes per java.util.Properties (non-ASCII as \uXXXX, as Properties.load and
    # Spring Boot read ISO-8859-1); timestamp=False leaves out its date comment.
    return javaproperties.dumps(pairs, timestamp=False)


def _property_key(path: Path) -> str:
    """('server', 'ports', 0) -> server.ports[0], as Spring Boot binds flattened properties."""
    key = ""
    for part in path:
        if isinstance(part, int):
            key += f"[{part}]"
        elif not part:
            raise Unrepresentable(path, "properties cannot hold an empty key")
        else:
            key += f".{part}" if key else part
    return key


_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_BARE = re.compile(r"[A-Za-z0-9_./:@+,-]*")
_ENV_DOUBLE_QUOTED_ESCAPES = re.compile(r'([\\"$`])')


def _encode_env(config: Any) -> str:
    _require_mapping(config, "env")
    lines = []
    for key, value in config.items():
        path = (key,)
        if not isinstance(key, str) or not _ENV_KEY.fullmatch(key):
            raise Unrepresentable(path, f"env cannot hold the name {key!r} (names are letters, digits and _, "
                                        "not starting with a digit)")
        if isinstance(value, dict | list) or value is None:
            raise Unrepresentable(path, f"env cannot hold {_kind(value)} (an environment holds flat KEY=value pairs)")
        text = _scalar_text(value)
        if "\0" in text:
            raise Unrepresentable(path, "env cannot hold a NUL character")
        lines.append(f"{key}={_env_quote(text)}\n")
    return "".join(lines)


def _env_quote(text: str) -> str:
    """The value as sh, systemd's EnvironmentFile, docker compose and python-dotenv all read it back.
    Single quotes are literal to all four; only a value holding ' or \\ needs double quotes, where
    \\ " $ ` are escaped (python-dotenv alone keeps the backslash before $ and `). Line breaks stay
    as they are inside the quotes: sh and systemd read `\\n` as two characters."""
    if _ENV_BARE.fullmatch(text):
        return text
    if "'" not in text and "\\" not in text:
        return f"'{text}'"
    return '"' + _ENV_DOUBLE_QUOTED_ESCAPES.sub(r"\\\1", text) + '"'


def _encode_text(config: Any) -> str:
    if not isinstance(config, str):
        raise Unrepresentable((), f"text needs the config to be a string, not {_kind(config)}; "
                                  "use a template to turn a mapping into text")
    return config


_ENCODERS = {"json": _encode_json, "yaml": _encode_yaml, "toml": _encode_toml, "ini": _encode_ini,
             "properties": _encode_properties, "env": _encode_env, "text": _encode_text}


def _require_mapping(config: Any, fmt: str, of: str = "") -> None:
    if not isinstance(config, dict):
        what = f"a mapping {of}".rstrip()
        raise Unrepresentable((), f"{fmt} needs {what} at the top level, not {_kind(config)}")


def _scalar_text(value: Any) -> str:
    """A scalar as flat formats write it: true/false, numbers as JSON writes them, strings as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return str(value)


def _kind(value: Any, *, empty: bool = False) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an empty mapping" if empty else "a mapping"
    if isinstance(value, list):
        return "an empty list" if empty else "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    return "a number" if isinstance(value, int | float) else type(value).__name__


def _nodes(data: Any) -> Iterator[tuple[Path, Any]]:
    """Every value in document order with its path (walked without recursion)."""
    stack: list[tuple[Path, Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        yield path, value
        if isinstance(value, dict):
            stack.extend(reversed([((*path, k), v) for k, v in value.items()]))
        elif isinstance(value, list):
            stack.extend(reversed([((*path, i), v) for i, v in enumerate(value)]))


def parse_as(raw: bytes, fmt: str) -> Any | None:
    """Bytes of a structured format (STRUCTURED_FORMATS) as data, within the same limits as
    parse_config_bytes; None for the others, whose bytes are compared as they are. Raises ValueError
    (DataLimitError for a refusal)."""
    if fmt in ("json", "yaml"):
        return parse_config_bytes(raw)
    if fmt == "toml":
        return _parse_toml(raw)
    return None


def _parse_toml(raw: bytes) -> Any:
    import tomllib

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not TOML: not UTF-8 text") from None
    except RecursionError:
        raise DataLimitError(f"nested deeper than {MAX_DEPTH} levels") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not TOML: {exc}") from None
    check_depth(data)
    _dates_as_text(data)
    return data


def _dates_as_text(data: dict[str, Any]) -> None:
    """TOML dates and times as ISO text, in place: data stays JSON-like, as YAML dates stay text."""
    stack: list[dict[str, Any] | list[Any]] = [data]
    while stack:
        container = stack.pop()
        keys: list[Any] = list(container) if isinstance(container, dict) else list(range(len(container)))
        for key in keys:
            value = container[key]
            if isinstance(value, datetime.date | datetime.time):
                container[key] = value.isoformat()
            elif isinstance(value, dict | list):
                stack.append(value)


def parse_config_bytes(raw: bytes) -> Any:
    """JSON or YAML bytes as data (what an instance or a transport hands back): JSON when it is
    JSON, else YAML (bounded_yaml.load_plain, or compose_yaml's limits for what it leaves). Raises
    ValueError (DataLimitError for a refusal)."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise DataLimitError(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        pass
    else:
        check_depth(data)
        return data
    import yaml

    try:
        text = raw.decode("utf-8")
        constructor = text_dates()
        try:
            return load_plain(text, constructor)
        except NotPlain:
            pass  # aliases, tags, odd keys, syntax errors: compose_yaml's limits, and its line numbers
        node = compose_yaml(text)
        return None if node is None else constructor.construct_document(node)
    except UnicodeDecodeError:
        raise ValueError("not JSON or YAML: not UTF-8 text") from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        where = f" (line {line})" if line else ""
        raise ValueError(f"not JSON or YAML: {exc.problem or exc.context}{where}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"not JSON or YAML: {str(exc).splitlines()[0]}") from None
