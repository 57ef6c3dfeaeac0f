"""`rollback`: one payload to every target, no bake; plus the runner's import boundary and signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import Any

import pytest
from runner_fakes import Fleet, payload_for, targets

from hotswap_cli.clock import FakeClock
from hotswap_cli.errors import ExitCode
from hotswap_cli.runner import DeployResult, ListSink, cancel_on_signals, rollback


def run_rollback(fleet: Fleet, **kw: Any) -> tuple[DeployResult, FakeClock]:
    clock = FakeClock()
    result = rollback(
        "svc",
        "1.0.0",
        targets(len(fleet.names)),
        payload_for,
        "cd" * 32,
        open_transport=fleet.open_transport,
        clock=clock,
        sink=ListSink(),
        **kw,
    )
    return result, clock


@pytest.mark.parametrize(
    ("fail", "status", "exit_code"),
    [
        ({}, "completed", ExitCode.OK),
        ({("i3", "reload"): "down"}, "reverted", ExitCode.REVERTED),
        ({("i0", "read_current"): "unreachable"}, "failed_before_change", ExitCode.ERROR),
    ],
)
def test_rollback(fail: dict[tuple[str, str], str], status: str, exit_code: ExitCode) -> None:
    fleet = Fleet([f"i{i}" for i in range(6)], fail=fail)
    result, clock = run_rollback(fleet, concurrency=3)
    assert (result.status, result.exit_code) == (status, exit_code)
    assert clock.slept == []  # no bake, no health
    if status == "completed":
        assert all(fleet.live[n] == f"new-{n}".encode() for n in fleet.names)
        assert result.verdicts == ()
    else:
        assert fleet.restored()
        assert fleet.called("revert") | fleet.called("discard") == set(result.touched)
    if status == "reverted":
        assert "i3" in result.touched and "i3: reload: down" in result.reason


def test_rollback_with_probes_gates_on_one_immediate_sample() -> None:
    fleet = Fleet(["i0", "i1"], sick=("i1",))
    result, clock = run_rollback(fleet, open_probes=fleet.open_probes)
    assert result.status == "reverted"
    assert "i1: error rate 22.0%" in result.reason
    assert clock.slept == []


def test_runner_never_imports_core_or_cli() -> None:
    code = (
        "import sys, hotswap_cli.runner as r; "
        "bad = [m for m in sys.modules if m.startswith(('hotswap_cli.core', 'hotswap_cli.cli'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sigint_sets_cancel_instead_of_raising() -> None:
    cancel = threading.Event()
    before = signal.getsignal(signal.SIGINT)
    with cancel_on_signals(cancel):
        os.kill(os.getpid(), signal.SIGINT)
        assert cancel.wait(1.0)
    assert signal.getsignal(signal.SIGINT) is before
