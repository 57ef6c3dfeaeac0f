"""The trust decision, in one place: which approvers, which approval policy and which environment
count for a profile. They are read from the protected place only: the remote's default branch as
fetched (its name from the remote's HEAD), or what the operator names (`--approvers` /
HOTSWAP_APPROVERS for the approvers file, HOTSWAP_TRUSTED_REF for the ref). Never from the version
under deploy, the working tree or a checked-out tag."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotswap_cli.core.approvals.approvers import APPROVERS_ENV, REMOTE, Approvers, parse_approvers
from hotswap_cli.core.config.configrepo import SETTINGS_FILE, ConfigRepo, settings_from
from hotswap_cli.core.config.profile import read_profile
from hotswap_cli.errors import ConfigError

if TYPE_CHECKING:
    from hotswap_cli.core.config.configrepo import EnvironmentPolicy, Settings
    from hotswap_cli.core.versions.git import GitRepo

TRUSTED_REF_ENV = "HOTSWAP_TRUSTED_REF"
ALLOW_ENV = "HOTSWAP_ALLOW_ENV"


@dataclass(frozen=True)
class TrustRoot:
    """Approvers, policy and environments from a place the version under approval cannot change."""

    approvers: Approvers
    settings: Settings  # hotswap.yaml on the trusted ref; the spec's defaults when there is none
    rev: str | None  # the trusted ref the files came from (None: nothing trusted in the repo)
    git_repo: GitRepo
    _memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)  # what was read from `rev`

    @property
    def repo(self) -> ConfigRepo | None:
        """The config repo as the trusted ref has it (one for the whole command: each file in it is
        parsed once, however often the policy is asked); None when nothing is trusted."""
        if self.rev is None:
            return None
        if "repo" not in self._memo:
            self._memo["repo"] = ConfigRepo(self.git_repo.source_at(self.rev))
        repo: ConfigRepo = self._memo["repo"]
        return repo

    @property
    def source(self) -> str:
        return self.rev or "the spec's defaults (no trusted ref)"

    def environment_of(self, profile: str) -> str | None:
        """The profile's environment as the trusted ref has it; None when it has no such profile."""
        if self.repo is None:
            return None
        key = ("environment", profile)
        if key not in self._memo:
            try:
                src = read_profile(self.repo, profile)
            except ConfigError:
                self._memo[key] = None
            else:
                env = (src.meta.data or {}).get("environment") if isinstance(src.meta.data, dict) else None
                self._memo[key] = str(env) if env in self.settings.environments else None
        found: str | None = self._memo[key]
        return found

    def policy_for(self, profile: str, declared: str | None) -> EnvironmentPolicy:
        """The policy a profile's versions answer to: the stricter of its environment on the
        trusted ref and the one the version declares. A profile the trusted ref does not know
        answers to the strictest environment: a branch cannot invent a lenient one."""
        envs = self.settings.environments
        trusted = self.environment_of(profile)
        if trusted is None:
            return max(envs.values(), key=_strictness)
        candidates = [envs[trusted]] + ([envs[declared]] if declared in envs else [])
        return max(candidates, key=_strictness)

    def allowed_env(self) -> frozenset[str]:
        """Environment variables header values may use: the trusted ref's `allow_env` and the
        operator's HOTSWAP_ALLOW_ENV; never HOTSWAP_* (see io.http.expand_headers)."""
        names = set(self.settings.allow_env) | {n.strip() for n in os.environ.get(ALLOW_ENV, "").split(",")}
        return frozenset(n for n in names if n and not n.startswith("HOTSWAP_"))


def _strictness(policy: EnvironmentPolicy) -> tuple[int, int, int, int]:
    """More approvals is stricter; then signed commits, production, and later in the promotion order."""
    return policy.approvals, int(policy.require_signed_commits), int(policy.production), policy.order


def default_branch(git_repo: GitRepo, *, fetch: bool = True) -> str | None:
    """The remote's default branch, from its HEAD (asked over the network when fetching, else as
    last fetched); without a remote, the local main or master. None when it cannot be told."""
    if git_repo.has_remote(REMOTE):
        if fetch:
            listed = git_repo.git("ls-remote", "--symref", REMOTE, "HEAD", check=False)
            for line in listed.stdout.splitlines():
                if line.startswith("ref: refs/heads/") and line.endswith("\tHEAD"):
                    return line[len("ref: refs/heads/"):-len("\tHEAD")]
        head = git_repo.git("symbolic-ref", "--quiet", f"refs/remotes/{REMOTE}/HEAD", check=False).stdout.strip()
        return head.rsplit("/", 1)[-1] if head else None
    for branch in ("main", "master"):
        if git_repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False).returncode == 0:
            return branch
    return None


def protected_rev(git_repo: GitRepo, *, fetch: bool = True) -> str | None:
    """The trusted ref: HOTSWAP_TRUSTED_REF if the operator names one, else `origin/<default>`
    after fetching it, else the local default branch; None if there is none."""
    named = os.environ.get(TRUSTED_REF_ENV)
    if named:
        if git_repo.git("rev-parse", "--verify", "--quiet", f"{named}^{{commit}}", check=False).returncode != 0:
            raise ConfigError(f"{TRUSTED_REF_ENV}={named} does not name a commit here",
                              hint=f"fetch it first, or unset {TRUSTED_REF_ENV}")
        return named
    branch = default_branch(git_repo, fetch=fetch)
    if branch is None:
        return None
    if git_repo.has_remote(REMOTE):
        if fetch:
            git_repo.git("fetch", "--quiet", "--no-tags", REMOTE,
                         f"+refs/heads/{branch}:refs/remotes/{REMOTE}/{branch}", check=False)
        ref = f"refs/remotes/{REMOTE}/{branch}"
    else:
        ref = f"refs/heads/{branch}"
    if git_repo.git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False).returncode == 0:
        return ref
    return None


def load_trust_root(git_repo: GitRepo, approvers_path: Path | None = None, *, fetch: bool = True) -> TrustRoot:
    """Approvers, policy and environments from the trusted ref (or the operator's approvers file).
    Nothing here reads the working tree."""
    rev = protected_rev(git_repo, fetch=fetch)
    settings = settings_from({})
    if rev is not None:
        raw = git_repo.git("show", f"{rev}:{git_repo.repo_path(SETTINGS_FILE)}", check=False)
        if raw.returncode == 0:
            settings = ConfigRepo(git_repo.source_at(rev)).settings
    if approvers_path is None and os.environ.get(APPROVERS_ENV):
        approvers_path = Path(os.environ[APPROVERS_ENV])
    if approvers_path is not None:
        try:
            text = approvers_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read approvers file {approvers_path}: {exc.strerror}") from None
        return TrustRoot(parse_approvers(text, str(approvers_path)), settings, rev, git_repo)
    if rev is None:
        return TrustRoot(parse_approvers("", "no trusted approvers file (no default branch yet)"), settings, None,
                         git_repo)
    path = git_repo.repo_path(settings.approvers_file)
    shown = git_repo.git("show", f"{rev}:{path}", check=False)
    text = shown.stdout if shown.returncode == 0 else ""
    return TrustRoot(parse_approvers(text, f"{rev}:{path}"), settings, rev, git_repo)
