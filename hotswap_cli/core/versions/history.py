"""A profile's rendered config over time: at a version, a revision or the working tree, and
every commit that changed it (template- and schema-only commits included)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hotswap_cli.core.config.profile import load_profile
from hotswap_cli.core.versions.release import SEMVER_RE, list_versions, resolve_version, semver_key
from hotswap_cli.errors import HotswapError, UsageError
from hotswap_cli.model import JsonPath, config_hash

if TYPE_CHECKING:
    from hotswap_cli.core.config.configrepo import ConfigRepo
    from hotswap_cli.core.versions.git import GitRepo

WORKTREE = "worktree"
WORKTREE_NAMES = (WORKTREE, "working-tree", "WORKTREE")


@dataclass(frozen=True)
class ConfigAt:
    """A profile's rendered config (secrets as stored: ENC[...]) at one point in its life."""

    profile: str
    label: str  # "1.0.0", "HEAD", "working tree"
    commit: str | None  # None: the working tree
    data: Any
    schema: dict[str, Any]
    schema_ref: str
    version: str | None = None
    live: bool = False  # read from an instance: secrets are plaintext there
    raw: bytes | None = None  # live: the bytes of a payload compared as text (a template, toml, ...)
    instance: str | None = None  # live: the instance it was read from
    origins: Mapping[JsonPath, str] = field(default_factory=dict)  # secret path -> the file defining it

    def origin(self, path: JsonPath) -> str:
        """The repo file that defines the value at `path` (what its encryption is bound to)."""
        return self.origins.get(path, "")

    @property
    def sha256(self) -> str:
        return config_hash(self.data)

    def describe(self) -> str:
        if self.live:
            return f"{self.profile} {self.label} (running now)"
        where = self.commit[:12] if self.commit else "uncommitted"
        if self.version:
            return f"{self.profile} {self.version} ({where})"
        return f"{self.profile} {self.label}" + (f" ({where})" if self.commit and self.label != where else "")


def render_in(repo: ConfigRepo, profile: str) -> tuple[Any, dict[str, Any], str, dict[JsonPath, str]]:
    """(rendered data, schema, schema ref, the file defining each secret) of `profile` in `repo`."""
    from hotswap_cli.core.config.render import render_profile
    from hotswap_cli.core.secrets.crypto import secret_values

    loaded = load_profile(repo, profile)
    schema, _ = repo.load_schema(loaded.schema)
    rendered = render_profile(repo, loaded)
    origins = {path: rendered.locate(path).file for path, _ in secret_values(rendered.data, schema)}
    return rendered.data, schema, str(loaded.schema), origins


def config_at(git_repo: GitRepo, profile: str, ref: str) -> ConfigAt:
    """`ref`: a version (X.Y.Z), any git revision, or `worktree`."""
    from hotswap_cli.core.config.configrepo import ConfigRepo

    if ref.startswith("live:"):
        raise UsageError(f"{ref}: what an instance runs is read by hotswap_cli.ops.live.config_at")
    if ref in WORKTREE_NAMES:
        data, schema, sref, origins = render_in(ConfigRepo.open(git_repo.config_root), profile)
        return ConfigAt(profile, "working tree", None, data, schema, sref, origins=origins)
    version = None
    commit: str
    if SEMVER_RE.match(ref):
        v = resolve_version(git_repo, profile, ref)
        version, commit = v.version, v.commit
    else:
        commit = git_repo.resolve(ref)
    data, schema, sref, origins = render_in(ConfigRepo(git_repo.source_at(commit), root=git_repo.config_root),
                                            profile)
    return ConfigAt(profile, ref, commit, data, schema, sref, version, origins=origins)


@dataclass(frozen=True)
class HistoryEntry:
    """One commit that changed a profile's rendered config or its schema."""

    commit: str
    date: str
    author: str
    message: str  # subject line
    versions: tuple[str, ...]
    changed: tuple[str, ...]  # JSONPaths
    schema_changed: bool = False
    note: str = ""  # created | deleted | not renderable: <why>

    def to_dict(self) -> dict[str, Any]:
        return {"commit": self.commit, "date": self.date, "author": self.author, "message": self.message,
                "versions": list(self.versions), "changed": list(self.changed),
                "schema_changed": self.schema_changed, "note": self.note}


@dataclass(frozen=True)
class _State:
    exists: bool
    data: Any = None
    schema: Any = None
    schema_ref: str = ""
    error: str = ""

    @property
    def identity(self) -> tuple[Any, ...]:
        data = config_hash(self.data) if self.exists and not self.error else None
        schema = config_hash(self.schema) if self.schema is not None else None
        return self.exists, data, schema, self.schema_ref, self.error


def profile_history(git_repo: GitRepo, profile: str, rev: str = "HEAD") -> list[HistoryEntry]:
    """Newest first: every commit reachable from `rev` after which the profile renders differently
    (or its schema differs) than before it."""
    from hotswap_cli.core.versions.diff import diff_configs

    versions: dict[str, list[str]] = {}
    for v in list_versions(git_repo, profile):
        versions.setdefault(v.commit, []).append(v.version)
    cache: dict[str, _State] = {}
    entries = []
    candidates = git_repo.log([f"profiles/{profile}", "templates", "schemas"], rev, why=f"the history of {profile}")
    for commit in candidates:
        after = _state_at(git_repo, profile, commit.sha, cache)
        before = _state_at(git_repo, profile, commit.parents[0], cache) if commit.parents else _State(False)
        if after.identity == before.identity:
            continue
        note = ""
        changed: tuple[str, ...] = ()
        if not after.exists:
            note = "deleted"
        elif after.error:
            note = f"not renderable: {after.error}"
        else:
            if not before.exists:
                note = "created"
            old = before.data if before.exists and not before.error else {}
            changed = tuple(diff_configs(old, after.data, before.schema, after.schema, check_schemas=False).paths)
        entries.append(HistoryEntry(
            commit=commit.sha, date=commit.date, author=commit.author, message=commit.subject,
            versions=tuple(sorted(versions.get(commit.sha, []), key=semver_key, reverse=True)), changed=changed,
            schema_changed=before.exists and after.exists and before.schema != after.schema, note=note,
        ))
    return entries


def _state_at(git_repo: GitRepo, profile: str, sha: str, cache: dict[str, _State]) -> _State:
    if sha not in cache:
        from hotswap_cli.core.config.configrepo import ConfigRepo

        repo = ConfigRepo(git_repo.source_at(sha), root=git_repo.config_root)
        if profile not in repo.profile_names():
            cache[sha] = _State(False)
        else:
            try:
                data, schema, sref, _ = render_in(repo, profile)
                cache[sha] = _State(True, data, schema, sref)
            except HotswapError as exc:
                cache[sha] = _State(True, error=exc.message)
    return cache[sha]
