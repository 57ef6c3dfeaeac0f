"""Run a prepared deployment: take the profile's lock, wire the backends to the runner, execute the
plan, record the outcome in the ledger, release the lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotswap_cli.core.deploy import journal as journals
from hotswap_cli.core.deploy.journal import Journal
from hotswap_cli.core.deploy.prepare import Deployment, open_git, payload_for
from hotswap_cli.errors import Interrupted, LockHeld
from hotswap_cli.ops.control import OrderPoller
from hotswap_cli.ops.journal import JournalKeeper
from hotswap_cli.ops.notify import notifier_for
from hotswap_cli.ops.timeline import Timeline
from hotswap_cli.runner.events import TeeSink
from hotswap_cli.specs import Target

if TYPE_CHECKING:
    from hotswap_cli.clock import Clock
    from hotswap_cli.core.deploy.lock import Holder as LockHolder
    from hotswap_cli.core.deploy.lock import Lock
    from hotswap_cli.core.versions.git import GitRepo
    from hotswap_cli.probes.base import Probe
    from hotswap_cli.runner.events import EventSink
    from hotswap_cli.runner.gate import Verdict
    from hotswap_cli.runner.results import DeployResult
    from hotswap_cli.runner.slot import PriorRead
    from hotswap_cli.transports.base import Transport


@dataclass(frozen=True)
class RunSettings:
    """How to run: lock waiting, the clock, where progress goes, and what cancels."""

    sink: EventSink
    cancel: threading.Event
    lock_wait: float = 0.0
    clock: Clock | None = None
    on_lock_wait: Callable[[LockHolder], None] | None = None
    open_transport: Callable[..., Transport] | None = None  # tests inject fakes at this seam
    open_probes: Callable[[Target], Sequence[Probe]] | None = None
    ask: Callable[[Verdict], bool] | None = None  # settles a paused (inconclusive) gate: True promotes
    force: bool = False  # deploy over an open journal (an interrupted run's instances stay as they are)
    prior: dict[str, PriorRead] | None = None  # the plan's reads, taken over when still true (prior_reads)


@dataclass(frozen=True)
class Outcome:
    result: DeployResult
    record: dict[str, Any]
    push_problem: str | None  # the ledger could not reach the remote (a warning, not a failure)
    problems: tuple[str, ...] = ()  # after the run: journal or lock could not be written (warnings)


def execute(root: Path, deployment: Deployment, settings: RunSettings, *, kind: str = "deploy",
            git_repo: GitRepo | None = None) -> Outcome:
    """Take the profile's lock, run the plan, record the run in the ledger, release the lock."""
    from hotswap_cli import telemetry
    from hotswap_cli.clock import SystemClock
    from hotswap_cli.core.deploy import ledger, lock
    from hotswap_cli.ops.backends import open_probes, open_transport
    from hotswap_cli.runner import rollback, run_plan

    git_repo = git_repo or open_git(root)
    plan = deployment.plan
    clock = settings.clock or SystemClock(settings.cancel)
    opener = settings.open_transport or partial(open_transport, allowed_env=deployment.allowed_env,
                                                    profile=plan.profile)
    wrap = None
    if deployment.inventory is not None:  # instances that registered themselves may leave mid-run
        from hotswap_cli.ops.registry import registered

        wrap = registered(deployment.inventory, deployment.allowed_env)
    if wrap is not None:
        opener = _wrapped(opener, wrap)
    probes = settings.open_probes or partial(open_probes, allowed_env=deployment.allowed_env)
    record_id = ledger.new_id(kind)
    waited: list[LockHolder] = []

    def on_wait(holder: LockHolder) -> None:
        waited.append(holder)
        if settings.on_lock_wait is not None:
            settings.on_lock_wait(holder)

    take = partial(lock.acquire, git_repo, plan.profile, wait=settings.lock_wait, purpose=f"{kind} {plan.version}",
                   on_wait=on_wait, clock=_LockWaitClock(settings.cancel))
    try:
        held = take()
    except LockHeld:
        # held by a run that died on this machine (kill -9): taken over, unless it left an open
        # journal that this run may not settle (then _check_journal says what to do)
        if not _dead_run_holds_lock(git_repo, plan.profile):
            raise
        _check_journal(git_repo, deployment, force=settings.force or kind == "rollback")
        held = take(force=True)
        waited.append(held.holder)
    with held:
        # best effort: an unreachable or broken ledger on origin must not stop a deploy (its record
        # is kept locally and the warning says why)
        fetch_problem = ledger.refresh(git_repo) if git_repo.has_remote() else None
        journals.close_if_settled(git_repo, plan.profile)
        dead = _check_journal(git_repo, deployment, force=settings.force or kind == "rollback")
        if dead is not None and deployment.recovers is None:  # --force, or rollback --to: the dead run is settled
            _settle_recovered(git_repo, dead, f"a forced {kind} ({record_id})")
        prior = settings.prior if kind == "deploy" and not waited and dead is None and \
            not _ran_since(git_repo, plan.profile, settings.prior, deployment.ledger_seen) else None
        span_name = "config.rollback" if kind == "rollback" else "config.deploy"
        keeper = JournalKeeper(git_repo, journals.new_journal(
            git_repo, record_id=record_id, kind=kind, profile=plan.profile, version=plan.version,
            sha256=deployment.sha256, strategy=plan.strategy, phases=len(plan.phases), total=len(plan.targets)),
            deployment.version_names)
        timeline = Timeline(plan.health)
        notifier = notifier_for(deployment, record_id, kind, git_repo=git_repo)
        sink = TeeSink(keeper, timeline, notifier, settings.sink)
        try:
            with telemetry.span(span_name, profile=plan.profile, version=plan.version, strategy=plan.strategy,
                                instances=len(plan.targets)) as span:
                traceparent = telemetry.traceparent_for_deploy()

                def transport(t: Target) -> Transport:
                    return opener(t, traceparent=traceparent)

                started = time.time()
                if kind == "rollback":
                    result = rollback(plan.profile, plan.version, plan.targets, payload_for(deployment),
                                      deployment.sha256, open_transport=transport, clock=clock, sink=sink,
                                      cancel=settings.cancel, concurrency=max(plan.concurrency, 50),
                                      open_probes=probes, health=plan.health)
                else:
                    poller = OrderPoller(git_repo, plan.profile, record_id)
                    try:
                        result = run_plan(plan, payload_for(deployment), deployment.sha256,
                                          open_transport=transport, open_probes=probes, clock=clock,
                                          sink=sink, cancel=settings.cancel, ask=settings.ask, orders=poller,
                                          prior=_traced(prior, traceparent, wrap))
                    finally:
                        poller.stop()
                span.set(status=result.status, exit_code=int(result.exit_code))
                who, _ = ledger.identity(git_repo)
                extra: dict[str, Any] = {"recovers": deployment.recovers.id} if deployment.recovers is not None else {}
                text = text_payloads(deployment)
                if text:
                    extra["payloads"] = text  # instance -> sha256 of the bytes it got: how status knows them
                if points := timeline.to_record():
                    extra["timeline"] = points
                if keeper.journal.controls:
                    extra["controls"] = keeper.journal.controls  # promote/resume/abort the run took, and who
                if deployment.overrides:
                    extra["overrides"] = list(deployment.overrides)  # emergency overrides taken (freeze, promotion)
                record = ledger.make_record(
                    result.to_dict(), kind=kind, sha256=deployment.sha256, who=who, started_at=started,
                    finished_at=time.time(), traceparent=traceparent, commit=deployment.commit, record_id=record_id,
                    phases=[{"number": p.number, "name": p.name, "instances": [t.name for t in p.targets],
                             "bake_s": p.bake} for p in plan.phases],
                    approvals=[a.approver for a in deployment.quorum.valid] if deployment.quorum else [],
                    **extra,
                )
                if deployment.recovers is not None and result.ok:
                    _settle_recovered(git_repo, deployment.recovers, record_id)
                _, problem = ledger.record_and_push(git_repo, record)
                keeper.finish(result)
                notifier.finish(record)
        finally:
            keeper.stop()  # the live record's writer, also when the run raised
    problems = tuple(p for p in (fetch_problem if problem is None else None, keeper.problem,
                                 _release_problem(held), *notifier.problems) if p)
    return Outcome(result, record, problem, problems)


def _ran_since(git_repo: GitRepo, profile: str, prior: dict[str, PriorRead] | None, seen: frozenset[str]) -> bool:
    """Did a run of `profile` finish after the earliest of the plan's reads (the ledger, refreshed
    from origin under the lock, says)? Then those reads may predate what it pushed. Not when the
    newest record is one the plan saw (`seen`: read before the live reads; a run records itself
    before it lets the lock go); else by its time, to the second and with a second to spare
    (a run that finished just before this one started is taken as one that may have pushed after
    the reads)."""
    from hotswap_cli.core.deploy import ledger

    if not prior:
        return False
    newest = ledger.read_records(git_repo, profile, limit=1, summaries=True)
    if not newest or str(newest[0].get("id")) in seen:
        return False
    earliest = time.time() - (time.monotonic() - min(p.read_at for p in prior.values())) - 1.0
    return str(newest[0].get("finished_at") or "") >= ledger.utc_iso(earliest)


def _traced(prior: dict[str, PriorRead] | None, traceparent: str | None,
            wrap: Callable[[str, Transport], Transport] | None) -> dict[str, PriorRead] | None:
    """The plan's transports, as the run's opener would have made them: carrying the deploy's
    traceparent (they were opened before its trace began) and wrapped like the rest (`wrap`)."""
    if not prior:
        return prior
    for read in prior.values():
        read.transport.traceparent = traceparent
    if wrap is not None:  # in place: whatever the run does not take over is closed by whoever handed it over
        for name, read in list(prior.items()):
            prior[name] = replace(read, transport=wrap(name, read.transport))
    return prior


def _wrapped(opener: Callable[..., Transport], wrap: Callable[[str, Transport], Transport]) -> Callable[..., Transport]:
    def open_transport(target: Target, **kwargs: Any) -> Transport:
        return wrap(target.name, opener(target, **kwargs))

    return open_transport


def text_payloads(deployment: Deployment) -> dict[str, str]:
    """Instance -> sha256 of its bytes, for targets whose bytes are not read back as data."""
    from hotswap_cli.core.config.payload import structured

    hashes = deployment.payload_sha256()
    return {t.name: hashes[t.name] for t in deployment.targets if not structured(t) and t.name in hashes}


def _dead_run_holds_lock(git_repo: GitRepo, profile: str) -> bool:
    """The lock's holder provably died (same host, pid gone) and left nothing open, or left the
    open journal a run may settle (recovering from it, --force): the lock may be taken over."""
    from hotswap_cli.core.deploy import lock

    holder = lock.read_holder(git_repo, profile)
    if holder is None or not holder.stale:
        return False
    dead = journals.read_open(git_repo, profile)
    return dead is None or (holder.host, holder.pid) == (dead.host, dead.pid)


def _check_journal(git_repo: GitRepo, deployment: Deployment, *, force: bool) -> Journal | None:
    """The open journal a run is about to settle: the one a recovering rollback was prepared from,
    or the one a `rollback --to` or a `deploy --force` goes over. Without --force a deploy does not
    start over an open journal: instances of that run may be on anything."""
    name = deployment.profile.name
    current = journals.read_open(git_repo, name)
    if current is None:
        return None
    if deployment.recovers is not None and deployment.recovers.id == current.id:
        return current
    if not force:
        raise LockHeld(f"{name}: an interrupted run left its journal open: {current.describe()}; "
                       f"instances it touched: {', '.join(sorted(current.touched())) or 'none'}",
                       hint=f"put them back with `hotswap rollback {name}`, or deploy anyway with --force")
    return current


def _settle_recovered(git_repo: GitRepo, dead: Journal, by: str) -> None:
    """The dead run's ledger record (when it never wrote one) and its journal closed."""
    from hotswap_cli.core.deploy import ledger

    if dead.state in ("running", "reverting"):  # it died before writing its own record
        ledger.append_record(git_repo, dead_run_record(dead, by))
    journals.close(git_repo, dead)


def dead_run_record(dead: Journal, by: str) -> dict[str, Any]:
    """What the ledger says about a run that died without a record, from its journal."""
    return {
        "id": dead.id, "kind": dead.kind, "profile": dead.profile, "version": dead.version, "sha256": dead.sha256,
        "strategy": dead.strategy, "who": dead.who, "host": dead.host, "started_at": dead.started_at,
        "finished_at": dead.updated_at, "status": "interrupted", "exit_code": 130, "interrupted": True,
        "reason": f"the run died (pid {dead.pid} on {dead.host}) at phase {dead.phase}/{dead.phases}; "
                  f"recovered by {by}",
        "failed_phase": dead.phase or None, "unrestored": [],
        "instances": [{"instance": n, "state": e.state, "touched": e.state != "prepared",
                       "previous_present": e.before.present, "previous_version": e.before.version}
                      for n, e in sorted(dead.instances.items())],
        "phases": [], "verdicts": [],
    }


def _release_problem(held: Lock) -> str | None:
    error = held.release_error
    if error is None:
        return None
    return f"the deploy lock could not be released: {error.message} ({error.hint or 'see hotswap unlock'})"


class _LockWaitClock:
    """Waiting for the lock ends at Ctrl-C (nothing has been touched yet: exit 130 at once)."""

    def __init__(self, cancel: threading.Event) -> None:
        from hotswap_cli.clock import SystemClock

        self.cancel = cancel
        self._clock = SystemClock(cancel)

    def now(self) -> float:
        return self._clock.now()

    def sleep(self, seconds: float) -> None:
        self._clock.sleep(seconds)
        if self.cancel.is_set():
            raise Interrupted("interrupted while waiting for the deploy lock; nothing was changed")
