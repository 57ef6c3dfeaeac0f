"""The config repository: find it, read hotswap.yaml, profiles, templates and schemas."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

from hotswap_cli import DATA_DIR
from hotswap_cli.core.config.schemaref import bundle_refs
from hotswap_cli.core.config.source import DirSource, Source
from hotswap_cli.core.config.yamlsrc import Document, DocumentError, parse_document
from hotswap_cli.durations import parse_duration
from hotswap_cli.errors import ConfigError
from hotswap_cli.model import (
    DEFAULT_QUORUM,
    DEFAULT_STRATEGY,
    ENVIRONMENTS,
    PROFILE_NAME_PATTERN,
    STRATEGIES,
    HealthPolicy,
    Issue,
    Location,
    SchemaRef,
    format_path,
)

SETTINGS_FILE = "hotswap.yaml"
DATA_EXTENSIONS = (".yaml", ".yml", ".json")
_NAME_RE = re.compile(PROFILE_NAME_PATTERN)
_DATA_DIR = DATA_DIR
CUSTOM_QUORUM = 1  # approvals for an environment the seed does not know, unless hotswap.yaml says
CUSTOM_STRATEGY = "canary"  # and its default strategy: the careful one
_HEALTH_KEYS = frozenset(f.name for f in fields(HealthPolicy))


def find_root(start: Path) -> Path:
    """The nearest directory at or above `start` that holds hotswap.yaml."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if (directory / SETTINGS_FILE).is_file():
            return directory
    raise ConfigError(
        f"no {SETTINGS_FILE} found in {start} or any parent directory",
        hint="run inside a config repo, pass --repo PATH, or create one with `hotswap init`",
    )


def load_meta_schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped with hotswap (profile.yaml, hotswap.yaml)."""
    return json.loads((_DATA_DIR / name).read_text())  # type: ignore[no-any-return]


@dataclass(frozen=True)
class EnvironmentPolicy:
    name: str
    approvals: int
    roles: tuple[str, ...] = ()
    max_age: float | None = None  # seconds
    strategy: str = "direct"
    require_signed_commits: bool = False
    breaking_approvals: int = 0  # `breaking: {approvals: +1}`: extra approvals a breaking version needs
    breaking_roles: tuple[str, ...] = ()  # `breaking: {roles: [schema-owner]}`: whose approvals count for them
    order: int = 0  # its place in hotswap.yaml's list: the promotion order
    freeze: tuple[str, ...] = ()  # windows with no deploys, e.g. "Fri 16:00-Mon 08:00 Europe/Berlin"
    freeze_override: int = 1  # extra approvals that let a deploy through a freeze window
    requires: str | None = None  # `requires: {environment: Staging}`: where a change must have run first
    healthy_for: float = 0.0  # `requires: {healthy_for: 1h}`: and for how long, healthy and not reverted
    requires_override: int = 1  # extra approvals for an emergency deploy without that evidence
    bake: float | None = None  # `bake: 10m`: this environment's bake, under the profile's own
    health: dict[str, Any] = field(default_factory=dict, hash=False)  # `health:` keys, under the profile's
    min_bake: float = 0.0  # the least bake a command-line override may set here (production: 30s)
    min_interval: float = 0.0  # the least sampling interval one may set here (production: 1s)
    production: bool = False  # see _production: `production: true`, else Production, else the last one


@dataclass(frozen=True)
class Settings:
    """hotswap.yaml."""

    environments: dict[str, EnvironmentPolicy]
    defaults: dict[str, Any] = field(default_factory=dict)
    approvers_file: str = "approvers"
    allow_env: tuple[str, ...] = ()  # environment variables header values may use (read on the trusted ref)
    name: str = ""
    ledger_push: str = "required"  # required: a record that cannot reach origin is exit 8; warn: a warning
    schema_compatibility: str = "backward"  # a schema's mode when it declares none (`schemas: {compatibility: }`)


def _approval_roles(value: Any) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, list) else ()


def settings_from(data: dict[str, Any]) -> Settings:
    """hotswap.yaml's mapping as Settings, the spec's defaults where it is silent ({}: all defaults)."""
    entries = _environment_entries(data.get("environments"))
    listed = dict(entries)
    if all(name in ENVIRONMENTS for name in listed):  # the seed's three (listed or not), in the seed's order
        entries = [(env, listed.get(env, {})) for env in ENVIRONMENTS]
    production = _production(entries)
    environments = {name: _environment(name, raw, order, name in production)
                    for order, (name, raw) in enumerate(entries)}
    for policy in environments.values():
        if policy.requires is not None and policy.requires not in environments:
            raise ConfigError(f"{SETTINGS_FILE}: environments.{policy.name}.requires: {policy.requires!r} is not "
                              f"one of the environments: {', '.join(environments)}")
    return Settings(
        environments=environments,
        defaults=data.get("defaults") or {},
        approvers_file=str(data.get("approvers", "approvers")),
        allow_env=tuple(str(n) for n in data.get("allow_env") or ()),
        name=str(data.get("name", "")),
        ledger_push=str((data.get("ledger") or {}).get("push", "required")),
        schema_compatibility=str((data.get("schemas") or {}).get("compatibility", "backward")),
    )


def _environment_entries(raw: Any) -> list[tuple[str, dict[str, Any]]]:
    """`environments:` as (name, policy) in promotion order: a mapping (in the order written) or a
    list of `{name: qa, approvals: 1}` entries (a bare name: all defaults)."""
    if not raw:
        return []
    if isinstance(raw, dict):
        entries = [(str(name), policy) for name, policy in raw.items()]
    elif isinstance(raw, list):
        entries = []
        for item in raw:
            if isinstance(item, str):
                entries.append((item, {}))
            elif isinstance(item, dict) and item.get("name"):
                entries.append((str(item["name"]), {k: v for k, v in item.items() if k != "name"}))
            else:
                raise ConfigError(f"{SETTINGS_FILE}: environments: {item!r} has no name",
                                  hint="list entries look like `- {name: qa, approvals: 1}`")
    else:
        raise ConfigError(f"{SETTINGS_FILE}: environments: a mapping or a list, in promotion order",
                          hint="e.g. `environments: [{name: qa, approvals: 1}, {name: prod, approvals: 2}]`")
    seen: set[str] = set()
    for name, policy in entries:
        if name in seen:
            raise ConfigError(f"{SETTINGS_FILE}: environments: {name!r} is listed twice")
        seen.add(name)
        if policy is not None and not isinstance(policy, dict):
            raise ConfigError(f"{SETTINGS_FILE}: environments.{name}: a mapping of its policy, not {policy!r}")
    return [(name, policy or {}) for name, policy in entries]


def _production(entries: list[tuple[str, dict[str, Any]]]) -> set[str]:
    """Which environments are production: those that say `production: true`; when none does, the
    one named Production; when there is none, the last in the promotion order. `production: false`
    opts the latter two out."""
    for name, raw in entries:
        if not isinstance(raw.get("production", False), bool):
            raise ConfigError(f"{SETTINGS_FILE}: environments.{name}.production: true or false, "
                              f"not {raw['production']!r}")
    flagged = {name for name, raw in entries if raw.get("production") is True}
    if flagged:
        return flagged
    names = [name for name, _ in entries]
    chosen = "Production" if "Production" in names else (names[-1] if names else None)
    if chosen is None or dict(entries)[chosen].get("production") is False:
        return set()
    return {chosen}


def _environment(name: str, raw: dict[str, Any], order: int, production: bool) -> EnvironmentPolicy:
    """One environment's policy; a name the seed does not know gets approvals 1 and canary."""
    where = f"{SETTINGS_FILE}: environments.{name}"
    strategy = str(raw.get("strategy", DEFAULT_STRATEGY.get(name, CUSTOM_STRATEGY)))
    if strategy not in STRATEGIES:
        raise ConfigError(f"{where}.strategy: {strategy!r} is not one of {', '.join(STRATEGIES)}")
    health = raw.get("health") or {}
    unknown = sorted(set(health) - _HEALTH_KEYS) if isinstance(health, dict) else []
    if not isinstance(health, dict) or unknown:
        raise ConfigError(f"{where}.health: " + (f"unknown key {unknown[0]!r}" if unknown else "a mapping"),
                          hint="the keys of a profile's `health:`; see docs/deploy.md, the health gate")
    try:
        return EnvironmentPolicy(
            name=name,
            approvals=int(raw.get("approvals", DEFAULT_QUORUM.get(name, CUSTOM_QUORUM))),
            roles=_approval_roles(raw.get("roles")),
            max_age=_seconds(raw.get("max_age")),
            strategy=strategy,
            require_signed_commits=bool(raw.get("require_signed_commits", False)),
            **_breaking(raw.get("breaking")),
            **_promotion(raw),
            order=order,
            bake=_seconds(raw.get("bake")),
            health=dict(health),
            min_bake=_at_least(raw.get("min_bake"), 30.0 if production else 0.0),
            min_interval=_at_least(raw.get("min_interval"), 1.0 if production else 0.0),
            production=production,
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _seconds(value: Any) -> float | None:
    return parse_duration(value) if value is not None else None


def _at_least(value: Any, default: float) -> float:
    return parse_duration(value) if value is not None else default


def _promotion(raw: dict[str, Any]) -> dict[str, Any]:
    """`freeze:` windows and `requires: {environment, healthy_for, override_approvals}`."""
    out: dict[str, Any] = {}
    freeze = raw.get("freeze")
    if freeze:
        out["freeze"] = tuple(str(w) for w in (freeze if isinstance(freeze, list) else [freeze]))
    if raw.get("freeze_override_approvals") is not None:
        out["freeze_override"] = int(str(raw["freeze_override_approvals"]).lstrip("+"))
    requires = raw.get("requires")
    if isinstance(requires, dict) and requires.get("environment"):
        out["requires"] = str(requires["environment"])
        if requires.get("healthy_for") is not None:
            out["healthy_for"] = parse_duration(requires["healthy_for"])
        if requires.get("override_approvals") is not None:
            out["requires_override"] = int(str(requires["override_approvals"]).lstrip("+"))
    return out


def _breaking(raw: Any) -> dict[str, Any]:
    """`breaking: {approvals: +1, roles: [schema-owner]}` (approvals: extra ones; `+1` and `1` alike)."""
    if not isinstance(raw, dict):
        return {}
    extra = raw.get("approvals", 1 if raw.get("roles") else 0)
    try:
        count = int(str(extra).lstrip("+"))
    except ValueError:
        raise ConfigError(f"hotswap.yaml: breaking.approvals must be a number such as +1, not {extra!r}") from None
    return {"breaking_approvals": max(0, count), "breaking_roles": _approval_roles(raw.get("roles"))}


_PARSED: dict[tuple[str, bytes], Document] = {}  # (path, sha1 of its bytes) -> its parse, for this process
_PARSED_LIMIT = 512


def _parse_once(relpath: str, raw: bytes) -> Document:
    """A file's Document, parsed once per process for the same path and bytes: one command reads a
    profile at the version's commit, on the trusted ref and in the working tree, usually the same
    bytes (a 10,000-target profile.yaml takes seconds to parse). Documents are never changed by
    their readers. Raises DocumentError."""
    import hashlib

    key = (relpath, hashlib.sha1(raw, usedforsecurity=False).digest())
    doc = _PARSED.get(key)
    if doc is None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DocumentError(Location(relpath), "not UTF-8 text") from None
        doc = parse_document(text, relpath)
        if len(_PARSED) >= _PARSED_LIMIT:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[key] = doc
    return doc


class ConfigRepo:
    """One config repo, read through a Source (working tree or a git revision)."""

    def __init__(self, source: Source, *, root: Path | None = None) -> None:
        self.source = source
        self.root = root
        self._documents: dict[str, Document] = {}
        self._schemas: dict[str, tuple[dict[str, Any], str]] = {}

    @classmethod
    def open(cls, root: Path) -> ConfigRepo:
        return cls(DirSource(root), root=root)

    # -- files -------------------------------------------------------------------------------

    def document(self, relpath: str) -> Document | None:
        """Parse a repo file once; None when it does not exist. Raises DocumentError."""
        if relpath in self._documents:
            return self._documents[relpath]
        raw = self.source.read(relpath)
        if raw is None:
            return None
        doc = _parse_once(relpath, raw)
        self._documents[relpath] = doc
        return doc

    def parsed(self, prefix: str) -> dict[str, Document]:
        """The documents parsed so far whose paths start with `prefix`."""
        return {relpath: doc for relpath, doc in self._documents.items() if relpath.startswith(prefix)}

    def adopt(self, documents: dict[str, Document]) -> None:
        """Documents a worker process parsed from this repo's files (see validate); one read here wins."""
        for relpath, doc in documents.items():
            self._documents.setdefault(relpath, doc)

    def find_data_file(self, stem: str) -> str | None:
        """`templates/base` -> `templates/base.yaml` (or .yml/.json), whichever exists."""
        directory, _, name = stem.rpartition("/")
        names = self.listdir(directory)
        for ext in DATA_EXTENSIONS:
            if name + ext in names:
                return f"{directory}/{name}{ext}" if directory else name + ext
        return None

    def listdir(self, relpath: str) -> frozenset[str]:
        """Names in a repo folder, read once per ConfigRepo."""
        cache: dict[str, frozenset[str]] = self.__dict__.setdefault("_listings", {})
        if relpath not in cache:
            cache[relpath] = frozenset(self.source.listdir(relpath))
        return cache[relpath]

    # -- settings ----------------------------------------------------------------------------

    @cached_property
    def settings_document(self) -> Document:
        doc = self.document(SETTINGS_FILE)
        if doc is None:
            raise ConfigError(f"{SETTINGS_FILE} not found in the config repo ({self.source.label})")
        return doc

    @cached_property
    def settings(self) -> Settings:
        data = self.settings_document.data or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{SETTINGS_FILE}: must be a mapping")
        return settings_from(data)

    # -- profiles ----------------------------------------------------------------------------

    def profile_names(self) -> list[str]:
        return sorted(n for n in self.listdir("profiles") if "profile.yaml" in self.listdir(f"profiles/{n}"))

    # -- schemas -----------------------------------------------------------------------------

    def schema_file(self, ref: SchemaRef) -> str | None:
        return self.find_data_file(f"schemas/{ref.id}/{ref.version}")

    def _data_of(self, relpath: str) -> Any:
        doc = self.document(relpath)
        return doc.data if doc is not None else None

    def load_schema(self, ref: SchemaRef) -> tuple[dict[str, Any], str]:
        """The JSON Schema for `ref` (refs to other repo files embedded, any other refused: see
        schemaref) and its file; raises ConfigError when missing."""
        key = str(ref)
        if key not in self._schemas:
            path = self.schema_file(ref)
            doc = self.document(path) if path else None
            if doc is None or path is None:
                raise ConfigError(f"schema {ref} not found (expected schemas/{ref.id}/{ref.version}.json)")
            if not isinstance(doc.data, dict):
                raise ConfigError(f"{path}: a JSON Schema must be an object")
            self._schemas[key] = (bundle_refs(doc.data, path, self._data_of), path)
        return self._schemas[key]



def issue_at(doc: Document, path: tuple[str | int, ...], message: str) -> Issue:
    """An Issue located at the deepest known part of `path` in `doc`."""
    for cut in range(len(path), -1, -1):
        loc = doc.locations.get(path[:cut])
        if loc:
            return Issue(loc, format_path(path), message)
    return Issue(Location(doc.file), format_path(path), message)


def document_issue(exc: DocumentError) -> Issue:
    return Issue(exc.location, "$", exc.reason)
