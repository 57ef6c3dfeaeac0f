"""Validation: profile.yaml against hotswap's own schema, rendered configs against theirs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hotswap_cli.core.config.configrepo import ConfigRepo, document_issue
from hotswap_cli.core.config.profile import build_profile, check_profile_meta, read_profile
from hotswap_cli.core.config.render import Rendered, render_profile
from hotswap_cli.core.config.schema import SchemaChecker, SchemaViolation, describe, describe_unknown, unknown_keys
from hotswap_cli.core.config.yamlsrc import DocumentError
from hotswap_cli.core.secrets.crypto import is_secret_path, secret_problems, secret_trie, secret_values, touches_secret
from hotswap_cli.errors import ConfigError
from hotswap_cli.model import Issue, JsonPath, Location, Profile, format_path

if TYPE_CHECKING:
    from hotswap_cli.core.config.vcache import ValidationCache
    from hotswap_cli.core.config.yamlsrc import Document


@dataclass(frozen=True)
class ProfileResult:
    profile: str
    issues: tuple[Issue, ...]
    sha256: str | None = None
    size: int | None = None

    @property
    def ok(self) -> bool:
        return not self.issues


@dataclass(frozen=True)
class Finding:
    """One problem, reported once with the profiles it affects: an error in a template is one
    finding at the template's line, however many profiles extend it."""

    issue: Issue
    affects: tuple[str, ...] = ()

    @property
    def shared(self) -> bool:
        """In a file other than the affected profile's own (a template, a schema): name the profiles."""
        own = len(self.affects) == 1 and self.issue.location.file.startswith(f"profiles/{self.affects[0]}/")
        return bool(self.affects) and not own

    @property
    def what(self) -> str:
        """`$.path  message`, and the profiles affected when the file is not the profile's own."""
        text = f"{self.issue.path}  {self.issue.message}"
        return f"{text} (affects {', '.join(self.affects)})" if self.shared else text

    def __str__(self) -> str:
        return f"{self.issue.location}  {self.what}"

    def to_dict(self) -> dict[str, Any]:
        single = self.affects[0] if len(self.affects) == 1 else None
        return {**issue_dict(self.issue), "profile": single, "affects": list(self.affects)}


@dataclass(frozen=True)
class ValidationReport:
    results: tuple[ProfileResult, ...]
    repo_issues: tuple[Issue, ...] = field(default=())
    warnings: tuple[Issue, ...] = field(default=())  # printed, never failing (e.g. a deprecated schema)

    @property
    def ok(self) -> bool:
        return not self.repo_issues and all(r.ok for r in self.results)

    @property
    def findings(self) -> list[Finding]:
        """Every error once, sorted by file:line:col, with the profiles that have it."""
        return _findings([(i, r.profile) for r in self.results for i in r.issues]
                         + [(i, i.profile) for i in self.repo_issues])

    @property
    def warning_findings(self) -> list[Finding]:
        return _findings([(i, i.profile) for i in self.warnings])

    @property
    def issues(self) -> list[Issue]:
        return [f.issue for f in self.findings]

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.ok,
            "profiles": [
                {"profile": r.profile, "valid": r.ok, "sha256": r.sha256, "size": r.size,
                 "errors": [issue_dict(i) for i in r.issues]}
                for r in self.results
            ],
            "errors": [f.to_dict() for f in self.findings],
            "warnings": [f.to_dict() for f in self.warning_findings],
        }


def _findings(tagged: Iterable[tuple[Issue, str | None]]) -> list[Finding]:
    affects: dict[Issue, set[str]] = {}
    for issue, profile in tagged:
        bare = Issue(issue.location, issue.path, issue.message)
        affects.setdefault(bare, set()).update([profile] if profile else [])
    return [Finding(i, tuple(sorted(affects[i]))) for i in sorted(affects, key=Issue.sort_key)]


def issue_dict(issue: Issue) -> dict[str, Any]:
    loc = issue.location
    return {"file": loc.file, "line": loc.line, "column": loc.column, "path": issue.path,
            "message": issue.message, "profile": issue.profile}


def schema_checker(repo: ConfigRepo, profile: Profile) -> SchemaChecker:
    """The profile's schema, compiled once per repo."""
    cache = repo.__dict__.setdefault("_checkers", {})
    key = str(profile.schema)
    if key not in cache:
        schema, path = repo.load_schema(profile.schema)
        cache[key] = SchemaChecker(schema, path)
    return cache[key]  # type: ignore[no-any-return]


def check_rendered(repo: ConfigRepo, profile: Profile, rendered: Rendered) -> list[Issue]:
    """Rendered config against its schema, each error located in the file that set the value (an
    unknown key at the key itself, in whichever layer has it). Secret fields must hold ENC[...];
    no message ever shows a secret's value."""
    checker = schema_checker(repo, profile)
    secrets = list(secret_values(rendered.data, checker.schema))
    if not secrets:
        issues = [i for e in checker.violations(rendered.data) for i in _violation_issues(rendered, e)]
        return issues or payload_issues(repo, profile, rendered, checker.schema)
    problems = secret_problems(rendered.data, checker.schema, profile.name)
    issues = [Issue(rendered.locate(p), format_path(p), m) for p, m in problems]
    data, undecrypted = _decrypted(rendered.data, secrets, issues, rendered)
    trie = secret_trie(checker.schema)
    for error in checker.violations(data):
        path = error.path
        message = None
        if touches_secret(path, trie):
            if any(path[:len(p)] == p for p in undecrypted):
                continue  # a ciphertext: its plaintext is checked when the key is set
            if error.validator not in _VALUE_FREE:
                message = f"{'secret value' if is_secret_path(path, trie) else 'value'} fails the schema " \
                          f"({error.validator}; not shown: it holds a secret)"
        issues.extend(_violation_issues(rendered, error, message))
    return issues or payload_issues(repo, profile, rendered, checker.schema)


def _violation_issues(rendered: Rendered, error: SchemaViolation, message: str | None = None) -> list[Issue]:
    """One issue per schema error; an unknown-keys error becomes one per key, at the key."""
    keys = unknown_keys(error) if message is None else []
    if keys:
        return [Issue(rendered.locate((*error.path, k)), format_path((*error.path, k)), describe_unknown(k, error))
                for k in keys]
    return [Issue(rendered.locate(error.path), format_path(error.path), message or describe(error))]


def payload_issues(repo: ConfigRepo, profile: Profile, rendered: Rendered, schema: Any) -> list[Issue]:
    """What each target receives must render: a format that cannot hold the config, or a template
    that fails, is a validation error (rendered with secrets masked: no value is ever shown)."""
    from hotswap_cli.core.config.payload import PayloadError, render_payloads, structured

    if all(structured(t) for t in profile.targets):
        return []  # json and yaml hold any config
    from hotswap_cli.core.secrets.crypto import mask_config

    try:
        render_payloads(repo, profile, mask_config(rendered.data, schema))
    except PayloadError as exc:
        if exc.where:
            file, _, line = exc.where.rpartition(":")
            location = Location(file, int(line)) if line.isdigit() else Location(exc.where)
            return [Issue(location, "$", f"target {exc.target}: {exc.reason}")]
        path = exc.path or ()
        return [Issue(rendered.locate(path), format_path(path), f"target {exc.target}: {exc.reason}")]
    except ConfigError as exc:
        return [Issue(Location(profile.directory + "/profile.yaml"), "$", exc.message)]
    return []


# jsonschema messages of these validators name keys only, never values.
_VALUE_FREE = frozenset({"required", "additionalProperties", "unevaluatedProperties", "dependentRequired"})


def _decrypted(data: Any, secrets: list[tuple[JsonPath, Any]], issues: list[Issue],
               rendered: Rendered) -> tuple[Any, list[JsonPath]]:
    """`data` with its ENC[...] secrets decrypted when a key is set (cryptography loads only then),
    and the paths still holding ciphertext."""
    from hotswap_cli.core.secrets.crypto import decrypt_found, is_well_formed, load_key

    encrypted = [(p, v) for p, v in secrets if is_well_formed(v)]
    key = load_key() if encrypted else None
    if key is None:
        return data, [p for p, _ in encrypted]
    data, failures = decrypt_found(data, encrypted, key, lambda p: rendered.locate(p).file, label="this secret")
    for path, exc in failures:
        issues.append(Issue(rendered.locate(path), format_path(path), exc.message))
    return data, [p for p, _ in failures]


def validate_profile(repo: ConfigRepo, name: str) -> ProfileResult:
    """Every problem of one profile, not only the first."""
    try:
        src = read_profile(repo, name)
        issues = check_profile_meta(repo, src)
        if issues:
            return ProfileResult(name, _tag(issues, name))
        profile = build_profile(repo, src)
        rendered = render_profile(repo, profile)
        issues = check_rendered(repo, profile, rendered)
    except DocumentError as exc:
        return ProfileResult(name, (Issue(exc.location, "$", exc.reason, name),))
    except ConfigError as exc:
        return ProfileResult(name, (_error_issue(exc, name),))
    return ProfileResult(name, _tag(issues, name), rendered.sha256, rendered.size)


# `schemas/x/1.0.json: not a valid JSON Schema`, `templates/a.j2:3: ...`: the file is named first
_FILE_FIRST = re.compile(r"^((?:templates|schemas|profiles)/[^\s:]+|hotswap\.yaml)(?::(\d+))?: (.+)$", re.DOTALL)


def _error_issue(exc: ConfigError, name: str) -> Issue:
    """A profile that cannot be built, at the file the error names (a broken schema is then one
    finding for all its profiles), else at the profile's profile.yaml."""
    found = _FILE_FIRST.match(exc.message)
    if found:
        file, line, reason = found.groups()
        return Issue(Location(file, int(line or 0)), "$", reason, name)
    return Issue(Location(f"profiles/{name}/profile.yaml"), "$", exc.message, name)


def _tag(issues: Iterable[Issue], name: str) -> tuple[Issue, ...]:
    fallback = Location(f"profiles/{name}/profile.yaml")
    return tuple(sorted((Issue(i.location if i.location.file else fallback, i.path, i.message, name)
                         for i in issues), key=Issue.sort_key))


def validate(repo: ConfigRepo, names: Iterable[str] | None = None, *, use_cache: bool = True) -> ValidationReport:
    """Validate the named profiles (default: all). Valid results of unchanged inputs come from
    the cache; large cold runs are spread over the machine's cores."""
    repo_issues: list[Issue] = []
    try:
        repo.settings_document  # noqa: B018 - parse errors in hotswap.yaml are reported, not raised
    except DocumentError as exc:
        repo_issues.append(document_issue(exc))
    selected = repo.profile_names() if names is None else list(dict.fromkeys(names))
    from hotswap_cli import telemetry

    with telemetry.span("config.validate", profiles=len(selected)) as span:
        report = _validate_selected(repo, selected, repo_issues, use_cache)
        span.set(valid=report.ok, errors=len(report.issues))
    return report


def _validate_selected(repo: ConfigRepo, selected: list[str], repo_issues: list[Issue],
                       use_cache: bool) -> ValidationReport:
    cache = _open_cache(repo) if use_cache else None
    results: dict[str, ProfileResult] = {}
    digests: dict[str, str] = {}
    if cache is not None:
        for name in selected:
            digests[name] = cache.digest(name)
            hit = cache.lookup(name, digests[name])
            if hit:
                results[name] = ProfileResult(name, (), hit[0], hit[1])
    todo = [n for n in selected if n not in results]
    for result in _validate_many(repo, todo):
        results[result.profile] = result
        if cache is not None and result.ok and result.sha256 is not None and result.size is not None:
            cache.store(result.profile, digests[result.profile], result.sha256, result.size)
    if cache is not None:
        cache.save()
    return ValidationReport(tuple(results[n] for n in selected), tuple(repo_issues))


PARALLEL_FROM = 200  # below this, starting workers costs more than it saves


def _validate_many(repo: ConfigRepo, names: list[str]) -> list[ProfileResult]:
    import os

    workers = min(os.cpu_count() or 1, 4)
    if len(names) < PARALLEL_FROM or workers < 2 or os.name != "posix":
        return [validate_profile(repo, n) for n in names]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # The first profile here compiles profile.yaml's checker and (usually) the schema most profiles
    # share, before the fork: each worker would otherwise compile its own copy.
    first = validate_profile(repo, names[0])
    names = names[1:]
    chunks = [names[i::workers] for i in range(workers)]
    global _FORK_REPO
    _FORK_REPO = repo  # inherited by the forked workers: schemas already compiled, files cached
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            parts = list(pool.map(_validate_chunk, chunks))
    finally:
        _FORK_REPO = None
    by_name = {r.profile: r for results, _ in parts for r in results}
    for _, parsed in parts:
        repo.adopt(parsed)
    return [first, *(by_name[n] for n in names)]


_FORK_REPO: ConfigRepo | None = None


def _validate_chunk(names: list[str]) -> tuple[list[ProfileResult], dict[str, Document]]:
    """A worker's results, and the profile files it parsed: validate reads every profile.yaml again
    in the parent (schema status), which would otherwise parse them all a second time, serially."""
    assert _FORK_REPO is not None
    return [validate_profile(_FORK_REPO, n) for n in names], _FORK_REPO.parsed("profiles/")


def _open_cache(repo: ConfigRepo) -> ValidationCache | None:
    from hotswap_cli.core.config.source import DirSource
    from hotswap_cli.core.config.vcache import ValidationCache, cache_dir

    directory = cache_dir()
    if directory is None or repo.root is None or not isinstance(repo.source, DirSource):
        return None
    try:
        return ValidationCache(repo, directory)
    except ConfigError:  # a file it cannot read (a symlink out of the repo): validation says which
        return None
