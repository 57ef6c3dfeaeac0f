"""The config repository: find it, read hotswap.yaml, profiles, templates and schemas."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from hotswap_cli import DATA_DIR, specs
from hotswap_cli.core.config.source import DirSource, Source
from hotswap_cli.core.config.yamlsrc import Document, DocumentError, parse_document
from hotswap_cli.core.deploy.strategies import canary_steps
from hotswap_cli.durations import parse_duration
from hotswap_cli.errors import ConfigError
from hotswap_cli.model import (
    DEFAULT_QUORUM,
    DEFAULT_STRATEGY,
    ENVIRONMENTS,
    PROFILE_NAME_PATTERN,
    HealthPolicy,
    Issue,
    Location,
    Profile,
    SchemaRef,
    StrategySpec,
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


@dataclass(frozen=True)
class Settings:
    """hotswap.yaml."""

    environments: dict[str, EnvironmentPolicy]
    defaults: dict[str, Any] = field(default_factory=dict)
    approvers_file: str = "approvers"
    default_branch: str | None = None
    name: str = ""


@dataclass(frozen=True)
class ProfileSource:
    """A profile as read from disk: the parsed profile.yaml and config documents."""

    name: str
    meta: Document
    config: Document | None
    config_file: str


def _approval_roles(value: Any) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, list) else ()


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
            )
        return Settings(
            environments=environments,
            defaults=data.get("defaults") or {},
            approvers_file=str(data.get("approvers", "approvers")),
            default_branch=data.get("default_branch"),
            name=str(data.get("name", "")),
        )

    # -- profiles ----------------------------------------------------------------------------

    def profile_names(self) -> list[str]:
        return sorted(n for n in self.listdir("profiles") if "profile.yaml" in self.listdir(f"profiles/{n}"))

    def read_profile(self, name: str) -> ProfileSource:
        """Parse profiles/<name>/profile.yaml and its config file. Raises ConfigError."""
        if not _NAME_RE.match(name):
            raise ConfigError(f"invalid profile name {name!r}: use letters, digits, '.', '_' and '-'")
        meta = self.document(f"profiles/{name}/profile.yaml")
        if meta is None:
            known = ", ".join(self.profile_names()) or "none"
            raise ConfigError(f"profile {name!r} not found (profiles: {known})")
        config_file = self.find_data_file(f"profiles/{name}/config") or f"profiles/{name}/config.yaml"
        return ProfileSource(name, meta, self.document(config_file), config_file)

    def build_profile(self, src: ProfileSource) -> Profile:
        """Typed Profile from an already schema-checked profile.yaml, with defaults applied."""
        meta: dict[str, Any] = src.meta.data or {}
        env = meta["environment"]
        policy = self.settings.environments[env]
        defaults = self.settings.defaults
        sid, _, sver = str(meta["schema"]).partition("/")
        extends = meta.get("extends") or []
        strategy_raw = {**(defaults.get("strategy") or {}), **(meta.get("strategy") or {})}
        if strategy_raw.get("type", policy.strategy) == "direct" and "bake" not in (meta.get("strategy") or {}):
            strategy_raw["bake"] = 0  # spec: direct has no bake unless the profile asks for one
        health_raw = {**(defaults.get("health") or {}), **(meta.get("health") or {})}
        targets = tuple(specs.target(t["name"], t["transport"], t.get("health") or ())
                        for t in meta.get("targets") or [])
        return Profile(
            name=src.name,
            environment=env,
            service_type=meta.get("serviceType", "Microservice"),
            schema=SchemaRef(sid, sver),
            extends=tuple([extends] if isinstance(extends, str) else extends),
            strategy=strategy_spec(strategy_raw, policy.strategy),
            health=health_policy(health_raw),
            targets=targets,
            description=str(meta.get("description", "")),
            settings=dict(meta.get("settings") or {}),
            directory=f"profiles/{src.name}",
            config_file=src.config_file,
        )

    def load_profile(self, name: str) -> Profile:
        """Read and check profile.yaml; raises ValidationFailed listing its problems."""
        from hotswap_cli.core.config.validate import check_profile_meta

        src = self.read_profile(name)
        issues = check_profile_meta(self, src)
        if issues:
            from hotswap_cli.errors import ValidationFailed

            raise ValidationFailed(f"{issues[0]}" + (f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""))
        return self.build_profile(src)

    # -- schemas -----------------------------------------------------------------------------

    def schema_file(self, ref: SchemaRef) -> str | None:
        return self.find_data_file(f"schemas/{ref.id}/{ref.version}")

    def load_schema(self, ref: SchemaRef) -> tuple[dict[str, Any], str]:
        """The JSON Schema for `ref` and its file; raises ConfigError when missing."""
        key = str(ref)
        if key not in self._schemas:
            path = self.schema_file(ref)
            doc = self.document(path) if path else None
            if doc is None or path is None:
                raise ConfigError(f"schema {ref} not found (expected schemas/{ref.id}/{ref.version}.json)")
            if not isinstance(doc.data, dict):
                raise ConfigError(f"{path}: a JSON Schema must be an object")
            self._schemas[key] = (doc.data, path)
        return self._schemas[key]



def strategy_spec(raw: dict[str, Any], default_type: str) -> StrategySpec:
    steps: tuple[float, ...] = StrategySpec.steps
    if "steps" in raw:
        steps = tuple(float(s) for s in raw["steps"])
    elif "canary" in raw:
        steps = canary_steps(float(raw["canary"]))
    spec = StrategySpec(type=str(raw.get("type", default_type)), steps=steps)
    return StrategySpec(
        type=spec.type,
        steps=spec.steps,
        batch=str(raw.get("batch", spec.batch)),
        concurrency=int(raw.get("concurrency", spec.concurrency)),
        bake=parse_duration(raw.get("bake", spec.bake)),
    )


def health_policy(raw: dict[str, Any]) -> HealthPolicy:
    """The gate policy from `health:` (hotswap.yaml defaults under the profile's own keys).
    profile.yaml is schema-checked; hotswap.yaml's defaults are checked here."""
    base = HealthPolicy()

    def duration(key: str) -> float | None:
        return parse_duration(raw[key]) if raw.get(key) is not None else None

    def count(key: str) -> int | None:
        return int(raw[key]) if raw.get(key) is not None else None

    try:
        policy = HealthPolicy(
            interval=parse_duration(raw.get("interval", base.interval)),
            error_rate_pp=float(raw.get("error_rate_pp", base.error_rate_pp)),
            p99_increase_pct=float(raw.get("p99_increase_pct", base.p99_increase_pct)),
            failed_checks_pct=float(raw.get("failed_checks_pct", base.failed_checks_pct)),
            on_no_data=str(raw.get("on_no_data", base.on_no_data)),
            confidence=float(raw.get("confidence", base.confidence)),
            baseline=duration("baseline"),
            max_bake=duration("max_bake"),
            on_inconclusive=str(raw.get("on_inconclusive", base.on_inconclusive)),
            min_checks=int(raw.get("min_checks", base.min_checks)),
            failure_limit=count("failure_limit"),
            consecutive=count("consecutive"),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"health: {exc}", hint="see docs/deploy.md, the health gate") from None
    problems = [
        f"on_no_data: {policy.on_no_data!r} is not one of fail, pass" if policy.on_no_data not in ("fail", "pass")
        else "",
        f"on_inconclusive: {policy.on_inconclusive!r} is not one of fail, pause, pass"
        if policy.on_inconclusive not in ("fail", "pause", "pass") else "",
        f"confidence: {policy.confidence:g} must be above 0.5 and below 1" if not 0.5 < policy.confidence < 1 else "",
        f"min_checks: {policy.min_checks} must be at least 1" if policy.min_checks < 1 else "",
    ]
    problems = [p for p in problems if p]
    if problems:
        raise ConfigError(f"health: {problems[0]}",
                          hint="fix hotswap.yaml `defaults.health` or the profile's `health:`")
    return policy


def issue_at(doc: Document, path: tuple[str | int, ...], message: str) -> Issue:
    """An Issue located at the deepest known part of `path` in `doc`."""
    for cut in range(len(path), -1, -1):
        loc = doc.locations.get(path[:cut])
        if loc:
            return Issue(loc, format_path(path), message)
    return Issue(Location(doc.file), format_path(path), message)


def document_issue(exc: DocumentError) -> Issue:
    return Issue(exc.location, "$", exc.reason)
