"""A profile's rendered config over time: at a version, a revision or the working tree, and
every commit that changed it (template- and schema-only commits included)."""

from __future__ import annotations

import posixpath
from collections.abc import Generator, Mapping
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotswap_cli.core.config.configrepo import DATA_EXTENSIONS, ConfigRepo
from hotswap_cli.core.config.profile import load_profile
from hotswap_cli.core.versions.release import SEMVER_RE, list_versions, resolve_version, semver_key
from hotswap_cli.errors import HotswapError, UsageError
from hotswap_cli.model import JsonPath, config_hash

if TYPE_CHECKING:
    from hotswap_cli.core.config.yamlsrc import Document
    from hotswap_cli.core.versions.git import CommitInfo, GitRepo, RecordingTreeSource

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
    inputs: tuple[str, ...] = ()  # the config-repo paths its render read (see _render_state)

    @property
    def identity(self) -> tuple[Any, ...]:
        data = config_hash(self.data) if self.exists and not self.error else None
        schema = config_hash(self.schema) if self.schema is not None else None
        return self.exists, data, schema, self.schema_ref, self.error


def profile_history(git_repo: GitRepo, profile: str, rev: str = "HEAD") -> list[HistoryEntry]:
    """Newest first: every commit reachable from `rev` after which the profile renders differently
    (or its schema differs) than before it."""
    return list(iter_history(git_repo, profile, rev))


def iter_history(git_repo: GitRepo, profile: str, rev: str = "HEAD") -> Generator[HistoryEntry, None, None]:
    """profile_history, entry by entry as they are found (stop early by stopping to iterate).

    Only commits that touch the profile's inputs are looked at: the files its render reads
    (profile.yaml, its config, each template of its `extends:` chain, its schema and the files
    that schema refers to, hotswap.yaml; a data file counts under each name it could have:
    .yaml, .yml, .json). Inputs change over history (a profile that starts extending another
    template), so the walk starts with the inputs at `rev` and, when a commit or its parent
    reads a path the walk did not watch, widens the paths and walks again, skipping the commits
    already seen. A commit whose inputs are not touched renders as its parent does (a render
    reads only its inputs), so skipping it loses nothing."""
    versions: dict[str, list[str]] = {}
    for v in list_versions(git_repo, profile):
        versions.setdefault(v.commit, []).append(v.version)
    tip = git_repo.head() and git_repo.resolve(rev)
    if tip is None:
        return
    states = _States(git_repo, profile)
    watched = set(states.at(tip).inputs)
    seen: set[str] = set()
    while True:
        widened = False
        with closing(git_repo.log_stream(sorted(watched), rev, why=f"the history of {profile}")) as commits:
            for commit in commits:
                if commit.sha in seen:
                    continue
                seen.add(commit.sha)
                after = states.at(commit.sha)
                before = states.at(commit.parents[0]) if commit.parents else _State(False)
                if after.identity != before.identity:
                    yield _entry(commit, before, after, versions.get(commit.sha, []))
                read = watched.union(after.inputs, before.inputs)
                if read != watched:
                    watched, widened = read, True
                    break
        if not widened:
            return


def _entry(commit: CommitInfo, before: _State, after: _State, versions: list[str]) -> HistoryEntry:
    from hotswap_cli.core.versions.diff import diff_configs

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
    return HistoryEntry(
        commit=commit.sha, date=commit.date, author=commit.author, message=commit.subject,
        versions=tuple(sorted(versions, key=semver_key, reverse=True)), changed=changed,
        schema_changed=before.exists and after.exists and before.schema != after.schema, note=note,
    )


class _States:
    """The profile's state at commits, rendered once per input tree: a commit whose inputs hold
    the same objects (blob ids, as one tree of them would) as an already rendered commit's gets
    that render's state. Sound because a render reads only its inputs: equal contents there mean
    the same reads in the same order, so the same result and the same inputs."""

    def __init__(self, git_repo: GitRepo, profile: str) -> None:
        self.git_repo = git_repo
        self.profile = profile
        self.by_commit: dict[str, _State] = {}
        self.by_inputs: dict[tuple[str, ...], dict[tuple[str | None, ...], _State]] = {}
        self.documents: dict[tuple[str, str], Document] = {}  # (path, blob id) -> parsed once

    def at(self, sha: str) -> _State:
        if sha not in self.by_commit:
            known: dict[str, str | None] = {}
            self.by_commit[sha] = self._cached(sha, known) or self._render(sha, known)
        return self.by_commit[sha]

    def _cached(self, sha: str, known: dict[str, str | None]) -> _State | None:
        watched = sorted({path for inputs in self.by_inputs for path in inputs})
        known.update(zip(watched, self.git_repo.object_ids(sha, watched), strict=True))  # one round trip
        for inputs, rendered in self.by_inputs.items():
            found = rendered.get(tuple(known[path] for path in inputs))
            if found is not None:
                return found
        return None

    def _render(self, sha: str, known: dict[str, str | None]) -> _State:
        repo = _ReadingRepo(self.git_repo.recording_source_at(sha), self.git_repo.config_root, known, self.documents)
        state = _render_state(repo, self.profile)
        unknown = [path for path in state.inputs if path not in known]
        known.update(zip(unknown, self.git_repo.object_ids(sha, unknown), strict=True))
        self.by_inputs.setdefault(state.inputs, {})[tuple(known[path] for path in state.inputs)] = state
        return state


class _ReadingRepo(ConfigRepo):
    """A ConfigRepo at a commit that also notes the data files it looked for by stem (found or
    not: a template that appears later under any of its names changes the render). Where the
    object ids of this commit's paths are already `known` (from a cache lookup that missed), a
    data file is found without listing its folder and a document parsed at another commit with
    the same blob is reused. (Its own attributes are prefixed `hs_`: ConfigRepo's names are its own.)"""

    def __init__(self, source: RecordingTreeSource, root: Path, known: dict[str, str | None],
                 documents: dict[tuple[str, str], Document]) -> None:
        super().__init__(source, root=root)
        self.hs_source = source
        self.hs_stems: set[str] = set()
        self.hs_known = known
        self.hs_documents = documents

    def find_data_file(self, stem: str) -> str | None:
        self.hs_stems.add(stem)
        names = [stem + ext for ext in DATA_EXTENSIONS]
        if all(name in self.hs_known for name in names):
            return next((name for name in names if self.hs_known[name] is not None), None)
        return super().find_data_file(stem)

    def document(self, relpath: str) -> Document | None:
        blob = self.hs_known.get(relpath)
        if blob is not None and (relpath, blob) in self.hs_documents:
            self.hs_source.reads.add(relpath)
            return self.hs_documents[relpath, blob]
        read_before = set(self.hs_source.reads)
        doc = super().document(relpath)
        # a symlink's document depends on its target's blob, not its own: not reused
        if doc is not None and blob is not None and self.hs_source.reads - read_before <= {relpath}:
            self.hs_documents[relpath, blob] = doc
        return doc

    def hs_inputs(self) -> tuple[str, ...]:
        """Every path read, each stem under each data-file name, and any folder listed for
        another reason than finding a stem (then its whole tree is an input)."""
        named = {stem + ext for stem in self.hs_stems for ext in DATA_EXTENSIONS}
        looked_in = {posixpath.dirname(stem) for stem in self.hs_stems}
        return tuple(sorted(self.hs_source.reads | named | (self.hs_source.listed - looked_in)))


def _render_state(repo: _ReadingRepo, profile: str) -> _State:
    if repo.document(f"profiles/{profile}/profile.yaml") is None:
        state = _State(False)
    else:
        try:
            state = render_state(repo, profile)
        except HotswapError as exc:
            state = _State(True, error=exc.message)
    return replace(state, inputs=repo.hs_inputs())


def render_state(repo: ConfigRepo, profile: str) -> _State:
    """The profile rendered in `repo`, with its schema: what history compares (render_in without
    the secrets' origins). Raises HotswapError when it does not render."""
    from hotswap_cli.core.config.render import render_profile

    loaded = load_profile(repo, profile)
    schema, _ = repo.load_schema(loaded.schema)
    return _State(True, render_profile(repo, loaded).data, schema, str(loaded.schema))
