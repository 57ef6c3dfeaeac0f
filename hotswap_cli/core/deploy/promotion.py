"""The promotion gate: a change reaches an environment that `requires:` another only after it ran
there, healthy and not reverted, for `healthy_for`, judged from the ledger on the remote.

- The earlier profile: `<service>.<env>` is a profile's name; the same service's profile in the
  required environment is `<service>.<required, lower case>`, or else the one profile of that
  service whose environment (on the trusted ref) is the required one.
- "The same change": a run in the earlier profile at commit D carries version commit C when no
  commit in D..C changed a file both profiles are built from (templates both extend, the schema
  file both use): `git log D..C -- <shared>` is empty. With nothing shared, D must contain C.
- Evidence: the newest completed run there that carries the change; since then no completed
  rollback to something that does not carry it, no failed run of something that does; its time
  counts until now, or until a later completed deploy replaced it."""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hotswap_cli.errors import ApprovalError, ConfigError

if TYPE_CHECKING:
    from hotswap_cli.core.approvals.quorum import QuorumReport
    from hotswap_cli.core.approvals.trust import TrustRoot
    from hotswap_cli.core.config.configrepo import EnvironmentPolicy
    from hotswap_cli.core.versions.git import GitRepo
    from hotswap_cli.model import Profile

_FAILED = ("reverted", "revert_failed", "aborted", "interrupted")


@dataclass(frozen=True)
class Evidence:
    """What the ledger says about a change in the required environment."""

    profile: str  # the earlier environment's profile
    environment: str
    met: bool
    detail: str  # "ran 3h12m in web.staging since deploy-… (1.4.0), no revert", or what is missing
    record: str | None = None  # the run that carries the change there

    def describe(self) -> str:
        return self.detail


def upstream_profile(trust: TrustRoot, profile: str, environment: str) -> str:
    """The same service's profile in `environment`, as the trusted ref has it (see the module)."""
    return service_profile(trust, profile.rsplit(".", 1)[0] if "." in profile else profile, environment,
                           f"{profile} requires {environment} first, but ")


def service_profile(trust: TrustRoot, service: str, environment: str, why: str = "") -> str:
    """`<service>.<environment, lower case>` when the trusted ref has it in that environment, else
    the one profile named `<service>.*` there; ConfigError when there is none or several."""

    if trust.repo is None:
        raise ConfigError(f"{why}there is no trusted ref to find {service}'s {environment} profile on")
    names = trust.repo.profile_names()
    expected = f"{service}.{environment.lower()}"
    if expected in names and trust.environment_of(expected) == environment:
        return expected
    same = [n for n in names if n.rsplit(".", 1)[0] == service and trust.environment_of(n) == environment]
    if len(same) == 1:
        return same[0]
    if not same:
        raise ConfigError(f"{why}{trust.rev} has no {environment} profile of {service} (expected {expected})")
    raise ConfigError(f"{why}{service} has several {environment} profiles ({', '.join(same)}): name one {expected}")


class _Carrier:
    """Whether a commit run in the earlier profile carries the version's change (cached)."""

    def __init__(self, git_repo: GitRepo, profile: str, commit: str, upstream: str) -> None:
        from hotswap_cli.core.approvals.quorum import input_paths

        self.git_repo, self.commit, self.upstream = git_repo, commit, upstream
        self.mine = set(input_paths(git_repo, commit, profile) or [])
        self.cache: dict[str, bool] = {}

    def __call__(self, deployed: str) -> bool:
        if not deployed:
            return False
        if deployed not in self.cache:
            self.cache[deployed] = self._carries(deployed)
        return self.cache[deployed]

    def _carries(self, deployed: str) -> bool:
        from hotswap_cli.core.approvals.quorum import input_paths

        git = self.git_repo.git
        if deployed == self.commit:
            return True
        if git("cat-file", "-e", f"{deployed}^{{commit}}", check=False).returncode != 0:
            return False  # a commit this clone does not have cannot be judged
        theirs = input_paths(self.git_repo, deployed, self.upstream)
        shared = sorted(self.mine & set(theirs or []))
        if not shared:
            return git("merge-base", "--is-ancestor", self.commit, deployed, check=False).returncode == 0
        changed = git("log", "--format=%H", "-1", f"{deployed}..{self.commit}", "--", *shared).stdout.strip()
        return not changed


def shown(seconds: float) -> str:
    """`3h12m`, `12m`, `45s`, `2d3h`: a span as people say it (whole units, the two largest)."""
    left = int(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size or (unit == "s" and not parts):
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts[:2])


def _epoch(stamp: Any) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


def judge(records: list[dict[str, Any]], carries: Any, upstream: str, environment: str, healthy_for: float,
          now: float) -> Evidence:
    """The evidence in `records` (the earlier profile's ledger, newest first); `carries(commit)` tells
    whether a run's commit carries the change. Pure: tested from tables."""
    later: list[dict[str, Any]] = []
    found = None
    for record in records:
        if record.get("status") == "completed" and record.get("kind", "deploy") in ("deploy", "rollback") \
                and carries(str(record.get("commit") or "")):
            found = record
            break
        later.append(record)
    if found is None:
        failed = next((r for r in later if r.get("status") in _FAILED and carries(str(r.get("commit") or ""))), None)
        if failed is not None:
            return Evidence(upstream, environment, False,
                            f"it never completed in {upstream}: {failed.get('id')} was {failed.get('status')} "
                            f"at {failed.get('finished_at')}")
        return Evidence(upstream, environment, False, f"it was never deployed in {upstream}")
    rid, since = str(found.get("id")), _epoch(found.get("finished_at"))
    end, until = now, ""
    for record in reversed(later):  # oldest first
        kind, status = record.get("kind", "deploy"), record.get("status")
        carried = carries(str(record.get("commit") or ""))
        if kind == "rollback" and status == "completed" and not carried:
            return Evidence(upstream, environment, False,
                            f"it was reverted in {upstream} by {record.get('id')} (to {record.get('version')}) "
                            f"at {record.get('finished_at')}", rid)
        if status in _FAILED and carried:
            return Evidence(upstream, environment, False,
                            f"{record.get('id')} of {record.get('version')} in {upstream} was {status} "
                            f"at {record.get('finished_at')}", rid)
        if status == "completed" and not carried:
            end = _epoch(record.get("finished_at")) or now
            until = f" until {record.get('id')} replaced it"
            break
    ran = max(0.0, end - since) if since is not None else 0.0
    if ran < healthy_for:
        return Evidence(upstream, environment, False,
                        f"it ran only {shown(ran)} of {shown(healthy_for)} in {upstream} "
                        f"(since {rid} at {found.get('finished_at')}){until}", rid)
    return Evidence(upstream, environment, True,
                    f"ran {shown(ran)} in {upstream} since {rid} ({found.get('version')}){until}, no revert", rid)


def promotion_evidence(git_repo: GitRepo, trust: TrustRoot, policy: EnvironmentPolicy, profile: str, commit: str,
                       *, now: float | None = None) -> Evidence | None:
    """The gate for deploying `commit` to `profile` under `policy`: None when the policy requires no
    earlier environment; else the evidence, read from origin's ledger (the local one when offline)."""
    from hotswap_cli.core.deploy import ledger

    if not policy.requires:
        return None
    upstream = upstream_profile(trust, profile, policy.requires)
    ledger.refresh(git_repo)
    records = ledger.read_records(git_repo, upstream, summaries=True)
    return judge(records, _Carrier(git_repo, profile, commit, upstream), upstream, policy.requires,
                 policy.healthy_for, time.time() if now is None else now)


@dataclass(frozen=True)
class Gates:
    """The freeze and promotion gates for one deploy: notes for the plan, the overrides taken (for
    the ledger record), or why it may not go (exit 4)."""

    notes: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()
    error: ApprovalError | None = None
    quorum: QuorumReport | None = None  # counted here when the policy alone needs no approvals


def check_gates(git_repo: GitRepo, trust: TrustRoot, profile: Profile, version: str, commit: str, released: bool,
                quorum: QuorumReport | None, *, now: float | None = None, expiry: bool = True) -> Gates:
    """A freeze window in force, or missing promotion evidence, holds a deploy unless it has the
    policy's approvals plus the override's extra ones (`freeze_override_approvals`,
    `requires.override_approvals`; both when both hold). Then it goes, recorded as an override."""
    from hotswap_cli.core.config.freeze import frozen

    policy = trust.policy_for(profile.name, profile.environment)
    now = time.time() if now is None else now
    holds: list[tuple[str, int]] = []  # (why, extra approvals)
    notes: tuple[str, ...] = ()
    freeze = frozen(policy.freeze, now) if policy.freeze else None
    if freeze is not None:
        holds.append((f"{policy.name} is {freeze.describe()}", policy.freeze_override))
    evidence = promotion_evidence(git_repo, trust, policy, profile.name, commit, now=now)
    if evidence is not None and evidence.met:
        notes += (f"promotion: {evidence.detail}",)
    elif evidence is not None:
        holds.append((f"{policy.name} requires it to run healthy in {policy.requires} for {shown(policy.healthy_for)} "
                      f"first, and {evidence.detail}", policy.requires_override))
    if not holds:
        return Gates(notes)
    if released and quorum is None:
        from hotswap_cli.core.approvals.quorum import check_quorum

        quorum = check_quorum(git_repo, profile, version, trust=trust, expiry=expiry)
    base = quorum.required if quorum is not None else policy.approvals
    extra = sum(n for _, n in holds)
    have = len(quorum.valid) if quorum is not None else 0
    why = "; ".join(w for w, _ in holds)
    if released and have >= base + extra:
        who = ", ".join(a.approver for a in quorum.valid) if quorum is not None else ""
        return Gates(notes + (f"emergency override: {why}; it goes with {have} valid approval(s) "
                              f"({base} + {extra} for the override: {who})",), tuple(w for w, _ in holds),
                     quorum=quorum)
    how = (f"an override needs {base + extra} valid approval(s) ({base} + {extra}), it has {have}" if released
           else "an unreleased revision cannot have the approvals an override needs")
    hint = (f"approve it: hotswap approve {profile.name} {version}" if released
            else f"release it first (hotswap release {profile.name} X.Y.Z --rev {version})")
    return Gates(notes, (), ApprovalError(f"{profile.name} {version}: {why}: {how}", hint=hint), quorum)


@dataclass(frozen=True)
class Advance:
    """`hotswap advance SERVICE --to ENV`, decided: what ran where, and which version goes next."""

    source: str  # the earlier environment's profile
    source_record: str  # its newest completed run
    source_version: str
    commit: str
    target: str  # ENV's profile of the service
    environment: str
    version: str  # the target's version at `commit`: an existing one, or the one to release
    released: bool  # False: `version` is still to be released


def environment_before(trust: TrustRoot, environment: str) -> str:
    """Where a change comes from on its way to `environment`: its `requires:`, else the one before
    it in hotswap.yaml's promotion order."""
    envs = trust.settings.environments
    policy = envs[environment]
    if policy.requires:
        return policy.requires
    earlier = [p for p in envs.values() if p.order < policy.order]
    if not earlier:
        raise ConfigError(f"{environment} is the first environment in the promotion order: nothing comes before it")
    return max(earlier, key=lambda p: p.order).name


def plan_advance(git_repo: GitRepo, trust: TrustRoot, service: str, to: str) -> Advance:
    """The version that last completed in the environment before `to`, and the version of `to`'s
    profile at that same commit: the one already released there, else the next one to release
    (the earlier profile's version number when it is new and higher there, else the next minor)."""
    from hotswap_cli.core.deploy import ledger
    from hotswap_cli.core.versions.release import list_versions, semver_key

    envs = {name.lower(): name for name in trust.settings.environments}
    if to.lower() not in envs:
        raise ConfigError(f"no environment {to!r} in hotswap.yaml ({trust.source}): "
                          f"{', '.join(trust.settings.environments)}")
    environment = envs[to.lower()]
    target = service_profile(trust, service, environment)
    before = environment_before(trust, environment)
    source = service_profile(trust, service, before)
    ledger.refresh(git_repo)
    record = ledger.last_successful(git_repo, source)
    if record is None or not record.get("commit"):
        from hotswap_cli.errors import RepoError

        raise RepoError(f"nothing has completed in {source} ({before}) to advance to {environment}",
                        hint=f"deploy it there first: hotswap deploy {source}")
    commit, source_version = str(record["commit"]), str(record.get("version"))
    versions = list_versions(git_repo, target)
    same = [v for v in versions if v.commit == commit]
    if same:
        version, released = max((v.version for v in same), key=semver_key), True
    else:
        taken = {v.version for v in versions}
        latest = max((v.version for v in versions), key=semver_key, default=None)
        if semver_key(source_version) != (-1,) and source_version not in taken \
                and (latest is None or semver_key(source_version) > semver_key(latest)):
            version = source_version
        else:
            major, minor = semver_key(latest or "0.0.0")[:2]
            version = f"{major}.{minor + 1}.0"
        released = False
    return Advance(source, str(record.get("id")), source_version, commit, target, environment, version, released)
