"""Approvals: verify approval tags against the trust root, decide quorum, make a new approval."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotswap_cli.core.approvals.approvers import REMOTE
from hotswap_cli.core.approvals.signing import SignatureCheck, TagRef, commit_signatures, list_tags, verify_tag
from hotswap_cli.core.approvals.trust import TrustRoot, load_trust_root
from hotswap_cli.core.config.profile import build_profile, read_profile
from hotswap_cli.core.versions.release import require_profile
from hotswap_cli.core.versions.remote import approvals_fetch_command, missing_versions
from hotswap_cli.errors import ApprovalError, RepoError, UsageError
from hotswap_cli.model import VERSION_PATTERN, Profile

if TYPE_CHECKING:
    from hotswap_cli.core.config.configrepo import EnvironmentPolicy
    from hotswap_cli.core.versions.git import GitRepo

VALID = "valid"
_VERSION_RE = re.compile(VERSION_PATTERN)


@dataclass(frozen=True)
class Approval:
    """One approval tag and what it is worth: status is `valid` or why it does not count."""

    tag: str
    approver: str
    roles: tuple[str, ...]
    date: float | None
    comment: str
    status: str  # valid | unsigned | bad signature | unknown key | points at another commit |
    #              points at another version | signer not allowed | self-approval | expired
    detail: str = ""
    kind: str = ""  # ssh | gpg

    @property
    def valid(self) -> bool:
        return self.status == VALID

    def to_dict(self) -> dict[str, Any]:
        return {"tag": self.tag, "approver": self.approver, "roles": list(self.roles),
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.date)) if self.date else None,
                "comment": self.comment, "status": self.status, "detail": self.detail, "key": self.kind}


@dataclass(frozen=True)
class QuorumReport:
    """Whether a version has the approvals its environment requires, and from whom."""

    profile: str
    version: str
    commit: str
    environment: str
    required: int
    roles: tuple[str, ...]
    approvals: tuple[Approval, ...]  # every approval tag, with its status
    valid: tuple[Approval, ...]  # the ones that count: valid, one per approver
    since: str | None  # the previous approved version (authors are counted from there)
    authors: tuple[str, ...]  # who may not approve: verified signers when signed, else git authors
    trust_source: str
    require_signed_commits: bool = False  # the environment's policy switch
    signed: bool = False  # self-approval judged on verified commit signers, not the author field
    breaking: tuple[str, ...] = ()  # why the version is a breaking change (then `required` includes the extra)
    breaking_roles: tuple[str, ...] = ()  # breaking: the extra approvals must come from these roles
    breaking_extra: int = 0

    @property
    def met(self) -> bool:
        return len(self.valid) >= self.required and self._role_short() <= 0

    def _role_short(self) -> int:
        """Breaking with `roles`: how many more approvals from those roles it needs."""
        if not self.breaking or not self.breaking_roles:
            return 0
        have = sum(1 for a in self.valid if set(a.roles) & set(self.breaking_roles))
        return max(1, self.breaking_extra) - have

    @property
    def missing(self) -> str:
        short, by_role = self.required - len(self.valid), self._role_short()
        parts = []
        if by_role > 0:
            parts.append(f"{by_role} approval{'s' if by_role > 1 else ''} from roles "
                         f"{', '.join(self.breaking_roles)} (a breaking change)")
            short -= by_role
        if short > 0:
            who = f"roles {', '.join(self.roles)}" if self.roles else "any approver"
            parts.append(f"{short} more approval{'s' if short > 1 else ''} from {who}")
        return " and ".join(parts) or "nothing"

    def summary(self) -> str:
        by = ", ".join(f"{a.approver} ({', '.join(a.roles) or 'no role'})" for a in self.valid) or "nobody"
        why = f"; breaking ({'; '.join(self.breaking)}): {self.required} required" if self.breaking else ""
        return f"approved by: {by}; missing: {self.missing}{why}"

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "version": self.version, "commit": self.commit,
                "environment": self.environment, "required": self.required, "roles": list(self.roles),
                "met": self.met, "approved_by": [a.approver for a in self.valid], "missing": self.missing,
                "since": self.since, "authors": list(self.authors), "trust_source": self.trust_source,
                "require_signed_commits": self.require_signed_commits,
                "self_approval_by": "commit signers" if self.signed else "commit authors",
                "breaking": list(self.breaking), "breaking_roles": list(self.breaking_roles),
                "approvals": [a.to_dict() for a in self.approvals]}


@dataclass
class ApprovalContext:
    """What one check shares: the trust root, the profile's versions and tags, caches."""

    git_repo: GitRepo
    trust: TrustRoot
    profile: str
    policy: EnvironmentPolicy
    versions: dict[str, str]  # version -> commit
    tags: list[TagRef]
    checks: dict[str, SignatureCheck] = field(default_factory=dict)
    approved: dict[str, bool] = field(default_factory=dict)
    signed: bool = False  # signed commits required: self-approval goes by verified signer


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def resolve_version(git_repo: GitRepo, profile: str, version: str) -> str:
    """The commit of version tag <profile>/<version>, fetched from origin with the profile's
    approval tags when this clone lacks it (a CI checkout, a version released since the clone).
    ConfigError for an unknown profile; ApprovalError when the version exists neither here nor on
    origin; RepoError naming the git command when origin could not be read."""
    if not _VERSION_RE.match(version):
        raise UsageError(f"invalid version {version!r}: use X.Y.Z, e.g. 1.2.0")
    require_profile(git_repo, profile)
    git_repo.ensure_versions(profile, approvals=True, want=f"{profile}/{version}")
    try:
        return git_repo.resolve(f"refs/tags/{profile}/{version}")
    except RepoError:
        pass
    error = missing_versions(git_repo, profile, f"version {version} of {profile} is not")
    if error is not None:
        raise error
    if git_repo.has_remote(REMOTE):
        raise ApprovalError(f"version {version} of {profile} does not exist in this clone or on {REMOTE}",
                            hint=f"`hotswap versions {profile}` lists them; `git fetch --tags {REMOTE}` "
                                 "brings every tag")
    raise ApprovalError(f"version {version} of {profile} does not exist",
                        hint=f"`hotswap versions {profile}` lists them")


def fetch_approvals(git_repo: GitRepo, profile: str) -> None:
    """Bring the remote's approval and version tags of a profile (approvals may be re-signed
    there), once per GitRepo; RepoError naming the git command when origin cannot be read."""
    state = git_repo.ensure_versions(profile, approvals=True)
    if state.error is not None:
        raise RepoError(f"cannot read the approvals of {profile} on {REMOTE} ({state.error}): "
                        f"run `{approvals_fetch_command(profile)}`", hint=state.hint)


def approval_context(git_repo: GitRepo, profile: Profile, approvers_path: Path | None, fetch: bool,
                     trust: TrustRoot | None = None, *, signed: bool = False) -> ApprovalContext:
    """The trust decision for `profile` (its approvers, and the policy of the stricter of its trusted
    and its declared environment) with the profile's versions and approval tags. `signed` (or the
    policy's require_signed_commits) judges self-approval on verified commit signers."""
    if fetch:
        fetch_approvals(git_repo, profile.name)
    trust = trust or load_trust_root(git_repo, approvers_path, fetch=fetch)
    versions = {t.name.rsplit("/", 1)[1]: t.commit for t in list_tags(git_repo, f"{profile.name}/")
                if t.name.count("/") == 1 and _VERSION_RE.match(t.name.rsplit("/", 1)[1])}
    policy = trust.policy_for(profile.name, profile.environment)
    return ApprovalContext(git_repo, trust, profile.name, policy, versions,
                           list_tags(git_repo, f"approvals/{profile.name}/"),
                           signed=signed or policy.require_signed_commits)


def input_paths(git_repo: GitRepo, commit: str, profile: str) -> list[str] | None:
    """Git paths the profile's rendered config is made of at `commit`; None when unknown."""
    from hotswap_cli.core.config.configrepo import ConfigRepo
    from hotswap_cli.core.config.render import template_chain

    try:
        repo = ConfigRepo(git_repo.source_at(commit))
        built = build_profile(repo, read_profile(repo, profile))
        files = [built.directory, *(d.file for d in template_chain(repo, built.extends, (profile,)))]
        schema = repo.schema_file(built.schema)
    except Exception:  # noqa: BLE001 - falling back to every commit is the stricter choice
        return None
    return [git_repo.repo_path(f) for f in (*files, *([schema] if schema else []))]


def authors(git_repo: GitRepo, commit: str, since_commit: str | None, paths: list[str] | None) -> set[str]:
    """Author, committer and co-author emails of the commits in since..commit touching `paths`.
    Nothing checks these fields: anyone can commit as anyone (see `signers`)."""
    fmt = "%ae%x1f%ce%x1f%(trailers:key=Co-authored-by,valueonly,separator=%x1f)%x1e"
    rev = f"{since_commit}..{commit}" if since_commit else commit
    git_repo.ensure_history(rev, why="the self-approval check")  # a commit cut off is an author missed
    out = git_repo.git("log", f"--format={fmt}", rev, "--", *(paths or [])).stdout
    emails = set()
    for value in re.split(r"[\x1e\x1f]", out):
        value = value.strip()
        match = re.search(r"<([^>]+)>", value)
        if match or "@" in value:
            emails.add((match.group(1) if match else value).lower())
    return emails


def signers(ctx: ApprovalContext, commit: str, since_commit: str | None, paths: list[str] | None) -> set[str]:
    """The principals of every approver whose key verifiably signed a commit in since..commit
    touching `paths`. Commits nobody listed signed add no one here; the signed-commits check
    refuses them."""
    rev = f"{since_commit}..{commit}" if since_commit else commit
    signatures = commit_signatures(ctx.git_repo, rev, ctx.trust.approvers, paths)
    return {p.lower() for c in signatures for p in c.principals}


def _is_ancestor(git_repo: GitRepo, older: str, newer: str) -> bool:
    git_repo.ensure_history(newer, f"^{older}", why="finding the previous version")
    return git_repo.git("merge-base", "--is-ancestor", older, newer, check=False).returncode == 0


def previous_version(ctx: ApprovalContext, version: str, *, approved: bool) -> str | None:
    """The nearest lower version whose commit is an ancestor of this one (and approved, if asked)."""
    commit = ctx.versions[version]
    for older in sorted(ctx.versions, key=version_key, reverse=True):
        if version_key(older) >= version_key(version) or not _is_ancestor(ctx.git_repo, ctx.versions[older], commit):
            continue
        if not approved or _was_approved(ctx, older):
            return older
    return None


def _was_approved(ctx: ApprovalContext, version: str) -> bool:
    """Quorum at the time: expiry ignored (an old approval was fresh when that version shipped)."""
    if version not in ctx.approved:
        ctx.approved[version] = False  # guards against cycles
        approvals, _, _ = evaluate(ctx, version, now=None)
        ctx.approved[version] = len(counted(approvals)) >= ctx.policy.approvals
    return ctx.approved[version]


def counted(approvals: list[Approval]) -> tuple[Approval, ...]:
    """Valid approvals, one per approver."""
    seen: dict[str, Approval] = {}
    for a in approvals:
        if a.valid:
            seen.setdefault(a.approver, a)
    return tuple(seen.values())


def _comment(tag: TagRef) -> str:
    lines = [ln for ln in tag.body.splitlines() if not ln.startswith("Hotswap-")]
    return "\n".join(lines).strip()


def evaluate(ctx: ApprovalContext, version: str, now: float | None) -> tuple[list[Approval], set[str], str | None]:
    """Every approval tag of `version` with its status, the authors, and the base version."""
    commit = ctx.versions[version]
    since = previous_version(ctx, version, approved=True)
    base = ctx.versions[since] if since else None
    paths = input_paths(ctx.git_repo, commit, ctx.profile)
    who = signers(ctx, commit, base, paths) if ctx.signed else authors(ctx.git_repo, commit, base, paths)
    prefix = f"approvals/{ctx.profile}/{version}/"
    out = []
    for tag in (t for t in ctx.tags if t.name.startswith(prefix)):
        if tag.object not in ctx.checks:
            ctx.checks[tag.object] = verify_tag(ctx.git_repo, tag, ctx.trust.approvers)
        out.append(judge(ctx, tag, ctx.checks[tag.object], commit, prefix, who, now))
    return out, who, since


def judge(ctx: ApprovalContext, tag: TagRef, check: SignatureCheck, commit: str, prefix: str, who: set[str],
           now: float | None) -> Approval:
    approver = check.approver
    name = approver.name if approver else (check.principal or tag.tagger_email or tag.name.rsplit("/", 1)[-1])
    roles = approver.roles if approver else ()
    allowed = ctx.policy.roles
    status, detail = VALID, check.detail
    if check.state != "good":
        status = {"unsigned": "unsigned", "bad": "bad signature", "unknown": "unknown key"}[check.state]
    elif tag.commit != commit:
        status, detail = "points at another commit", f"tag is on {tag.commit[:12]}, version is {commit[:12]}"
    elif not tag.header_name.startswith(prefix):
        status, detail = "points at another version", f"signed as {tag.header_name}"
    elif allowed and not set(roles) & set(allowed):
        status, detail = "signer not allowed", f"roles {', '.join(roles) or 'none'}; needs {', '.join(allowed)}"
    elif approver and {p.lower() for p in approver.principals} & who:
        status, detail = "self-approval", (f"the approver {'signed commits' if ctx.signed else 'authored changes'} "
                                           "in this version")
    elif now is not None and ctx.policy.max_age and tag.date and now - tag.date > ctx.policy.max_age:
        status, detail = "expired", f"older than {ctx.policy.max_age / 86400:g} day(s)"
    return Approval(tag.name, name, roles, tag.date, _comment(tag), status, detail,
                    approver.kind if approver else "")


def check_quorum(git_repo: GitRepo, profile: Profile, version: str, *, approvers_path: Path | None = None,
                 now: float | None = None, fetch: bool = True, trust: TrustRoot | None = None,
                 expiry: bool = True, signed: bool = False) -> QuorumReport:
    """The deploy gate: every approval of `version` checked; an unmet quorum is data, not an error.
    `expiry=False` counts approvals however old (rollback: they were fresh when it shipped)."""
    commit = resolve_version(git_repo, profile.name, version)
    ctx = approval_context(git_repo, profile, approvers_path, fetch, trust, signed=signed)
    ctx.versions[version] = commit
    approvals, who, since = evaluate(ctx, version, (time.time() if now is None else now) if expiry else None)
    policy = ctx.policy
    breaking: tuple[str, ...] = ()
    if policy.breaking_approvals or policy.breaking_roles:
        from hotswap_cli.core.approvals.breaking import breaking_reasons

        breaking = tuple(breaking_reasons(git_repo, profile.name, version,
                                          previous_version(ctx, version, approved=False),
                                          ctx.trust.settings.schema_compatibility))
    required = policy.approvals + (policy.breaking_approvals if breaking else 0)
    return QuorumReport(profile.name, version, commit, policy.name, required,
                        policy.roles, tuple(approvals), counted(approvals), since, tuple(sorted(who)),
                        ctx.trust.approvers.source, policy.require_signed_commits, ctx.signed,
                        breaking, policy.breaking_roles, policy.breaking_approvals)


def require_quorum(report: QuorumReport) -> None:
    """What `approvals --check` and deploy do with a report: raise ApprovalError when short."""
    if not report.met:
        raise ApprovalError(f"{report.profile} {report.version} is short of its quorum "
                            f"({report.required} required): {report.summary()}")
