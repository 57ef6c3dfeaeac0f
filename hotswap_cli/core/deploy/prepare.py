"""Deploy and rollback: decide everything (version, config, approvals, plan) before touching an
instance, then run the plan under the profile's lock and record the outcome in the ledger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotswap_cli.core.config.configrepo import ConfigRepo
from hotswap_cli.core.config.profile import bake_for, build_profile, read_profile
from hotswap_cli.errors import ApprovalError, RepoError, SecretError, UsageError, ValidationFailed
from hotswap_cli.model import HealthPolicy, JsonPath, Plan, Profile, StrategySpec, config_hash, format_path
from hotswap_cli.specs import Target, check_env

if TYPE_CHECKING:
    from hotswap_cli.core.approvals.quorum import QuorumReport
    from hotswap_cli.core.approvals.trust import TrustRoot
    from hotswap_cli.core.config.inventory import Inventory
    from hotswap_cli.core.config.render import Rendered
    from hotswap_cli.core.deploy.journal import Journal
    from hotswap_cli.core.deploy.plan import Estimate, Minimums
    from hotswap_cli.core.deploy.promotion import Gates
    from hotswap_cli.core.versions.git import GitRepo


@dataclass(frozen=True)
class DeployOptions:
    """What the command line asked for; None means "as the profile says"."""

    version: str | None = None  # X.Y.Z; default: the latest released version
    rev: str | None = None  # any git revision instead of a version (not in Production)
    strategy: str | None = None
    steps: tuple[float, ...] | None = None
    pauses: tuple[tuple[float, float], ...] = ()  # with `steps`: (step %, seconds; inf: until resumed)
    batch: str | None = None
    concurrency: int | None = None
    bake: float | None = None
    interval: float | None = None
    targets: tuple[str, ...] | None = None
    approvers_path: Path | None = None
    approval_expiry: bool = True  # False for rollback: approvals count however old (fresh when it shipped)
    require_signed_commits: bool = False  # also the environment policy's switch
    defer_approvals: bool = False  # --dry-run: a missing approval is kept on the Deployment, shown with the plan
    paced: bool = True  # False for rollback: fast and unbaked whatever the environment's minimum bake
    gates: bool = True  # freeze windows and the promotion gate; False for rollback (undoing is always allowed)
    now: float | None = None  # the clock those gates read (tests); None: now


@dataclass(frozen=True)
class Deployment:
    """Everything decided before any instance is touched."""

    profile: Profile
    version: str  # "1.2.0", or the revision asked for
    commit: str
    rendered: Any  # as stored in git: secret fields still ENC[...]
    schema: dict[str, Any]
    config: Any = field(repr=False)  # what is pushed: secrets decrypted, in memory only
    sha256: str  # config_hash(config): what instances report once they run it
    plan: Plan
    estimate: Estimate
    quorum: QuorumReport | None = None
    released: bool = True
    version_names: dict[str, str] = field(default_factory=dict)  # config sha256 -> version name
    allowed_env: frozenset[str] = frozenset()  # environment variables header values may use
    notes: tuple[str, ...] = ()  # shown with the plan
    recovers: Journal | None = None  # rollback: the open journal of a run that died or left instances unknown
    payloads: dict[str, bytes] = field(default_factory=dict, repr=False)  # target -> its bytes (secrets in)
    warnings: tuple[str, ...] = ()  # worth a second thought before confirming (a version that was reverted)
    approval_error: ApprovalError | None = None  # with defer_approvals: why it may not be deployed (exit 4)
    overrides: tuple[str, ...] = ()  # gates an emergency override let it through (freeze, promotion): recorded
    inventory: Inventory | None = None  # targets_from: where the target list came from (shown with the plan)
    ledger_seen: frozenset[str] = frozenset()  # ids of the profile's ledger records, read before the live reads

    def payload_sha256(self) -> dict[str, str]:
        """Target -> sha256 of the bytes it receives: what `status` recognises a text payload by."""
        from hotswap_cli.core.config.payload import payload_sha256

        return {name: payload_sha256(data) for name, data in self.payloads.items()}

    @property
    def targets(self) -> tuple[Target, ...]:
        return self.plan.targets


def open_git(root: Path) -> GitRepo:
    from hotswap_cli.core.versions.git import GitRepo

    return GitRepo(root)


def resolve(git_repo: GitRepo, profile_name: str, options: DeployOptions) -> tuple[str, str, bool]:
    """(version label, commit, released) for what is to be deployed."""
    from hotswap_cli.core.versions.release import latest_version, no_released_version, resolve_version

    if options.rev is not None:
        if options.version is not None:
            raise UsageError("give a VERSION or --rev, not both")
        return options.rev, git_repo.resolve(options.rev), False
    if options.version is not None:
        v = resolve_version(git_repo, profile_name, options.version)
        return v.version, v.commit, True
    latest = latest_version(git_repo, profile_name)
    if latest is None:
        raise no_released_version(git_repo, profile_name)
    return latest.version, latest.commit, True


def prepare(root: Path, profile_name: str, options: DeployOptions, *, git_repo: GitRepo | None = None) -> Deployment:
    """Resolve, render, validate, decrypt, check approvals and build the plan. No instance I/O."""
    from hotswap_cli.core.config.payload import render_payloads
    from hotswap_cli.core.config.render import render_profile
    from hotswap_cli.core.config.validate import check_profile_meta, check_rendered
    from hotswap_cli.core.deploy.plan import build_plan, check_minimums, estimate, plan_notes
    from hotswap_cli.core.secrets.crypto import decrypt_config
    from hotswap_cli.core.versions.release import require_profile

    git_repo = git_repo or open_git(root)
    require_profile(git_repo, profile_name)  # first: a typo is not a missing version
    version, commit, released = resolve(git_repo, profile_name, options)
    at = ConfigRepo(git_repo.source_at(commit), root=None)
    src = read_profile(at, profile_name)
    problems = check_profile_meta(at, src)
    profile = build_profile(at, src) if not problems else None
    rendered = render_profile(at, profile) if profile else None
    if profile and rendered:
        problems = check_rendered(at, profile, rendered)
    if problems or profile is None or rendered is None:
        raise ValidationFailed(f"{profile_name} {version} does not validate: {problems[0]}",
                               hint="fix it and release a new version")
    from hotswap_cli.core.approvals.trust import load_trust_root

    trust = load_trust_root(git_repo, options.approvers_path, fetch=True)
    quorum, approval_error = approval_status(git_repo, profile, version, released, options.approvers_path,
                                             options.require_signed_commits, expiry=options.approval_expiry,
                                             trust=trust)
    if approval_error is not None and not options.defer_approvals:
        raise approval_error
    gates = _gates(git_repo, trust, profile, version, commit, released, quorum, options)
    if gates.error is not None and not options.defer_approvals:
        raise gates.error
    approval_error, quorum = approval_error or gates.error, quorum or gates.quorum
    allowed_env = trust.allowed_env()
    from hotswap_cli.core.config.inventory import with_inventory

    profile, inventory = with_inventory(profile, src.meta.data or {}, allowed_env)  # targets_from: read now
    check_env(profile.targets, allowed_env)
    schema, _ = at.load_schema(profile.schema)
    config = decrypt_config(rendered.data, schema, lambda path: rendered.locate(path).file)
    targets = select_targets(profile, options.targets)
    payloads = render_payloads(at, profile, config, targets)
    strategy, health = strategy_for(profile.strategy, options), health_for(profile.health, options)
    if options.paced:
        check_minimums(minimums_for(trust, trust.policy_for(profile.name, profile.environment).name),
                       _overrides(profile, options, strategy, health))
    plan = build_plan(profile.name, version, strategy, targets, health)
    notes = legacy_secrets(trust, rendered, schema) + plan_notes(strategy, targets) + schema_notes(profile, schema)
    if quorum is not None and quorum.breaking:
        notes += (f"breaking change ({'; '.join(quorum.breaking)}): {quorum.required} approval(s) required"
                  + (f", from roles {', '.join(quorum.breaking_roles)}" if quorum.breaking_roles else ""),)
    notes += gates.notes
    records = _ledger_records(git_repo, profile.name)
    warning = reverted_warning(records, version)
    return Deployment(profile, version, commit, rendered.data, schema, config, config_hash(config), plan,
                      estimate(plan), quorum, released, live_version_names(git_repo, profile.name, records),
                      allowed_env, notes, payloads=payloads, warnings=(warning,) if warning else (),
                      approval_error=approval_error, overrides=gates.overrides, inventory=inventory,
                      ledger_seen=frozenset(str(r.get("id")) for r in records))


def _gates(git_repo: GitRepo, trust: TrustRoot, profile: Profile, version: str, commit: str, released: bool,
           quorum: QuorumReport | None, options: DeployOptions) -> Gates:
    """Freeze windows and the promotion gate (core/deploy/promotion), for a deploy; a rollback passes."""
    from hotswap_cli.core.deploy.promotion import Gates, check_gates

    if not options.gates:
        return Gates()
    if trust.policy_for(profile.name, profile.environment).requires:  # it walks deployed..commit
        git_repo.ensure_history(commit, why="the promotion gate")
    return check_gates(git_repo, trust, profile, version, commit, released, quorum, now=options.now,
                       expiry=options.approval_expiry)


def _ledger_records(git_repo: GitRepo, profile: str) -> list[dict[str, Any]]:
    """The profile's ledger, newest first, origin's included when it can be fetched."""
    from hotswap_cli.core.deploy import ledger

    ledger.refresh(git_repo)  # offline: the local ledger
    return ledger.read_records(git_repo, profile, summaries=True)


def minimums_for(trust: TrustRoot, environment: str) -> Minimums:
    """The environment's least bake and interval for command-line overrides: its policy's
    `min_bake` / `min_interval` (hotswap.yaml on the trusted ref: a branch cannot lower them; a
    production environment defaults to 30s and 1s, any other to none)."""
    from hotswap_cli.core.deploy.plan import Minimums

    policy = trust.settings.environments.get(environment)
    if policy is None:
        return Minimums(environment)
    return Minimums(environment, bake=policy.min_bake, interval=policy.min_interval)


def _overrides(profile: Profile, options: DeployOptions, strategy: StrategySpec,
               health: HealthPolicy) -> dict[str, tuple[float, float, str]]:
    """(the profile's, the asked, the option) for the bake and interval the command line changed."""
    from hotswap_cli.durations import format_duration

    def shown(seconds: float) -> str:
        return format_duration(seconds) if seconds else "0s"

    out = {}
    if strategy.bake != profile.strategy.bake:
        option = f"--bake {shown(options.bake)}" if options.bake is not None else f"--{options.strategy}"
        out["bake"] = (profile.strategy.bake, strategy.bake, option)
    if health.interval != profile.health.interval:
        out["interval"] = (profile.health.interval, health.interval, f"--interval {shown(health.interval)}")
    return out


_REVERTED = ("reverted", "revert_failed", "aborted")


def reverted_warning(records: list[dict[str, Any]], version: str, *, now: float | None = None) -> str | None:
    """Why deploying `version` deserves a second thought, from the ledger (`records` newest first):
    its latest deploy was reverted (a failed gate, an abort, a revert that failed), or a rollback
    replaced it after it went live. A run that changed nothing or was interrupted says nothing
    about the version and is passed over."""
    replaced: dict[str, Any] | None = None
    for record in records:
        status = record.get("status")
        if record.get("version") != version:
            if replaced is None and record.get("kind") == "rollback" and status == "completed":
                replaced = record
            continue
        if status in _REVERTED and record.get("kind", "deploy") == "deploy":
            reason = str(record.get("reason") or status)
            reason = reason if len(reason) <= 160 else reason[:157] + "..."
            return (f"{version} was reverted {_when(record, now)} ({record.get('id')}: {reason}); "
                    "deploying it again may fail the same way")
        if status == "completed":
            if replaced is not None:
                return (f"{version} was rolled back to {replaced.get('version')} {_when(replaced, now)} "
                        f"({replaced.get('id')}); deploying it again undoes that rollback")
            return None
    return None


def _when(record: dict[str, Any], now: float | None) -> str:
    """`2026-11-30T14:30:26Z (12m ago)` from a record's finish time."""
    import time
    from datetime import datetime

    from hotswap_cli.durations import format_duration

    stamp = str(record.get("finished_at") or record.get("started_at") or "")
    try:
        then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return f"at {stamp}" if stamp else "earlier"
    ago = max(0.0, (time.time() if now is None else now) - then)
    return f"at {stamp} ({format_duration(ago)} ago)"


def schema_notes(profile: Profile, schema: dict[str, Any]) -> tuple[str, ...]:
    """A deprecated schema is worth a line in the plan (a draft one never validates for Production)."""
    if schema.get("x-hotswap-status") == "deprecated":
        return (f"schema {profile.schema} is deprecated (x-hotswap-status): move the profile to a newer version",)
    return ()


def legacy_secrets(trust: TrustRoot, rendered: Rendered, schema: dict[str, Any]) -> tuple[str, ...]:
    """v1 secrets are bound to nothing, so a v1 value is only trusted where the trusted ref holds
    that same value, in that same file at that same path: a copy made on a branch is refused."""
    from hotswap_cli.core.secrets.crypto import legacy_paths, secret_values

    paths = legacy_paths(rendered.data, schema)
    if not paths:
        return ()
    values = dict(secret_values(rendered.data, schema))
    trusted = trust.repo
    for path in paths:
        file = rendered.locate(path).file
        doc = trusted.document(file) if trusted is not None else None
        if doc is None or _value_at(doc.data, path) != values[path]:
            raise SecretError(f"{file} {format_path(path)}: a v1 secret (not bound to where it stands) that the "
                              f"trusted ref ({trust.source}) does not hold there; nothing was sent",
                              hint="set it again with `hotswap secret set`, or re-encrypt with `hotswap secret rotate`")
    return (f"{len(paths)} secret(s) in the v1 format, not bound to where they stand: "
            "re-encrypt them with `hotswap secret rotate`",)


def _value_at(data: Any, path: JsonPath) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def check_approvals(git_repo: GitRepo, profile: Profile, version: str, released: bool,
                    approvers_path: Path | None, require_signed: bool = False, *,
                    expiry: bool = True, trust: TrustRoot | None = None) -> QuorumReport | None:
    """The deploy gate (see approval_status): the quorum report, or ApprovalError (exit 4)."""
    report, problem = approval_status(git_repo, profile, version, released, approvers_path, require_signed,
                                      expiry=expiry, trust=trust)
    if problem is not None:
        raise problem
    return report


def approval_status(git_repo: GitRepo, profile: Profile, version: str, released: bool,
                    approvers_path: Path | None, require_signed: bool = False, *, expiry: bool = True,
                    trust: TrustRoot | None = None) -> tuple[QuorumReport | None, ApprovalError | None]:
    """The deploy gate, on the one trust decision: the policy of the stricter of the profile's
    environment on the trusted ref and the one this version declares. ApprovalError (exit 4) when
    its quorum is not met, when signed commits are required and one is not, or when an unreleased
    revision asks for an environment that requires approvals (approvals are on versions)."""
    from hotswap_cli.core.approvals.approve import check_signed_commits
    from hotswap_cli.core.approvals.quorum import check_quorum, require_quorum
    from hotswap_cli.core.approvals.trust import load_trust_root

    trust = trust or load_trust_root(git_repo, approvers_path, fetch=True)
    policy = trust.policy_for(profile.name, profile.environment)
    if not released:
        hint = f"release it first (hotswap release {profile.name} X.Y.Z --rev {version}) and have it approved"
        if policy.production:  # an approval matter like the next one: a dry run still shows the plan
            return None, ApprovalError(f"{profile.name} answers to {policy.name}, a production environment "
                                       f"({trust.source}): only released versions are deployed", hint=hint)
        if policy.approvals > 0 or policy.require_signed_commits or require_signed:
            return None, ApprovalError(f"{profile.name} answers to {policy.name} ({trust.source}), which requires "
                                       f"{policy.approvals} approval(s): an unreleased revision cannot have them",
                                       hint=hint)
        return None, None
    if policy.approvals <= 0 and not policy.require_signed_commits and not require_signed:
        return None, None
    report = check_quorum(git_repo, profile, version, trust=trust, expiry=expiry, signed=require_signed)
    try:
        require_quorum(report)
    except ApprovalError as exc:
        return report, exc
    if require_signed or report.require_signed_commits:
        signed = check_signed_commits(git_repo, profile, version, trust=trust, fetch=False)
        if not signed.ok:
            return report, ApprovalError(f"{profile.name} {version}: {signed.summary()}")
    return report, None


def select_targets(profile: Profile, names: tuple[str, ...] | None) -> tuple[Target, ...]:
    if not names:
        return profile.targets
    known = {t.name: t for t in profile.targets}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"{profile.name} has no target(s) {', '.join(unknown)} "
                         f"(targets: {', '.join(known) or 'none'})")
    wanted = set(names)
    return tuple(t for t in profile.targets if t.name in wanted)


def strategy_for(spec: StrategySpec, options: DeployOptions) -> StrategySpec:
    """The profile's strategy with the command line's overrides on top."""
    out = spec
    if options.strategy is not None and options.strategy != spec.type:
        # a strategy chosen on the command line starts from its own defaults, not the profile's
        out = replace(out, type=options.strategy, steps=StrategySpec.steps, batch=StrategySpec.batch,
                      pauses=(), bake=float(bake_for(options.strategy, options.bake, out.bake)))
    if options.steps is not None:
        out = replace(out, steps=options.steps, pauses=options.pauses)
    if options.batch is not None:
        out = replace(out, batch=options.batch)
    if options.concurrency is not None:
        out = replace(out, concurrency=options.concurrency)
    if options.bake is not None:
        out = replace(out, bake=options.bake)
    return out


def health_for(policy: HealthPolicy, options: DeployOptions) -> HealthPolicy:
    return replace(policy, interval=options.interval) if options.interval is not None else policy


def payload_for(deployment: Deployment) -> Callable[[Target], bytes]:
    """The bytes each target receives, rendered when the deployment was prepared."""
    return lambda target: deployment.payloads[target.name]


def rollback_target(git_repo: GitRepo, profile: str, to: str | None) -> str:
    """The version to roll back to: --to, else the ledger's previous good version. The ledger only
    proposes: the version still has to pass the approval gate (records are evidence, not authority).
    After a run that ended with instances not restored or interrupted, "previous" is what the
    fleet ran before that run: the newest completed version, not the one before it."""
    from hotswap_cli.core.deploy import ledger

    if to is not None:
        return to
    records = ledger.read_records(git_repo, profile, summaries=True)
    good = [r for r in records if r.get("status") == "completed"]
    if not good:
        raise RepoError(f"{profile} has no successful deployment in the ledger to roll back from",
                        hint="name a version: hotswap rollback PROFILE --to X.Y.Z")
    if records[0].get("status") in ("revert_failed", "interrupted"):
        return str(good[0]["version"])
    current = good[0].get("version")
    for record in good[1:]:
        if record.get("version") != current:
            return str(record["version"])
    raise RepoError(f"{profile}: every successful deployment in the ledger is {current}; nothing earlier",
                    hint="name a version: hotswap rollback PROFILE --to X.Y.Z")


def recovery_plan(profile: str, open_journal: Journal) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """From an open journal: the version to put back, the instances to put it on (those the run
    may have touched and that ran it before), and notes on any instance it cannot restore."""
    touched = open_journal.touched()
    by_version: dict[str, list[str]] = {}
    notes = []
    for name, entry in sorted(touched.items()):
        if not entry.before.present:
            notes.append(f"{name} had no config before {open_journal.id}: left as it is (remove it by hand if needed)")
        elif entry.before.version is None:
            notes.append(f"{name} ran a config no version names (sha256 {str(entry.before.sha256)[:12]}) "
                         "before: left as it is")
        else:
            by_version.setdefault(entry.before.version, []).append(name)
    if not by_version:
        raise RepoError(f"{profile}: the interrupted {open_journal.describe()} touched no instance that ran a "
                        "known version before", hint=f"check them by hand, then `hotswap deploy {profile} --force` "
                        "(which closes the journal)" + (f"; {notes[0]}" if notes else ""))
    version, names = max(by_version.items(), key=lambda kv: len(kv[1]))
    for other, others in by_version.items():
        if other != version:
            notes.append(f"{', '.join(others)} ran {other} before: afterwards run "
                         f"`hotswap rollback {profile} --to {other} --targets {','.join(others)}`")
    return version, tuple(names), tuple(notes)


def prepare_rollback(root: Path, profile_name: str, to: str | None, *, targets: tuple[str, ...] | None = None,
                     approvers_path: Path | None = None, git_repo: GitRepo | None = None) -> Deployment:
    """A direct, no-bake push of an earlier version to every instance. The version must have met its
    quorum: approvals are counted however old (an expired one must not block an emergency), and a
    version that was never approved cannot be reached this way. Without --to, an open deploy
    journal (a run that died, or left instances unknown) decides: each instance it touched goes
    back to what it ran before that run."""
    from hotswap_cli.core.deploy import journal, ledger
    from hotswap_cli.core.versions.release import require_profile

    git_repo = git_repo or open_git(root)
    require_profile(git_repo, profile_name)  # first: a typo is not "no deployment in the ledger"
    if git_repo.has_remote():
        ledger.refresh(git_repo)  # offline or broken on origin: the local ledger still answers
    open_journal = journal.read_open(git_repo, profile_name) if to is None else None
    notes: tuple[str, ...] = ()
    if open_journal is not None:
        version, touched, notes = recovery_plan(profile_name, open_journal)
        targets = tuple(t for t in touched if targets is None or t in targets)
        notes = (f"recovering from the interrupted {open_journal.describe()}: {', '.join(targets)} "
                 f"go back to {version}, what they ran before it",) + notes
    else:
        open_journal = None
        version = rollback_target(git_repo, profile_name, to)
    options = DeployOptions(version=version, strategy="direct", bake=0.0, targets=targets,
                            approvers_path=approvers_path, approval_expiry=False, paced=False, gates=False)
    try:
        deployment = prepare(root, profile_name, options, git_repo=git_repo)
    except ApprovalError as exc:
        raise ApprovalError(f"rollback to {version}: {exc.message}", hint=exc.hint) from None
    return replace(deployment, notes=deployment.notes + notes, recovers=open_journal)


def live_version_names(git_repo: GitRepo, profile: str,
                       records: list[dict[str, Any]] | None = None) -> dict[str, str]:
    """sha256 -> version name, from the ledger (what was pushed: `records`, newest first, read
    here when not given) and from the version tags."""
    from hotswap_cli.core.deploy import ledger
    from hotswap_cli.core.versions.release import list_versions

    names: dict[str, str] = {}
    try:
        versions = list_versions(git_repo, profile)
    except RepoError:  # origin unreadable from a tagless clone: the ledger still names what it pushed
        versions = []
    for v in reversed(versions):
        names[v.sha256] = v.version
    if records is None:
        ledger.refresh(git_repo)  # name what others deployed too (offline: the local ledger)
        records = ledger.read_records(git_repo, profile, summaries=True)
    for record in reversed(records):
        if record.get("sha256") and record.get("status") == "completed":
            names[str(record["sha256"])] = str(record.get("version"))
            for sha in (record.get("payloads") or {}).values():  # text payloads: known by their bytes
                names[str(sha)] = str(record.get("version"))
    return names
