"""Making an approval (sign, then verify at once) and the signed-commits check."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotswap_cli.core.approvals.approvers import REMOTE
from hotswap_cli.core.approvals.quorum import (
    Approval,
    approval_context,
    evaluate,
    judge,
    previous_version,
    resolve_version,
)
from hotswap_cli.core.approvals.signing import (
    CommitSignature,
    commit_signatures,
    delete_tag,
    list_tags,
    sign_tag,
    signing_fingerprint,
    verify_tag,
)
from hotswap_cli.core.approvals.trust import TrustRoot
from hotswap_cli.core.config.profile import build_profile, load_profile, read_profile
from hotswap_cli.errors import ApprovalError

if TYPE_CHECKING:
    from hotswap_cli.core.config.configrepo import ConfigRepo
    from hotswap_cli.core.versions.git import GitRepo
    from hotswap_cli.model import Profile


def profile_at(git_repo: GitRepo, config_repo: ConfigRepo, name: str, commit: str) -> Profile:
    """The profile as the version defines it (falls back to the working tree's)."""
    from hotswap_cli.core.config.configrepo import ConfigRepo as Repo

    try:
        repo = Repo(git_repo.source_at(commit))
        return build_profile(repo, read_profile(repo, name))
    except Exception:  # noqa: BLE001 - a version whose profile no longer parses: use today's
        return load_profile(config_repo, name)


def approve(git_repo: GitRepo, config_repo: ConfigRepo, profile_name: str, version: str, *,
            comment: str = "", push: bool = False, approvers_path: Path | None = None,
            now: float | None = None, signed: bool = False) -> Approval:
    """Sign `approvals/<profile>/<version>/<approver>` on the version's commit, verified at once.
    `signed`: judge self-approval on who signed the commits, not on their author fields."""
    commit = resolve_version(git_repo, profile_name, version)
    profile = profile_at(git_repo, config_repo, profile_name, commit)
    ctx = approval_context(git_repo, profile, approvers_path, fetch=True, signed=signed)
    ctx.versions[version] = commit
    approvers = ctx.trust.approvers
    kind, fingerprints = signing_fingerprint(git_repo)
    approver = next((a for f in fingerprints if (a := approvers.by_fingerprint(f)) and a.kind == kind), None)
    if approver is None:
        raise ApprovalError(f"your signing key ({kind} {fingerprints[0]}) is not in the approvers file "
                            f"({approvers.source})", hint="ask a lead to add it on the default branch")
    allowed = ctx.policy.roles
    if allowed and not set(approver.roles) & set(allowed):
        raise ApprovalError(f"{approver.name} may not approve {ctx.policy.name} versions: roles "
                            f"{', '.join(approver.roles) or 'none'}, needs one of {', '.join(allowed)}")
    existing, who, since = evaluate(ctx, version, time.time() if now is None else now)
    if {p.lower() for p in approver.principals} & who:
        base = f"since {since}" if since else "(no earlier approved version)"
        did = "signed commits" if ctx.signed else "authored changes"
        raise ApprovalError(f"{approver.name} {did} in {profile_name} {version} {base}: "
                            "someone else must approve it (no self-approval)")
    if any(a.valid and a.approver == approver.name for a in existing):
        raise ApprovalError(f"{approver.name} has already approved {profile_name} {version}")
    name = f"approvals/{profile_name}/{version}/{approver.name}"
    if git_repo.git("check-ref-format", f"refs/tags/{name}", check=False).returncode != 0:
        raise ApprovalError(f"the principal {approver.name!r} cannot name a git tag",
                            hint="list the approver under a plain email address first on its line")
    clash = next((a for a in existing if a.tag == name), None)
    if clash is not None or git_repo.git("rev-parse", "--verify", "--quiet", f"refs/tags/{name}",
                                         check=False).returncode == 0:
        status = clash.status if clash else "exists"
        raise ApprovalError(f"tag {name} already exists ({status})",
                            hint=f"delete it with `git tag -d {name}` to approve again")
    message = (f"Approve {profile_name} {version}\n\n" + (comment.strip() + "\n\n" if comment.strip() else "")
               + f"Hotswap-Profile: {profile_name}\nHotswap-Version: {version}\nHotswap-Commit: {commit}\n")
    sign_tag(git_repo, name, commit, message)
    made = [t for t in list_tags(git_repo, name) if t.name == name]
    if not made:
        raise ApprovalError(f"git did not create {name}")
    tag = made[0]
    result = judge(ctx, tag, verify_tag(git_repo, tag, approvers), commit, f"approvals/{profile_name}/{version}/",
                    who, None)
    if not result.valid or result.approver != approver.name:
        delete_tag(git_repo, name)
        why = f"{result.status}: {result.detail}" if result.detail else result.status
        signer = "" if result.approver == approver.name else f" (signed by {result.approver})"
        raise ApprovalError(f"git wrote {name} but its signature does not verify ({why}){signer}; deleted it",
                            hint="check user.signingkey, gpg.format and your ssh/gpg agent")
    if push:
        git_repo.push_tags([name], REMOTE)
    return result


@dataclass(frozen=True)
class SignedCommitsReport:
    """Commits between the last deployed version and this one, and whether an allowed key signed each."""

    rev_range: str
    commits: tuple[CommitSignature, ...]

    @property
    def bad(self) -> tuple[CommitSignature, ...]:
        return tuple(c for c in self.commits if c.state != "good")

    @property
    def ok(self) -> bool:
        return not self.bad

    def summary(self) -> str:
        if self.ok:
            return f"all {len(self.commits)} commit(s) in {self.rev_range} are signed by allowed keys"
        listed = ", ".join(f"{c.commit[:12]} ({c.state}{': ' + c.signer if c.signer else ''})" for c in self.bad)
        return f"{len(self.bad)} commit(s) in {self.rev_range} lack a valid signature from an allowed key: {listed}"

    def to_dict(self) -> dict[str, Any]:
        return {"range": self.rev_range, "ok": self.ok,
                "commits": [{"commit": c.commit, "subject": c.subject, "state": c.state, "signer": c.signer}
                            for c in self.commits]}


def check_signed_commits(git_repo: GitRepo, profile: Profile, version: str, *, since_rev: str | None = None,
                         approvers_path: Path | None = None, fetch: bool = True,
                         trust: TrustRoot | None = None) -> SignedCommitsReport:
    """Every commit in since_rev..version (default: since the previous approved version, or the
    previous version when none was approved) against the trusted approvers' keys (any listed key,
    whatever its roles). The range never comes from the ledger: a forged record could shorten it."""
    commit = resolve_version(git_repo, profile.name, version)
    ctx = approval_context(git_repo, profile, approvers_path, fetch, trust)
    ctx.versions[version] = commit
    if since_rev is None:
        prev = previous_version(ctx, version, approved=True) or previous_version(ctx, version, approved=False)
        since = ctx.versions[prev] if prev else None
    else:
        since = git_repo.resolve(since_rev)
    rev_range = f"{since}..{commit}" if since else commit
    shown = f"{since_rev or (since[:12] if since else 'root')}..{profile.name}/{version}"
    return SignedCommitsReport(shown, tuple(commit_signatures(git_repo, rev_range, ctx.trust.approvers)))
