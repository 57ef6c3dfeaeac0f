"""Structural diff of two JSON Schema versions: each change by JSONPath, judged backward- and forward-compatible.

`backward`: the NEW schema accepts every config the OLD one accepted; `forward`: the OLD schema
accepts every config the NEW one accepts. Each flag is True, False, or None ("cannot tell").
JSON Schema is a conjunction of keywords, so a schema is judged keyword by keyword:

- True is proven: a keyword that only loosens (or only tightens, for `forward`) cannot reject
  more. False is structural: the keyword now rejects values it accepted; another keyword may
  happen to rule those values out already (an `enum`, say), which the diff does not try to prove.
- `type`: a set of types, `integer` inside `number`; absent means every type. Old ⊂ new is
  `type_widened` (backward ✓ forward ✗), new ⊂ old `type_narrowed`, neither `type_changed`.
  `enum` and `const` (as a one-value enum) likewise, values compared as JSON (1 == 1.0, not true).
- Bounds (`minimum`, `maximum`, `exclusive*`, draft 4's boolean form, `minLength`/`maxLength`,
  `minItems`/`maxItems`, `minProperties`/`maxProperties`, `multipleOf` added or removed, or changed
  to a whole multiple of the other) are `bound_tightened` (backward ✗ forward ✓) or `bound_relaxed`.
- A keyword only applies to values of its type: a number bound changed where the old schema
  allows no numbers cannot reject an old config (backward ✓); where neither allows them, no change.
- `properties`: a property in both schemas is diffed at `$.obj.key`. An added one is compared
  with what the old schema allowed under that key (its `additionalProperties`, or the one
  `patternProperties` entry matching it): old closed (`false`) → backward ✓ forward ✗; old open
  → backward ✓ only if the new property schema accepts anything, forward ✗ unless it accepts
  nothing. A removed property mirrors this against the new schema's `additionalProperties`:
  new closed → backward ✗ forward ✓; new open → backward ✓ forward ✗ (unless the old property
  schema accepted anything). Each is one `property_added`/`property_removed` line.
- `required`: a name added is `required_added` (backward ✗ forward ✓), removed `required_removed`.
- `additionalProperties` (keys in neither `properties`): to or from `false`/absent is
  `additional_closed` or `additional_opened`; two schemas are diffed at `$.obj.*`.
  `unevaluatedProperties` stands in for it only when nothing else (oneOf, if, ...) evaluates keys.
- `items` (one schema) is diffed at `$.list[*]`; `uniqueItems` added/removed is `items_changed`;
  tuple forms (`items` as a list, `prefixItems`, `additionalItems`) are `items_changed` with both
  flags None unless equal.
- `$ref` is followed on both sides: `#/...` pointers (`$defs`, `definitions`), `#name` anchors,
  and other files through `resolve`. A cycle is taken as equal where it closes (the comparison is
  co-inductive). `allOf` members and a `$ref` beside other keywords (2019-09 and later; draft 7
  and earlier ignore those siblings) are conjuncts: merged into one schema when that keeps the
  meaning, else compared member by member when both sides have as many, else `uncertain`.
- `pattern`, `format`, `propertyNames`, `contains`, `anyOf`, `oneOf`, `not`, `if/then/else`,
  `dependentRequired`/`dependentSchemas`/`dependencies`, `patternProperties` entries added or
  removed, `unevaluated*` and unknown keywords are `uncertain` unless structurally equal (refs
  followed): added is forward ✓ backward ?, removed backward ✓ forward ?, changed both ?.
- Annotations (`title`, `description`, `default`, `examples`, `$comment`, `deprecated`,
  `readOnly`, `writeOnly`, `content*`, `$id`, `$schema`, `$anchor`, `$defs`, `x-*`) are not changes.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hotswap_cli.errors import ConfigError
from hotswap_cli.jsonpath import format_path
from hotswap_cli.model import Location

if TYPE_CHECKING:
    from hotswap_cli.core.config.configrepo import ConfigRepo

MODES = ("backward", "forward", "full", "none")
MODE_KEY = "x-hotswap-compatibility"
KINDS = ("property_added", "property_removed", "required_added", "required_removed", "type_narrowed",
         "type_widened", "type_changed", "enum_narrowed", "enum_widened", "enum_changed", "bound_tightened",
         "bound_relaxed", "additional_closed", "additional_opened", "items_changed", "uncertain")

Resolve = Callable[[str, str], Any]
"""resolve(file, side) -> the parsed schema file a `$ref` names (None: there is none). `file` is the
ref's part before '#', relative to the diffed schema's folder (refs inside a referenced file are
rebased: `../common/1.0.json`); `side` is "old" or "new". The fragment is applied by the diff."""


@dataclass(frozen=True)
class SchemaChange:
    path: str  # JSONPath of the config location affected: "$.queue.prefetch", "$.servers[*].port", "$"
    pointer: str  # JSON Pointer into the schema document where the change is (in `side`'s document)
    side: str  # "new" | "old"
    kind: str  # one of KINDS
    detail: str  # one line: "maximum 1000 -> 500"
    backward: bool | None  # the new schema accepts every config the old accepted (None: cannot tell)
    forward: bool | None  # the old schema accepts every config the new accepts (None: cannot tell)
    file: str = ""  # the file `pointer` points into, relative to the diffed schema's folder ("": that schema)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- verdicts ----------------------------------------------------------------------------------


def _fold(flags: Iterable[bool | None]) -> bool | None:
    """False if any is False, else None if any is None, else True."""
    seen = list(flags)
    return False if False in seen else None if None in seen else True


def compatibility(changes: Iterable[SchemaChange]) -> dict[str, bool | None]:
    """The verdict per mode: {"backward": ..., "forward": ..., "full": ...} (None: cannot tell)."""
    changes = list(changes)
    back, fwd = _fold(c.backward for c in changes), _fold(c.forward for c in changes)
    return {"backward": back, "forward": fwd, "full": _fold((back, fwd))}


def _flags(change: SchemaChange, mode: str) -> tuple[bool | None, ...]:
    if mode not in MODES:
        raise ConfigError(f"unknown compatibility mode {mode!r}: one of {', '.join(MODES)}")
    return {"backward": (change.backward,), "forward": (change.forward,),
            "full": (change.backward, change.forward), "none": ()}[mode]


def breaking(changes: Iterable[SchemaChange], mode: str) -> list[SchemaChange]:
    """The changes that break `mode` ("full": either direction; "none": nothing breaks it)."""
    return [c for c in changes if False in _flags(c, mode)]


def uncertain(changes: Iterable[SchemaChange], mode: str) -> list[SchemaChange]:
    """The changes whose flag for `mode` cannot be told (never one `breaking` already lists)."""
    return [c for c in changes if None in (flags := _flags(c, mode)) and False not in flags]


def declared_mode(schema: Any, default_mode: str = "backward") -> str:
    """The schema's `x-hotswap-compatibility`, else `default_mode`; ConfigError when not a mode."""
    mode = schema.get(MODE_KEY, default_mode) if isinstance(schema, dict) else default_mode
    if mode not in MODES:
        raise ConfigError(f"{MODE_KEY}: {mode!r} is not a compatibility mode (one of {', '.join(MODES)})")
    return str(mode)


# -- schema nodes ------------------------------------------------------------------------------

_ANNOTATIONS = frozenset({
    "title", "description", "default", "examples", "$comment", "deprecated", "readOnly", "writeOnly",
    "contentEncoding", "contentMediaType", "contentSchema", "$id", "id", "$schema", "$anchor",
    "$dynamicAnchor", "$vocabulary", "$defs", "definitions"})
_GROUPS = (  # keywords that read each other: never split between merged conjuncts
    frozenset({"properties", "patternProperties", "additionalProperties"}),
    frozenset({"items", "prefixItems", "additionalItems"}), frozenset({"contains", "minContains", "maxContains"}),
    frozenset({"if", "then", "else"}), frozenset({"minimum", "exclusiveMinimum"}),
    frozenset({"maximum", "exclusiveMaximum"}))
_FAMILY_OF = {
    **dict.fromkeys(("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"), "number"),
    **dict.fromkeys(("minLength", "maxLength", "pattern", "format"), "string"),
    **dict.fromkeys(("items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains",
                     "minContains", "maxContains", "unevaluatedItems"), "array"),
    **dict.fromkeys(("properties", "patternProperties", "additionalProperties", "required", "minProperties",
                     "maxProperties", "propertyNames", "dependentRequired", "dependentSchemas", "dependencies",
                     "unevaluatedProperties"), "object")}
_SCHEMAS = frozenset({"not", "if", "then", "else", "contains", "propertyNames", "additionalItems",
                      "unevaluatedItems", "unevaluatedProperties"})
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems", "items"})
_SCHEMA_MAPS = frozenset({"dependentSchemas", "dependencies", "patternProperties", "dependentRequired"})
_ALL_TYPES = frozenset({"null", "boolean", "object", "array", "number", "string"})
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _escape(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class _Loc:
    """Where a value sits: a JSON Pointer into `file` (whose parsed data is `root`) on `side`."""

    side: str
    pointer: str
    file: str = ""
    root: Any = field(default=None, compare=False, repr=False)

    def child(self, *tokens: str | int) -> _Loc:
        return replace(self, pointer=self.pointer + "".join("/" + _escape(t) for t in tokens))


@dataclass
class _View:
    """One conjunct of a schema: its keywords, each with its own location."""

    at: _Loc
    kws: dict[str, tuple[Any, _Loc]] = field(default_factory=dict)
    false: bool = False
    problem: str = ""  # a $ref that cannot be followed

    def get(self, kw: str, default: Any = None) -> Any:
        return self.kws[kw][0] if kw in self.kws else default


def _canon(value: Any) -> str:
    """JSON Schema equality as text: 1 == 1.0, true != 1, key order ignored."""
    def norm(v: Any) -> Any:
        if isinstance(v, float) and math.isfinite(v) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v
    return json.dumps(norm(value), sort_keys=True, default=str)


def _show(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _step(path: str, key: str) -> str:
    return path + format_path((key,))[1:]


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


# -- the diff ----------------------------------------------------------------------------------


def diff_schemas(old: Any, new: Any, *, resolve: Resolve | None = None) -> list[SchemaChange]:
    """Every structural change from `old` to `new`, in document order (see the module docstring)."""
    return _Differ(old, new, resolve).compare(_Loc("old", "", "", old), _Loc("new", "", "", new), old, new, "$")


def _legacy(root: Any) -> bool:
    """Draft 7 and earlier: keywords beside a $ref are ignored."""
    return isinstance(root, dict) and "draft-0" in str(root.get("$schema", ""))


class _Differ:
    def __init__(self, old: Any, new: Any, resolve: Resolve | None) -> None:
        self.resolve = resolve
        self.legacy = {"old": _legacy(old), "new": _legacy(new)}
        self.files: dict[tuple[str, str], Any] = {}
        self.stack: set[tuple[_Loc, _Loc]] = set()

    # following refs ---------------------------------------------------------------------

    def _follow(self, ref: str, loc: _Loc) -> tuple[Any, _Loc] | str:
        """The schema a $ref names and its location, or why it cannot be followed."""
        target, _, fragment = ref.partition("#")
        root, file = loc.root, loc.file
        if target:
            if _SCHEME.match(target) or target.startswith("/") or self.resolve is None:
                return f"cannot follow $ref {ref!r}"
            file = posixpath.normpath(posixpath.join(posixpath.dirname(loc.file), target))
            if (loc.side, file) not in self.files:
                self.files[(loc.side, file)] = self.resolve(file, loc.side)
            root = self.files[(loc.side, file)]
            if not isinstance(root, dict | bool):
                return f"$ref {ref!r}: no such schema file"
        if fragment and not fragment.startswith("/"):
            pointer = _anchor(root, fragment)
            if pointer is None:
                return f"$ref {ref!r}: no such anchor"
            fragment = pointer
        node = _walk(root, fragment)
        if node is _MISSING:
            return f"$ref {ref!r} does not resolve"
        return node, _Loc(loc.side, fragment, file, root)

    def _parts(self, schema: Any, loc: _Loc, chain: frozenset[_Loc]) -> list[_View]:
        """The conjuncts of `schema`: its own keywords, then its $ref's, then each allOf member's."""
        if schema is True or schema == {}:
            return []
        if not isinstance(schema, dict):
            return [_View(loc, false=True)] if schema is False else [_View(loc, problem="not a schema")]
        ref = schema.get("$ref")
        legacy = self.legacy[loc.side] and isinstance(ref, str)
        own = _View(loc, {k: (v, loc.child(k)) for k, v in schema.items() if k not in ("$ref", "allOf")
                          and k not in _ANNOTATIONS and not k.startswith("x-")})
        if isinstance(schema.get("allOf"), list) and not legacy:
            members = [(m, loc.child("allOf", i)) for i, m in enumerate(schema["allOf"])]
        else:
            members = []
            if "allOf" in schema and not legacy:
                own.kws["allOf"] = (schema["allOf"], loc.child("allOf"))
        out = [own] if own.kws and not legacy else []
        if isinstance(ref, str):
            found = self._follow(ref, loc.child("$ref"))
            if isinstance(found, str):
                out.append(_View(loc, problem=found))
            elif found[1] not in chain:  # a conjunct already in the chain adds nothing
                members.insert(0, found)
        for member, where in members:
            out += self._parts(member, where, chain | {where})
        return out

    def _views(self, schema: Any, loc: _Loc) -> list[_View]:
        """The conjuncts merged into one view where that keeps the meaning (an empty view accepts all)."""
        parts = self._parts(schema, loc, frozenset({loc}))
        if any(p.false for p in parts):
            return [_View(loc, false=True)]
        if len(parts) <= 1:
            return parts or [_View(loc)]
        merged = _View(loc)
        for part in parts:
            for kw, (value, where) in part.kws.items():
                if kw in merged.kws and _canon(merged.kws[kw][0]) != _canon(value):
                    return parts
                merged.kws[kw] = (value, where)
            merged.problem = merged.problem or part.problem
        if any(kw.startswith("unevaluated") for kw in merged.kws) or any(
                sum(1 for p in parts if group & p.kws.keys()) > 1 for group in _GROUPS):
            return parts
        return [merged]

    # comparing ----------------------------------------------------------------------------

    def compare(self, o_loc: _Loc, n_loc: _Loc, old: Any, new: Any, path: str) -> list[SchemaChange]:
        key = (o_loc, n_loc)
        if key in self.stack:
            return []
        self.stack.add(key)
        try:
            o_views, n_views = self._views(old, o_loc), self._views(new, n_loc)
            if len(o_views) != len(n_views):  # conjuncts compared one by one, unmerged: sound, if coarse
                o_views, n_views = self._parts(old, o_loc, frozenset({o_loc})), self._parts(new, n_loc,
                                                                                           frozenset({n_loc}))
            if len(o_views) == len(n_views):
                return [c for ov, nv in zip(o_views, n_views, strict=True) for c in self._compare_views(ov, nv, path)]
            if self.equal(o_loc, n_loc, old, new):
                return []
            at = n_loc if _exists(n_loc) else o_loc
            return [_change(path, at, "uncertain", "allOf/$ref composition changed: cannot tell", None, None)]
        finally:
            self.stack.discard(key)

    def equal(self, o_loc: _Loc, n_loc: _Loc, old: Any, new: Any) -> bool:
        """Structurally equal, refs followed (what an opaque keyword needs to count as unchanged)."""
        if _canon(old) == _canon(new) and o_loc.file == n_loc.file and "$ref" not in json.dumps(old):
            return True
        o_views, n_views = self._views(old, o_loc), self._views(new, n_loc)
        return len(o_views) == len(n_views) and not self.compare(o_loc, n_loc, old, new, "$")

    def _sub(self, ov: _View, nv: _View, kw: str, *tokens: str | int) -> tuple[Any, _Loc, Any, _Loc]:
        """A subschema under keyword `kw` (then `tokens`) on both sides; absent is `true` (accepts all)."""
        def one(view: _View) -> tuple[Any, _Loc]:
            value, where = view.kws.get(kw, (None, view.at.child(kw)))
            for token in tokens:
                value = value.get(token) if isinstance(value, dict) else None
                where = where.child(token)
            return (True if value is None else value), where
        (o, o_at), (n, n_at) = one(ov), one(nv)
        return o, o_at, n, n_at

    def _compare_views(self, ov: _View, nv: _View, path: str) -> list[SchemaChange]:
        if ov.false or nv.false:
            if ov.false and nv.false:
                return []
            if nv.false:
                return [_change(path, nv.at, "type_narrowed", "schema is now false: accepts nothing", False, True)]
            return [_change(path, ov.at, "type_widened", "schema was false: accepted nothing", True, False)]
        if not ov.kws and not nv.kws and not ov.problem and not nv.problem:
            return []
        if ov.problem or nv.problem:
            return [_change(path, nv.at if nv.problem else ov.at, "uncertain", nv.problem or ov.problem, None, None)]
        changes = _types(ov, nv, path) + _values(ov, nv, path)
        fam_o, fam_n = _families(ov), _families(nv)
        by_family: dict[str, list[SchemaChange]] = {}
        for family, rule in (("number", _numbers), ("string", _strings), ("array", self._arrays),
                             ("object", self._objects)):
            if family in fam_o or family in fam_n:
                by_family[family] = [replace(c, backward=True if family not in fam_o else c.backward,
                                             forward=True if family not in fam_n else c.forward)
                                     for c in rule(ov, nv, path)]
        changes += [c for group in by_family.values() for c in group]
        for kw in dict.fromkeys([*ov.kws, *nv.kws]):
            if kw not in _FAMILY_OF and kw not in ("type", "enum", "const"):
                changes += self._opaque(ov, nv, kw, path)
        return changes

    def _opaque(self, ov: _View, nv: _View, kw: str, path: str) -> list[SchemaChange]:
        """A keyword the diff cannot reason about: unchanged when equal, else `uncertain`."""
        if kw not in ov.kws and kw not in nv.kws:
            return []
        o, o_at, n, n_at = self._sub(ov, nv, kw)
        if kw in ov.kws and kw in nv.kws:
            if self._same(kw, o, o_at, n, n_at):
                return []
            return [_change(path, n_at, "uncertain", f"{kw} changed: cannot tell", None, None)]
        if kw in nv.kws:
            return [_change(path, n_at, "uncertain", f"{kw} added: cannot tell", None, True)]
        return [_change(path, o_at, "uncertain", f"{kw} removed: cannot tell", True, None)]

    def _same(self, kw: str, old: Any, o_at: _Loc, new: Any, n_at: _Loc) -> bool:
        """Structurally equal values of `kw`: subschemas compared with their refs followed."""
        if kw in _SCHEMA_LISTS and isinstance(old, list) and isinstance(new, list):
            return len(old) == len(new) and all(self.equal(o_at.child(i), n_at.child(i), o, n)
                                                for i, (o, n) in enumerate(zip(old, new, strict=True)))
        if kw in _SCHEMA_MAPS and isinstance(old, dict) and isinstance(new, dict):
            return old.keys() == new.keys() and all(
                sorted(map(_canon, old[k])) == sorted(map(_canon, new[k])) if isinstance(old[k], list)
                and isinstance(new[k], list) else self.equal(o_at.child(k), n_at.child(k), old[k], new[k])
                for k in old)
        if kw in _SCHEMAS:
            return self.equal(o_at, n_at, old, new)
        return _canon(old) == _canon(new)

    def _arrays(self, ov: _View, nv: _View, path: str) -> list[SchemaChange]:
        changes: list[SchemaChange] = []
        tuple_form = any(isinstance(v.get("items"), list) for v in (ov, nv))
        for kw in ("prefixItems", "additionalItems", *(("items",) if tuple_form else ())):
            for c in self._opaque(ov, nv, kw, path):
                changes.append(replace(c, kind="items_changed"))
        if not tuple_form:
            o, o_at, n, n_at = self._sub(ov, nv, "items")
            changes += self.compare(o_at, n_at, o, n, path + "[*]")
        o_unique, n_unique = bool(ov.get("uniqueItems")), bool(nv.get("uniqueItems"))
        if o_unique != n_unique:
            at = nv.kws["uniqueItems"][1] if "uniqueItems" in nv.kws else ov.kws["uniqueItems"][1]
            changes.append(_change(path, at, "items_changed", f"uniqueItems {o_unique} -> {n_unique}".lower(),
                                   not n_unique, not o_unique))
        changes += _bound(ov, nv, path, "minItems", None, lower=True)
        changes += _bound(ov, nv, path, "maxItems", None, lower=False)
        for kw in ("contains", "minContains", "maxContains", "unevaluatedItems"):
            changes += self._opaque(ov, nv, kw, path)
        return changes

    def _objects(self, ov: _View, nv: _View, path: str) -> list[SchemaChange]:
        changes: list[SchemaChange] = []
        o_props, n_props = _mapping(ov, "properties"), _mapping(nv, "properties")
        for key in dict.fromkeys([*o_props, *n_props]):
            where = _step(path, key)
            o, o_at, n, n_at = self._sub(ov, nv, "properties", key)
            if key in o_props and key in n_props:
                changes += self.compare(o_at, n_at, o, n, where)
            elif key in n_props:
                before = self._other(ov, key)
                back, fwd = self._verdict(before, _Allowed(n, n_at, "property"))
                changes.append(_change(where, n_at, "property_added", f"new key ({_WAS[before.how]})", back, fwd))
            else:
                now = self._other(nv, key)
                back, fwd = self._verdict(_Allowed(o, o_at, "property"), now)
                changes.append(_change(where, o_at, "property_removed", f"key removed ({_NOW[now.how]})", back, fwd))
        changes += _required(ov, nv, path)
        o_add, n_add = self._additional(ov), self._additional(nv)
        if {o_add.how, n_add.how} & {"closed", "open"}:
            back, fwd = self._verdict(o_add, n_add)
            if (back, fwd) != (True, True):
                kind = "additional_closed" if back is False else "additional_opened" if fwd is False else "uncertain"
                at = n_add.at if _ADDITIONAL & nv.kws.keys() else o_add.at
                changes.append(_change(path + ".*", at, kind, f"other keys: {o_add.how} -> {n_add.how}", back, fwd))
        elif "uncertain" in (o_add.how, n_add.how):
            if not self.equal(o_add.at, n_add.at, o_add.schema, n_add.schema):
                changes.append(_change(path + ".*", n_add.at, "uncertain",
                                       "unevaluatedProperties changed: cannot tell", None, None))
        else:
            changes += self.compare(o_add.at, n_add.at, o_add.schema, n_add.schema, path + ".*")
        o_pat, n_pat = _mapping(ov, "patternProperties"), _mapping(nv, "patternProperties")
        for pattern in dict.fromkeys([*o_pat, *n_pat]):
            o, o_at, n, n_at = self._sub(ov, nv, "patternProperties", pattern)
            if pattern in o_pat and pattern in n_pat:
                changes += self.compare(o_at, n_at, o, n, path + ".*")
            else:
                verb = "added" if pattern in n_pat else "removed"
                changes.append(_change(path + ".*", n_at if pattern in n_pat else o_at, "uncertain",
                                       f"patternProperties {pattern!r} {verb}: cannot tell", None, None))
        changes += _bound(ov, nv, path, "minProperties", None, lower=True)
        changes += _bound(ov, nv, path, "maxProperties", None, lower=False)
        for kw in ("propertyNames", "dependentRequired", "dependentSchemas", "dependencies"):
            changes += self._opaque(ov, nv, kw, path)
        if any(_ADDITIONAL <= v.kws.keys() for v in (ov, nv)):
            changes += self._opaque(ov, nv, "unevaluatedProperties", path)  # where it does not stand in
        return changes

    def _additional(self, view: _View) -> _Allowed:
        """What `view` allows under keys `properties` does not name: closed, open, a schema, or uncertain."""
        kw = "additionalProperties"
        if kw not in view.kws and "unevaluatedProperties" in view.kws:
            kw = "unevaluatedProperties"
            if view.kws.keys() & {"anyOf", "oneOf", "if", "dependentSchemas", "dependencies", "allOf"}:
                return _Allowed(*view.kws[kw], "uncertain")  # something else may evaluate keys
        value, at = view.kws.get(kw, (True, view.at.child("additionalProperties")))
        views = self._views(value, at)
        if len(views) == 1 and views[0].false:
            return _Allowed(value, at, "closed")
        if len(views) == 1 and not views[0].kws and not views[0].problem:
            return _Allowed(value, at, "open")
        return _Allowed(value, at, "schema")

    def _other(self, view: _View, key: str) -> _Allowed:
        """What `view` allows under `key` when its `properties` does not name it."""
        patterns = _mapping(view, "patternProperties")
        matching = []
        for pattern in patterns:
            try:
                if re.search(pattern, key):
                    matching.append(pattern)
            except re.error:
                return _Allowed(True, view.at, "uncertain")
        if len(matching) > 1:
            return _Allowed(True, view.at, "uncertain")
        if matching:
            return _Allowed(patterns[matching[0]], view.kws["patternProperties"][1].child(matching[0]), "pattern")
        return self._additional(view)

    def _verdict(self, old: _Allowed, new: _Allowed) -> tuple[bool | None, bool | None]:
        if "uncertain" in (old.how, new.how):
            return None, None
        changes = self.compare(old.at, new.at, old.schema, new.schema, "$")
        return _fold(c.backward for c in changes), _fold(c.forward for c in changes)


@dataclass(frozen=True)
class _Allowed:
    """The schema for some keys of an object, and how it came about."""

    schema: Any
    at: _Loc
    how: str  # closed | open | schema | pattern | property | uncertain


_ADDITIONAL = frozenset({"additionalProperties", "unevaluatedProperties"})
_WAS = {"closed": "the old object was closed", "open": "the old object allowed any value here",
        "schema": "was under additionalProperties", "pattern": "was under patternProperties",
        "uncertain": "cannot tell what the old object allowed"}
_NOW = {"closed": "the new object is closed", "open": "the new object allows any value here",
        "schema": "now under additionalProperties", "pattern": "now under patternProperties",
        "uncertain": "cannot tell what the new object allows"}


def _mapping(view: _View, kw: str) -> dict[str, Any]:
    value = view.get(kw)
    return value if isinstance(value, dict) else {}


def _change(path: str, at: _Loc, kind: str, detail: str, back: bool | None, fwd: bool | None) -> SchemaChange:
    return SchemaChange(path, at.pointer, at.side, kind, detail, back, fwd, at.file)


_MISSING = object()


def _walk(root: Any, pointer: str) -> Any:
    """The value at a JSON Pointer in `root`, or _MISSING."""
    node = root
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
    return node


def _exists(loc: _Loc) -> bool:
    """Whether `loc` names a place in its document (an absent keyword's place does not)."""
    return _walk(loc.root, loc.pointer) is not _MISSING


def _anchor(root: Any, name: str) -> str | None:
    """The JSON Pointer of `$anchor: name` (or draft 7's `$id: "#name"`) in `root`."""
    stack: list[tuple[Any, str]] = [(root, "")]
    while stack:
        node, pointer = stack.pop()
        if isinstance(node, dict):
            if node.get("$anchor") == name or node.get("$id") == "#" + name:
                return pointer
            stack.extend((v, f"{pointer}/{_escape(k)}") for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{pointer}/{i}") for i, v in enumerate(node))
    return None


# -- keyword rules ------------------------------------------------------------------------------


def _declared_types(view: _View) -> frozenset[str] | None:
    value = view.get("type")
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, list):
        return frozenset(str(t) for t in value)
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if _is_number(value):
        return "number"
    return "object" if isinstance(value, dict) else "array" if isinstance(value, list) else "string"


def _families(view: _View) -> frozenset[str]:
    """The value types `view` can accept at all (`integer` counts as `number`)."""
    if view.false:
        return frozenset()
    types = _declared_types(view)
    found = _ALL_TYPES if types is None else frozenset("number" if t == "integer" else t for t in types)
    allowed = _allowed_values(view)
    if allowed is not None:
        found &= frozenset(_json_type(json.loads(v)) for v in allowed)
    return found


def _covers(types: frozenset[str] | None, other: frozenset[str] | None) -> bool:
    """Every type in `other` is a type in `types` (None: every type)."""
    if types is None:
        return True
    wanted = _ALL_TYPES if other is None else other
    return all(t in types or (t == "integer" and "number" in types) for t in wanted)


def _types(ov: _View, nv: _View, path: str) -> list[SchemaChange]:
    o, n = _declared_types(ov), _declared_types(nv)
    back, fwd = _covers(n, o), _covers(o, n)
    if back and fwd:
        return []
    at = nv.kws["type"][1] if "type" in nv.kws else ov.kws["type"][1]
    kind = "type_widened" if back else "type_narrowed" if fwd else "type_changed"

    def show(types: frozenset[str] | None) -> str:
        return "any" if types is None else "|".join(sorted(types))
    return [_change(path, at, kind, f"type {show(o)} -> {show(n)}", back, fwd)]


def _allowed_values(view: _View) -> frozenset[str] | None:
    """The canonical values `enum` and `const` allow (None: any value)."""
    allowed: frozenset[str] | None = None
    if isinstance(view.get("enum"), list):
        allowed = frozenset(_canon(v) for v in view.get("enum"))
    if "const" in view.kws:
        const = frozenset({_canon(view.get("const"))})
        allowed = const if allowed is None else allowed & const
    return allowed


def _values(ov: _View, nv: _View, path: str) -> list[SchemaChange]:
    o, n = _allowed_values(ov), _allowed_values(nv)
    if o == n:
        return []
    back = n is None or (o is not None and o <= n)
    fwd = o is None or (n is not None and n <= o)
    kind = "enum_widened" if back else "enum_narrowed" if fwd else "enum_changed"
    at = next((nv.kws[k][1] for k in ("enum", "const") if k in nv.kws), None) or next(
        ov.kws[k][1] for k in ("enum", "const") if k in ov.kws)

    def show(values: Iterable[str]) -> str:
        return ", ".join(_show(json.loads(v), 30) for v in sorted(values))
    if o is None:
        detail = f"enum added: [{show(n or ())}]"
    elif n is None:
        detail = f"enum removed (was [{show(o)}])"
    elif "const" in ov.kws and "const" in nv.kws:
        detail = f"const {show(o)} -> {show(n)}"
    else:
        detail = "enum: " + ", ".join(part for part in (f"+ {show(n - o)}" if n - o else "",
                                                          f"- {show(o - n)}" if o - n else "") if part)
    return [_change(path, at, kind, detail[:160], back, fwd)]


def _bound(ov: _View, nv: _View, path: str, kw: str, exclusive: str | None, *, lower: bool) -> list[SchemaChange]:
    """One lower or upper bound: `kw` (inclusive) and its `exclusive` form (a number, or draft 4's boolean)."""
    def read(view: _View) -> tuple[float, bool, str, _Loc] | None:
        found: list[tuple[float, bool, str, _Loc]] = []
        if _is_number(view.get(kw)):
            flag = exclusive is not None and view.get(exclusive) is True
            found.append((view.get(kw), flag, exclusive if flag and exclusive else kw, view.kws[kw][1]))
        if exclusive and _is_number(view.get(exclusive)):
            found.append((view.get(exclusive), True, exclusive, view.kws[exclusive][1]))
        if not found:
            return None
        return (max if lower else min)(found, key=lambda b: (b[0], b[1] if lower else not b[1]))
    o, n = read(ov), read(nv)
    if o is None and n is None or (o is not None and n is not None and o[:2] == n[:2]):
        return []
    if o is None or n is None:
        tighter = o is None
    else:
        tighter = (n[0], n[1]) > (o[0], o[1]) if lower else (n[0], not n[1]) < (o[0], not o[1])
    if o is not None and n is not None:
        detail = f"{o[2]} {o[0]} -> {n[0]}" if o[2] == n[2] else f"{o[2]} {o[0]} -> {n[2]} {n[0]}"
        at = n[3]
    elif n is not None:
        detail, at = f"{n[2]} added: {n[0]}", n[3]
    elif o is not None:
        detail, at = f"{o[2]} removed (was {o[0]})", o[3]
    return [_change(path, at, "bound_tightened" if tighter else "bound_relaxed", detail, not tighter, tighter)]


def _numbers(ov: _View, nv: _View, path: str) -> list[SchemaChange]:
    changes = (_bound(ov, nv, path, "minimum", "exclusiveMinimum", lower=True)
               + _bound(ov, nv, path, "maximum", "exclusiveMaximum", lower=False))
    o, n = ov.get("multipleOf"), nv.get("multipleOf")
    if _canon(o) == _canon(n):
        return changes
    at = nv.kws["multipleOf"][1] if "multipleOf" in nv.kws else ov.kws["multipleOf"][1]
    if o is None or n is None or (isinstance(o, int) and isinstance(n, int) and o and n and (n % o == 0 or o % n == 0)):
        tighter = o is None or (n is not None and n % o == 0)
        detail = f"multipleOf {'none' if o is None else o} -> {'none' if n is None else n}"
        changes.append(_change(path, at, "bound_tightened" if tighter else "bound_relaxed", detail,
                               not tighter, tighter))
    else:
        changes.append(_change(path, at, "uncertain", f"multipleOf {o} -> {n}: cannot tell", None, None))
    return changes


def _strings(ov: _View, nv: _View, path: str) -> list[SchemaChange]:
    changes = _bound(ov, nv, path, "minLength", None, lower=True) + _bound(ov, nv, path, "maxLength", None,
                                                                            lower=False)
    for kw in ("pattern", "format"):
        o, n = ov.get(kw), nv.get(kw)
        if _canon(o) == _canon(n):
            continue
        if o is not None and n is not None:
            changes.append(_change(path, nv.kws[kw][1], "uncertain", f"{kw} changed: cannot tell", None, None))
        elif n is not None:
            changes.append(_change(path, nv.kws[kw][1], "uncertain", f"{kw} added: cannot tell", None, True))
        else:
            changes.append(_change(path, ov.kws[kw][1], "uncertain", f"{kw} removed: cannot tell", True, None))
    return changes


def _required(ov: _View, nv: _View, path: str) -> list[SchemaChange]:
    o = [r for r in ov.get("required") or [] if isinstance(r, str)] if isinstance(ov.get("required"), list) else []
    n = [r for r in nv.get("required") or [] if isinstance(r, str)] if isinstance(nv.get("required"), list) else []
    changes = [_change(_step(path, name), nv.kws["required"][1].child(i), "required_added", f"required: + {name}",
                       False, True) for i, name in enumerate(n) if name not in o]
    changes += [_change(_step(path, name), ov.kws["required"][1].child(i), "required_removed",
                        f"required: - {name}", True, False) for i, name in enumerate(o) if name not in n]
    return changes


# -- two versions of a schema in the config repo ----------------------------------------------------


@dataclass(frozen=True)
class SchemaDiff:
    """`schemas/<schema>/<old>.json` against `<new>.json`: the changes and the verdicts."""

    schema: str
    old: str
    new: str
    old_file: str  # repo paths
    new_file: str
    declared_mode: str  # the new version's x-hotswap-compatibility, else the default
    changes: tuple[SchemaChange, ...]

    @property
    def compatible(self) -> dict[str, bool | None]:
        return compatibility(self.changes)

    @property
    def verdict(self) -> bool | None:
        """Compatible in the declared mode (None: no change breaks it, some cannot be told)."""
        return True if self.declared_mode == "none" else self.compatible[self.declared_mode]

    def file_of(self, change: SchemaChange) -> str:
        """The repo file `change.pointer` points into."""
        schema_file = self.new_file if change.side == "new" else self.old_file
        if not change.file:
            return schema_file
        return posixpath.normpath(posixpath.join(posixpath.dirname(schema_file), change.file))

    def to_dict(self) -> dict[str, Any]:
        return {"schema": self.schema, "old": self.old, "new": self.new, "declared_mode": self.declared_mode,
                "changes": [c.to_dict() for c in self.changes], "compatible": self.compatible}


def schema_versions(repo: ConfigRepo, schema_id: str) -> list[str]:
    """The versions of a schema id in the repo, oldest first (`1.0`, `1.10`, `2.0`)."""
    stems = {name.rsplit(".", 1)[0] for name in repo.listdir(f"schemas/{schema_id}")
             if name.endswith((".json", ".yaml", ".yml"))}
    return sorted(stems, key=lambda v: [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in v.split(".")])


def diff_schema_versions(repo: ConfigRepo, schema_id: str, old: str, new: str, *,
                         default_mode: str = "backward") -> SchemaDiff:
    """Diff two versions of a schema; a `$ref` to another file is read through the repo (its jail).
    ConfigError when a version is missing (naming the versions there are) or a ref leaves the repo."""
    from hotswap_cli.core.config.source import inside
    from hotswap_cli.model import SchemaRef

    files, roots = {}, {}
    for side, version in (("old", old), ("new", new)):
        ref = SchemaRef(schema_id, version)
        if repo.schema_file(ref) is None:
            known = schema_versions(repo, schema_id)
            there = (f"versions of {schema_id}: {', '.join(known)}" if known else
                     f"no schema {schema_id!r}; schemas: {', '.join(sorted(repo.listdir('schemas'))) or 'none'}")
            raise ConfigError(f"schemas/{schema_id}/{version}.json not found ({there})")
        _, files[side] = repo.load_schema(ref)  # refuses refs that leave the repo, reads every file they name
        doc = repo.document(files[side])
        roots[side] = doc.data if doc is not None else None

    def resolve(file: str, side: str) -> Any:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(files[side]), file))
        doc = repo.document(inside(target))
        return doc.data if doc is not None else None

    changes = diff_schemas(roots["old"], roots["new"], resolve=resolve)
    return SchemaDiff(schema_id, old, new, files["old"], files["new"], declared_mode(roots["new"], default_mode),
                      tuple(changes))


def change_location(repo: ConfigRepo, diff: SchemaDiff, change: SchemaChange) -> Location:
    """file:line:col of a change (of the nearest enclosing value the file's text places)."""
    file = diff.file_of(change)
    doc = repo.document(file)
    if doc is None:
        return Location(file)
    path: list[str | int] = []
    node = doc.data
    for token in change.pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and token.isdigit():
            path.append(int(token))
            node = node[int(token)] if int(token) < len(node) else None
        else:
            path.append(token)
            node = node.get(token) if isinstance(node, dict) else None
    for cut in range(len(path), -1, -1):
        loc = doc.locations.get(tuple(path[:cut]))
        if loc:
            return loc
    return Location(file)
