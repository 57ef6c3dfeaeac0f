"""Named versions: annotated tags `<profile>/<X.Y.Z>` made by `release`, listed and resolved."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from hotswap_cli.core.config.profile import check_profile_name, load_profile, unknown_profile
from hotswap_cli.core.versions.remote import missing_versions
from hotswap_cli.errors import ConfigError, RepoError, UsageError, ValidationFailed

if TYPE_CHECKING:
    from hotswap_cli.core.versions.git import GitRepo, TagInfo

# Semantic version core only: no leading zeros, no `v`, no pre-release or build suffix.
SEMVER_RE = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
TRAILER_PREFIX = "Hotswap-"
_TRAILER_RE = re.compile(r"^Hotswap-([A-Za-z0-9]+): ?(.*)$")


def check_version(text: str) -> str:
    """`text` when it is X.Y.Z; UsageError (exit 2) otherwise."""
    if not SEMVER_RE.match(text):
        raise UsageError(f"invalid version {text!r}: a version is a semantic version X.Y.Z, e.g. 1.0.0 "
                         "(numbers without leading zeros; no 'v' prefix, no '-beta' suffix)")
    return text


def semver_key(version: str) -> tuple[int, ...]:
    m = SEMVER_RE.match(version)
    return tuple(int(g) for g in m.groups()) if m else (-1,)


def tag_name(profile: str, version: str) -> str:
    return f"{profile}/{version}"


@dataclass(frozen=True)
class Version:
    """A released version of a profile: the tag, the commit it names, and what the tag records."""

    profile: str
    version: str
    tag: str
    commit: str
    date: str  # ISO 8601, when the tag was made
    author: str  # who released it: "Name <email>"
    description: str
    sha256: str  # of the rendered canonical JSON, secrets as their ENC[...] text (see docs/versions.md)
    schema: str  # "payment-config/1.0"
    size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tag_message(profile: str, version: str, description: str, *, sha256: str, schema: str, size: int,
                author: str) -> str:
    """Subject, description, then trailers that `parse_tag_message` reads back."""
    lines = [f"hotswap release {profile} {version}", ""]
    if description.strip():
        lines += [description.strip(), ""]
    lines += [f"{TRAILER_PREFIX}Profile: {profile}", f"{TRAILER_PREFIX}Version: {version}",
              f"{TRAILER_PREFIX}Sha256: {sha256}", f"{TRAILER_PREFIX}Schema: {schema}",
              f"{TRAILER_PREFIX}Size: {size}", f"{TRAILER_PREFIX}Author: {author}"]
    return "\n".join(lines) + "\n"


def parse_tag_message(message: str) -> tuple[str, dict[str, str]]:
    """(description, trailers) of a tag message written by `tag_message`."""
    paragraphs = message.strip().split("\n\n")
    trailers: dict[str, str] = {}
    if paragraphs and all(_TRAILER_RE.match(line) for line in paragraphs[-1].splitlines()):
        for line in paragraphs.pop().splitlines():
            m = _TRAILER_RE.match(line)
            assert m is not None
            trailers[m.group(1).lower()] = m.group(2).strip()
    if paragraphs and paragraphs[0].startswith("hotswap release "):
        paragraphs = paragraphs[1:]
    return "\n\n".join(paragraphs).strip(), trailers


def _version_of(profile: str, tag: TagInfo) -> Version:
    description, meta = parse_tag_message(tag.message) if tag.annotated else ("", {})
    size = meta.get("size", "")
    return Version(
        profile=profile, version=tag.name[len(profile) + 1:], tag=tag.name, commit=tag.commit, date=tag.date,
        author=meta.get("author") or tag.tagger, description=description, sha256=meta.get("sha256", ""),
        schema=meta.get("schema", ""), size=int(size) if size.isdigit() else None,
    )


def list_versions(git_repo: GitRepo, profile: str) -> list[Version]:
    """Every version of `profile`, newest first (by tag date, then by version number), origin's
    fetched first (once per GitRepo: a CI checkout has no tags). Never an empty list that lies:
    an unknown profile is a ConfigError naming the closest one, and none here when origin could
    not be read is a RepoError naming the git command that fetches them."""
    check_profile_name(profile)
    git_repo.ensure_versions(profile)
    found = _versions_here(git_repo, profile)
    if not found:
        require_profile(git_repo, profile)
        error = missing_versions(git_repo, profile, f"{profile} has no released version")
        if error is not None:
            raise error
    return found


def _versions_here(git_repo: GitRepo, profile: str) -> list[Version]:
    found = [_version_of(profile, t) for t in git_repo.tags(f"{profile}/")
             if SEMVER_RE.match(t.name[len(profile) + 1:])]
    found.sort(key=lambda v: semver_key(v.version), reverse=True)
    found.sort(key=lambda v: _timestamp(v.date), reverse=True)  # stable: equal dates keep the version order
    return found


def versioned_profiles(git_repo: GitRepo) -> set[str]:
    """Profiles with a version tag in this clone (their folder may be gone from the working tree)."""
    names = git_repo.git("for-each-ref", "--format=%(refname:strip=2)", "refs/tags").stdout.split()
    return {n.split("/")[0] for n in names if n.count("/") == 1 and SEMVER_RE.match(n.split("/")[1])}


def require_profile(git_repo: GitRepo, profile: str) -> None:
    """ConfigError unless `profile` is a profile of the working tree or has a version tag (here or,
    fetched, on origin): `profile 'x' not found: did you mean y?`. The first check of every
    command that takes a profile, so a typo is not reported as a missing version."""
    from hotswap_cli.core.config.configrepo import ConfigRepo

    check_profile_name(profile)
    here = ConfigRepo.open(git_repo.config_root).profile_names()
    if profile in here or git_repo.tags(f"{profile}/"):
        return
    git_repo.ensure_versions(profile)  # a profile deleted from the tree may still have versions on origin
    if _versions_here(git_repo, profile):
        return
    raise unknown_profile(profile, [*here, *versioned_profiles(git_repo)])


def _timestamp(date: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(date).timestamp()
    except ValueError:
        return 0.0


def latest_version(git_repo: GitRepo, profile: str) -> Version | None:
    versions = list_versions(git_repo, profile)
    return versions[0] if versions else None


def resolve_version(git_repo: GitRepo, profile: str, version: str) -> Version:
    """The version named `<profile>/<version>` (fetched from origin when this clone lacks it);
    RepoError when there is none, naming the git command when origin could not be read."""
    check_version(version)
    listed = list_versions(git_repo, profile)
    if not any(v.version == version for v in listed):
        git_repo.ensure_versions(profile, want=tag_name(profile, version))  # pushed since this process fetched
        listed = _versions_here(git_repo, profile)
    for v in listed:
        if v.version == version:
            return v
    error = missing_versions(git_repo, profile, f"{profile} has no version {version}")
    if error is not None:
        raise error
    on_origin = " in this clone or on origin" if git_repo.has_remote() else ""
    raise RepoError(f"{profile} has no version {version}{on_origin}",
                    hint=f"`hotswap versions {profile}` lists them")


def no_released_version(git_repo: GitRepo, profile: str) -> RepoError:
    """The error when a command needs a version of `profile` and none is here: the git command that
    fetches them when origin could not be read, else how to release one."""
    error = missing_versions(git_repo, profile, f"{profile} has no released version")
    if error is not None:
        return error
    return RepoError(f"{profile} has no released version", hint=f"release one with `hotswap release {profile} 1.0.0`")


def release(git_repo: GitRepo, profile: str, version: str, description: str = "", rev: str = "HEAD",
            push: bool = False) -> tuple[Version, bool]:
    """Validate `profile` at `rev` and tag it `<profile>/<version>`. Returns (version, pushed)."""
    from hotswap_cli.core.config.configrepo import ConfigRepo
    from hotswap_cli.core.config.render import render_profile
    from hotswap_cli.core.config.validate import validate_profile

    check_version(version)
    tag = tag_name(profile, version)
    git_repo.ensure_versions(profile)  # a version origin has is taken, even when this clone lacks its tag
    existing = [v for v in _versions_here(git_repo, profile) if v.version == version]
    if existing:
        raise RepoError(f"version {tag} already exists (commit {existing[0].commit[:12]}); versions are never "
                        "moved or overwritten", hint="release a new version number")
    commit = git_repo.resolve(rev)
    repo = ConfigRepo(git_repo.source_at(commit), root=git_repo.config_root)
    if profile not in repo.profile_names():
        raise unknown_profile(profile, repo.profile_names(), f" at {rev} ({commit[:12]})")
    result = validate_profile(repo, profile)
    if not result.ok:
        more = f" (and {len(result.issues) - 1} more)" if len(result.issues) > 1 else ""
        raise ValidationFailed(f"{profile} at {rev} is not valid, not released: {result.issues[0]}{more}")
    loaded = load_profile(repo, profile)
    rendered = render_profile(repo, loaded)
    if commit == git_repo.head():
        _refuse_uncommitted(git_repo, loaded.directory, [d.file for d in rendered.layers],
                            repo.schema_file(loaded.schema))
    author = git_repo.identity()
    message = tag_message(profile, version, description, sha256=rendered.sha256, schema=str(loaded.schema),
                          size=rendered.size, author=author)
    git_repo.create_tag(tag, commit, message)
    pushed = False
    if push and git_repo.has_remote():
        git_repo.push_tags([tag])
        pushed = True
    return resolve_version(git_repo, profile, version), pushed


def _refuse_uncommitted(git_repo: GitRepo, directory: str, layer_files: list[str], schema_file: str | None) -> None:
    """Uncommitted edits to what the release renders from would make the tag lie about the tree."""
    from hotswap_cli.core.config.configrepo import ConfigRepo
    from hotswap_cli.core.config.render import render_profile

    paths = {directory, *layer_files, *([schema_file] if schema_file else [])}
    try:  # the working tree may extend other templates now: those count too
        work = ConfigRepo.open(git_repo.config_root)
        prof = load_profile(work, directory.rsplit("/", 1)[-1])
        paths.update(d.file for d in render_profile(work, prof).layers)
        if (schema := work.schema_file(prof.schema)) is not None:
            paths.add(schema)
    except (ConfigError, ValidationFailed):
        pass
    dirty = git_repo.dirty_paths(sorted(paths))
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise RepoError(f"uncommitted changes in {shown}", hint="commit or stash them, then release")
