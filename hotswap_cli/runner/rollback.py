"""`hotswap rollback`: push one payload to every target at once, no bake; undo the pushed on failure."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from hotswap_cli.clock import Clock
from hotswap_cli.model import HealthPolicy, Phase, Plan
from hotswap_cli.probes.base import Probe
from hotswap_cli.runner.engine import run_plan
from hotswap_cli.runner.events import EventSink
from hotswap_cli.runner.results import DeployResult
from hotswap_cli.specs import Target
from hotswap_cli.transports.base import Transport


def rollback(
    profile: str,
    version: str,
    targets: Sequence[Target],
    payload_for: Callable[[Target], bytes],
    expected_hash: str,
    *,
    open_transport: Callable[[Target], Transport],
    clock: Clock,
    sink: EventSink,
    cancel: threading.Event | None = None,
    concurrency: int = 50,
    open_probes: Callable[[Target], Sequence[Probe]] | None = None,
    health: HealthPolicy | None = None,
) -> DeployResult:
    """All targets in parallel; with `open_probes`, one immediate health sample gates the result."""
    phase = Phase(1, "all", tuple(targets), bake=0.0, percent=100.0, gate=open_probes is not None)
    plan = Plan(
        profile=profile,
        version=version,
        strategy="rollback",
        phases=(phase,),
        health=health or HealthPolicy(),
        concurrency=max(1, concurrency),
    )
    return run_plan(
        plan,
        payload_for,
        expected_hash,
        open_transport=open_transport,
        open_probes=open_probes or (lambda _t: []),
        clock=clock,
        sink=sink,
        cancel=cancel,
    )
