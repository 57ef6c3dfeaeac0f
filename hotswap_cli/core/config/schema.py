"""JSON Schema checking: a compiled fast path for valid data, jsonschema for every error."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hotswap_cli.errors import ConfigError

# Keywords fastjsonschema (drafts 4-7) does not know: a schema using any of them is only
# ever checked by jsonschema, so both paths always agree on what is valid.
_NEWER_KEYWORDS = frozenset({
    "prefixItems", "unevaluatedProperties", "unevaluatedItems", "dependentRequired", "dependentSchemas",
    "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor", "$anchor", "minContains",
    "maxContains", "$vocabulary",
})


@dataclass(frozen=True)
class SchemaViolation:
    path: tuple[str | int, ...]
    message: str
    validator: str
    instance: Any
    schema: Any
    schema_path: tuple[str | int, ...] = ()  # where in the schema the failing keyword is


def _keywords(node: Any) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.update(k for k in item if isinstance(k, str))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


class SchemaChecker:
    """One schema, compiled once. `violations(data)` is empty for valid data."""

    def __init__(self, schema: dict[str, Any], file: str, *, fast: Any = None) -> None:
        """`fast`: the schema's validator compiled beforehand (fast_source's code, shipped)."""
        self.schema = schema
        self.file = file
        self._fast = fast if fast is not None else self._compile_fast()
        self._full: Any = None

    def _compile_fast(self) -> Any:
        if _keywords(self.schema) & _NEWER_KEYWORDS:
            return None
        try:
            namespace: dict[str, Any] = {}
            exec(_fast_code(self.schema), namespace)  # noqa: S102 - code generated from the schema
            return namespace["validate"]
        except Exception:  # noqa: BLE001 - anything it cannot compile goes to jsonschema
            return None

    def _validator(self) -> Any:
        if self._full is None:
            import jsonschema

            cls = jsonschema.validators.validator_for(self.schema, default=jsonschema.Draft202012Validator)
            try:
                cls.check_schema(self.schema)
            except jsonschema.SchemaError as exc:
                raise ConfigError(f"{self.file}: not a valid JSON Schema: {exc.message}") from None
            # an empty registry that retrieves nothing: jsonschema's default would fetch a remote
            # $ref over the network (schemaref refuses those first; this is the second wall)
            from referencing import Registry

            self._full = cls(self.schema, format_checker=cls.FORMAT_CHECKER, registry=Registry())
        return self._full

    def violations(self, data: Any) -> list[SchemaViolation]:
        if self._fast is not None:
            try:
                self._fast(data)
                return []
            except Exception:  # noqa: BLE001,S110 - invalid (or unsure): jsonschema gives the full list
                pass
        from referencing.exceptions import Unresolvable

        try:
            return [
                SchemaViolation(tuple(e.absolute_path), str(e.message), str(e.validator), e.instance, e.schema,
                                tuple(e.absolute_schema_path))
                for e in self._validator().iter_errors(data)
            ]
        except Unresolvable as exc:
            raise ConfigError(f"{self.file}: a $ref that does not resolve: {exc}",
                              hint="refs point into this schema ('#/$defs/...') or to files of the repo") from None


def _refuse_fetch(uri: str) -> Any:
    raise ConfigError(f"a schema $ref to {uri} would be fetched: refused")


_NO_FETCH = {scheme: _refuse_fetch for scheme in ("http", "https", "file", "ftp", "data", "")}


# Keywords whose value is a schema, a list of schemas, or a name -> schema mapping: what
# fastjsonschema reads as schemas (drafts 4-7).
_SUBSCHEMA = frozenset({"items", "additionalItems", "additionalProperties", "contains", "not", "if", "then",
                        "else", "propertyNames"})
_SUBSCHEMAS = frozenset({"allOf", "anyOf", "oneOf", "items"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "definitions", "$defs", "dependencies"})


def _const_as_enum(node: Any) -> Any:
    """The schema with every `const: X` as `enum: [X]` (the same check): fastjsonschema's code
    for `const` fails to generate without detailed exceptions."""
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            value = {name: _const_as_enum(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMAS and isinstance(value, list):
            value = [_const_as_enum(sub) for sub in value]
        elif key in _SUBSCHEMA:
            value = _const_as_enum(value)
        out[key] = value
    if "const" in out and "enum" not in out:
        out["enum"] = [out.pop("const")]
    return out


def fast_key(schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """What fastjsonschema compiles for `schema`, and its key: a copy (fastjsonschema rewrites the
    $refs of what it is given, in place) without the identifiers it would resolve refs against
    (every ref left is '#/...', see schemaref), `const` as `enum`."""
    import copy
    import hashlib
    import json

    schema = _const_as_enum(copy.deepcopy({k: v for k, v in schema.items() if k not in ("$schema", "$id", "id")}))
    return hashlib.sha256(json.dumps(schema, sort_keys=True, default=str).encode()).hexdigest()[:32], schema


def fast_source(schema: dict[str, Any]) -> str:
    """fastjsonschema's validator for a schema from fast_key, as Python source.

    The fast path only answers valid or not (jsonschema words every error), so its exceptions
    need no detail: the code for hotswap's own profile schema is then half the size (260 KB, not
    530 KB), and generating and compiling it takes a third of the time."""
    import fastjsonschema

    try:
        source = fastjsonschema.compile_to_code(schema, use_default=False, use_formats=True, handlers=_NO_FETCH,
                                                detailed_exceptions=False)
    except TypeError:  # fastjsonschema < 2.21: every exception carries its schema
        source = fastjsonschema.compile_to_code(schema, use_default=False, use_formats=True, handlers=_NO_FETCH)
    # An error inside an array names its item with `"...[{data_x}]".format(**locals())`, and
    # locals() of the generated function (thousands of names) costs ~25 us: a 1000-target profile
    # fails six oneOf branches per target on its way to valid, 150 of its 190 ms. Nothing reads
    # these messages (see above), so the names keep their placeholders.
    return str(source.replace(".format(**locals())", ""))


def _fast_code(schema: dict[str, Any]) -> Any:
    """fastjsonschema's generated validator as a code object, kept in the cache directory:
    generating and compiling it costs more than validating a few hundred configs."""
    import hashlib
    import marshal
    import sys

    import fastjsonschema

    from hotswap_cli.core.config.vcache import cache_dir
    from hotswap_cli.io.files import write_atomic

    key, schema = fast_key(schema)
    key = hashlib.sha256(f"{key} {fastjsonschema.VERSION} {sys.version} brief, no locals".encode()).hexdigest()[:32]
    directory = cache_dir()
    path = directory / f"fastjsonschema-{key}.bin" if directory else None
    if path is not None:
        try:
            return marshal.loads(path.read_bytes())
        except (OSError, ValueError, EOFError, TypeError):
            pass
    code = compile(fast_source(schema), "<fastjsonschema>", "exec")
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, marshal.dumps(code))
        except OSError:
            pass
    return code


def describe(error: SchemaViolation) -> str:
    """jsonschema's message, shortened: never echo a whole object back at the user."""
    msg = str(error.message)
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        return msg.replace("Additional properties are not allowed", "unknown key").replace(" were unexpected", "")
    return msg if len(msg) <= 200 else msg[:197] + "..."


UNKNOWN_KEY_VALIDATORS = ("additionalProperties", "unevaluatedProperties")


def unknown_keys(error: SchemaViolation) -> list[str]:
    """The keys an additionalProperties/unevaluatedProperties error refuses, each to be reported at
    its own line (jsonschema reports them all at the object that holds them)."""
    if error.validator not in UNKNOWN_KEY_VALIDATORS or not isinstance(error.instance, dict):
        return []
    if error.validator == "unevaluatedProperties" or not isinstance(error.schema, dict):
        # what counts as evaluated depends on the whole schema: take the keys jsonschema names
        return [k for k in error.instance if repr(k) in error.message]
    known = error.schema.get("properties") or {}
    patterns = error.schema.get("patternProperties") or {}
    return [k for k in error.instance if k not in known and not any(_matches(p, k) for p in patterns)]


def describe_unknown(key: str, error: SchemaViolation) -> str:
    """`unknown key 'colour'`, and the closest key the schema knows when one is close."""
    import difflib

    known = error.schema.get("properties") if isinstance(error.schema, dict) else None
    candidates = [k for k in known or {} if isinstance(k, str)]
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.7)
    return f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


def _matches(pattern: str, key: str) -> bool:
    try:
        return re.search(pattern, key) is not None
    except re.error:  # an ECMA-262 pattern Python cannot compile: call the key known, never invent an error
        return True
