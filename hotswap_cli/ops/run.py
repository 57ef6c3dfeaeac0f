"""Run a prepared deployment: take the profile's lock, wire the backends to the runner, execute the
plan, record the outcome in the ledger, release the lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotswap_cli.core.deploy.prepare import Deployment, open_git, payload_for
from hotswap_cli.errors import Interrupted
from hotswap_cli.specs import Target

if TYPE_CHECKING:
    from hotswap_cli.clock import Clock
    from hotswap_cli.core.deploy.lock import Holder as LockHolder
    from hotswap_cli.core.versions.git import GitRepo
    from hotswap_cli.probes.base import Probe
    from hotswap_cli.runner.events import EventSink
    from hotswap_cli.runner.gate import Verdict
    from hotswap_cli.runner.results import DeployResult
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


@dataclass(frozen=True)
class Outcome:
    result: DeployResult
    record: dict[str, Any]
    push_problem: str | None  # the ledger could not reach the remote (a warning, not a failure)


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
    opener = settings.open_transport or partial(open_transport, allowed_env=deployment.allowed_env)
    probes = settings.open_probes or partial(open_probes, allowed_env=deployment.allowed_env)
    with lock.acquire(git_repo, plan.profile, wait=settings.lock_wait, purpose=f"{kind} {plan.version}",
                      on_wait=settings.on_lock_wait, clock=_LockWaitClock(settings.cancel)):
        if git_repo.has_remote():
            ledger.fetch_ledger(git_repo)
        span_name = "config.rollback" if kind == "rollback" else "config.deploy"
        with telemetry.span(span_name, profile=plan.profile, version=plan.version, strategy=plan.strategy,
                            instances=len(plan.targets)) as span:
            traceparent = telemetry.traceparent_for_deploy()

            def transport(t: Target) -> Transport:
                return opener(t, traceparent=traceparent)

            started = time.time()
            if kind == "rollback":
                result = rollback(plan.profile, plan.version, plan.targets, payload_for(deployment.config),
                                  deployment.sha256, open_transport=transport, clock=clock, sink=settings.sink,
                                  cancel=settings.cancel, concurrency=max(plan.concurrency, 50),
                                  open_probes=probes, health=plan.health)
            else:
                result = run_plan(plan, payload_for(deployment.config), deployment.sha256,
                                  open_transport=transport, open_probes=probes, clock=clock,
                                  sink=settings.sink, cancel=settings.cancel, ask=settings.ask)
            span.set(status=result.status, exit_code=int(result.exit_code))
            who, _ = ledger.identity(git_repo)
            record = ledger.make_record(
                result.to_dict(), kind=kind, sha256=deployment.sha256, who=who, started_at=started,
                finished_at=time.time(), traceparent=traceparent, commit=deployment.commit,
                phases=[{"number": p.number, "name": p.name, "instances": [t.name for t in p.targets],
                         "bake_s": p.bake} for p in plan.phases],
                approvals=[a.approver for a in deployment.quorum.valid] if deployment.quorum else [],
            )
            _, problem = ledger.record_and_push(git_repo, record)
    return Outcome(result, record, problem)


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
