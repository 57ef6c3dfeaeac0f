"""Runner: executes a Plan through transports and probes (push, bake, gate, revert); never prints."""

from __future__ import annotations

from hotswap_cli.runner.engine import run_plan
from hotswap_cli.runner.events import Event, EventSink, ListSink, NullSink
from hotswap_cli.runner.gate import InstanceVerdict, Verdict, evaluate
from hotswap_cli.runner.results import DeployResult, InstanceOutcome
from hotswap_cli.runner.rollback import rollback
from hotswap_cli.runner.signals import cancel_on_signals

__all__ = [
    "DeployResult",
    "Event",
    "EventSink",
    "InstanceOutcome",
    "InstanceVerdict",
    "ListSink",
    "NullSink",
    "Verdict",
    "cancel_on_signals",
    "evaluate",
    "rollback",
    "run_plan",
]
