"""The trust decision, in one place: which approvers, which approval policy and which environment
count for a profile, read from the protected branch (or the operator's file), never from the
version under deploy or the working tree."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hotswap_cli.core.approvals.approvers import APPROVERS_ENV, REMOTE, Approvers, parse_approvers
from hotswap_cli.core.config.profile import read_profile
from hotswap_cli.errors import ConfigError
from hotswap_cli.model import Profile

if TYPE_CHECKING:
    from hotswap_cli.core.config.configrepo import EnvironmentPolicy, Settings
    from hotswap_cli.core.versions.git import GitRepo


@dataclass(frozen=True)
class TrustRoot:
    """Approvers and policy from a place the version under approval cannot change."""

    approvers: Approvers
    settings: Settings
    rev: str | None  # the protected revision the files came from (None: operator's file only)


def default_branch(git_repo: GitRepo, settings: Settings) -> str:
    if settings.default_branch:
        return settings.default_branch
    head = git_repo.git("symbolic-ref", "--quiet", f"refs/remotes/{REMOTE}/HEAD", check=False).stdout.strip()
    return head.rsplit("/", 1)[-1] if head else "main"


def protected_rev(git_repo: GitRepo, settings: Settings, *, fetch: bool = True) -> str | None:
    """`origin/<default>` after fetching it, else the local default branch; None if neither exists."""
    branch = default_branch(git_repo, settings)
    if git_repo.has_remote(REMOTE):
        if fetch:
            git_repo.git("fetch", "--quiet", REMOTE, f"+refs/heads/{branch}:refs/remotes/{REMOTE}/{branch}")
        candidates = [f"refs/remotes/{REMOTE}/{branch}"]
    else:
        candidates = [f"refs/heads/{branch}"]
    for ref in candidates:
        if git_repo.git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False).returncode == 0:
            return ref
    return None


def load_trust_root(git_repo: GitRepo, settings: Settings, approvers_path: Path | None = None, *,
                    fetch: bool = True) -> TrustRoot:
    """Read approvers (and hotswap.yaml policy) from the protected revision or the operator's file."""
    from hotswap_cli.core.config.configrepo import ConfigRepo

    rev = protected_rev(git_repo, settings, fetch=fetch)
    trusted_settings = settings
    if rev is not None:
        trusted_settings = ConfigRepo(git_repo.source_at(rev)).settings
    if approvers_path is None and os.environ.get(APPROVERS_ENV):
        approvers_path = Path(os.environ[APPROVERS_ENV])
    if approvers_path is not None:
        try:
            text = approvers_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read approvers file {approvers_path}: {exc.strerror}") from None
        return TrustRoot(parse_approvers(text, str(approvers_path)), trusted_settings, rev)
    if rev is None:
        raise ConfigError("no trusted approvers file: the default branch does not exist yet",
                          hint=f"commit to {default_branch(git_repo, settings)} or pass --approvers PATH")
    path = git_repo.repo_path(trusted_settings.approvers_file)
    shown = git_repo.git("show", f"{rev}:{path}", check=False)
    text = shown.stdout if shown.returncode == 0 else ""
    return TrustRoot(parse_approvers(text, f"{rev}:{path}"), trusted_settings, rev)


def environment_policy(git_repo: GitRepo, trust: TrustRoot, profile: Profile) -> EnvironmentPolicy:
    """The stricter of the profile's environment as given and as on the protected branch: a change
    cannot lower its own quorum by moving the profile to Development."""
    from hotswap_cli.core.config.configrepo import ConfigRepo

    envs = {profile.environment}
    if trust.rev is not None:
        try:
            src = read_profile(ConfigRepo(git_repo.source_at(trust.rev)), profile.name)
            envs.add(str((src.meta.data or {}).get("environment")))
        except Exception:  # noqa: BLE001 - a new or unreadable profile there: the given one stands
            pass
    policies = [trust.settings.environments[e] for e in sorted(envs) if e in trust.settings.environments]
    return max(policies, key=lambda p: p.approvals)
