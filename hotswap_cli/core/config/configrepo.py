"""The config repository: find it, read hotswap.yaml, profiles, templates and schemas."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
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
    Issue,
    Location,
    SchemaRef,
    format_path,
)

SETTINGS_FILE = "hotswap.yaml"
DATA_EXTENSIONS = (".yaml", ".yml", ".json")
_NAME_RE = re.compile(PROFILE_NAME_PATTERN)
_DATA_DIR = DATA_DIR


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
    envs_raw = data.get("environments") or {}
    environments = {}
    for env in ENVIRONMENTS:
        raw = envs_raw.get(env) or {}
        max_age = raw.get("max_age")
        environments[env] = EnvironmentPolicy(
            name=env,
            approvals=int(raw.get("approvals", DEFAULT_QUORUM[env])),
            roles=_approval_roles(raw.get("roles")),
            max_age=parse_duration(max_age) if max_age is not None else None,
            strategy=str(raw.get("strategy", DEFAULT_STRATEGY[env])),
            require_signed_commits=bool(raw.get("require_signed_commits", False)),
            **_breaking(raw.get("breaking")),
            **_promotion(raw),
        )
    return Settings(
        environments=environments,
        defaults=data.get("defaults") or {},
        approvers_file=str(data.get("approvers", "approvers")),
        allow_env=tuple(str(n) for n in data.get("allow_env") or ()),
        name=str(data.get("name", "")),
        ledger_push=str((data.get("ledger") or {}).get("push", "required")),
        schema_compatibility=str((data.get("schemas") or {}).get("compatibility", "backward")),
    )


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
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DocumentError(Location(relpath), "not UTF-8 text") from None
        doc = parse_document(text, relpath)
        self._documents[relpath] = doc
        return doc

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
