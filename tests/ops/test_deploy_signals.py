"""Ctrl-C (SIGINT) and SIGTERM during a real `hotswap deploy` process, mid-bake: the instance
that went live gets its exact previous bytes back (or its file removed), the ledger records an
interrupted run, and the process exits 130 within seconds."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deploy_fleet import Fleet
from deploy_support import EventStream, hotswap_cmd, subprocess_env

from hotswap_cli.core.deploy.ledger import read_records
from hotswap_cli.core.versions.git import GitRepo

SEED = b'{"queue": {"url": "amqps://old:5671", "name": "orders", "prefetch": 5, "visibilityTimeoutS": 9},\n' \
       b'    "concurrency": 3}\n'


@pytest.mark.parametrize(("sig", "seeded"), [(signal.SIGINT, True), (signal.SIGTERM, False)],
                         ids=["SIGINT-restores-bytes", "SIGTERM-removes-new-file"])
def test_a_signal_mid_bake_reverts_records_and_exits_130(make_fleet: Callable[..., Fleet], cli: Callable[..., Any],
                                                         sig: signal.Signals, seeded: bool) -> None:
    fleet = make_fleet(3, strategy={"type": "canary", "steps": [33, 100], "bake": "30s"},
                       health={"interval": "0.2s"})
    if seeded:
        fleet.path("web-1").write_bytes(SEED)
    fleet.release(cli, "1.0.0")

    proc = subprocess.Popen(hotswap_cmd(fleet.root, "deploy", fleet.profile, "--yes", "--json"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=subprocess_env())
    try:
        stream = EventStream(proc)
        stream.wait_for(lambda e: e["event"] == "bake_started", timeout=30)
        # web-1 runs the new config and the 30s bake has begun: samples keep coming
        stream.wait_for(lambda e: e["event"] == "health_sample" and not e.get("baseline"), timeout=10)
        assert fleet.running("web-1")["concurrency"] == 8
        sent = time.monotonic()
        proc.send_signal(sig)
        code = proc.wait(timeout=15)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read() if proc.stderr else ""
    events = stream.drain()

    assert code == 130, stderr
    assert elapsed < 5, f"took {elapsed:.1f}s to stop after the signal"
    if seeded:
        assert fleet.path("web-1").read_bytes() == SEED
    else:
        assert not fleet.path("web-1").exists()
    assert not fleet.path("web-2").exists() and not fleet.path("web-3").exists()
    kinds = [e["event"] for e in events]
    assert "revert_started" in kinds and kinds[-1] == "result", kinds
    assert events[-1]["status"] == "interrupted" and events[-1]["exit_code"] == 130
    [record] = read_records(GitRepo(fleet.root), fleet.profile)
    assert (record["status"], record["interrupted"], record["exit_code"]) == ("interrupted", True, 130)
    assert "interrupted during phase 1" in record["reason"]
    states = {i["instance"]: (i["touched"], i["state"]) for i in record["instances"]}
    assert states == {"web-1": (True, "reverted"), "web-2": (False, "pending"), "web-3": (False, "pending")}
    assert record["duration_s"] < 20  # far short of the 30s bake


def test_a_signal_while_waiting_for_the_lock_exits_130_having_changed_nothing(
        make_fleet: Callable[..., Fleet], cli: Callable[..., Any]) -> None:
    from hotswap_cli.core.deploy.lock import acquire

    fleet = make_fleet(2, strategy={"type": "canary", "steps": [50, 100], "bake": "0.1s"})
    fleet.release(cli, "1.0.0")
    with acquire(GitRepo(fleet.root), fleet.profile, purpose="deploy 0.9.0 by someone else"):
        proc = subprocess.Popen(hotswap_cmd(fleet.root, "deploy", fleet.profile, "--yes", "--wait-for-lock", "60s"),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=subprocess_env())
        try:
            assert proc.stderr is not None
            deadline = time.monotonic() + 30
            seen = []
            while time.monotonic() < deadline:
                line = proc.stderr.readline()
                seen.append(line)
                if not line or "waiting for the deploy lock" in line:
                    break
            assert "deploy 0.9.0 by someone else" in seen[-1], seen
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=15)
            elapsed = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    rest = proc.stderr.read() if proc.stderr else ""
    assert code == 130, rest
    assert elapsed < 5
    assert "nothing was changed" in rest
    assert fleet.running("web-1") is None and fleet.running("web-2") is None
    assert read_records(GitRepo(fleet.root), fleet.profile) == []  # nothing ran: nothing to record


def test_ctrl_c_that_also_kills_a_running_check_is_still_an_interrupt(make_fleet: Callable[..., Fleet],
                                                                      cli: Callable[..., Any], tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the whole process group: the `check` command dies of it too.
    The run is still reported as interrupted (exit 130), not as a failed check (exit 6)."""
    import os

    from deploy_fleet import local_target

    base = tmp_path / "ctrl-c"
    targets = [local_target(base, f"web-{i}") for i in (1, 2)]
    running = tmp_path / "check-running"
    targets[0]["transport"]["check"] = ["sh", "-c", f"touch {running}; exec sleep 20"]
    fleet = make_fleet(targets, environment="Development", strategy={"type": "direct"})
    fleet.release(cli, "1.0.0")
    proc = subprocess.Popen(hotswap_cmd(fleet.root, "deploy", fleet.profile, "--yes", "--json"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=subprocess_env(), start_new_session=True)
    try:
        stream = EventStream(proc)
        stream.wait_for(lambda e: e["event"] == "instance_state" and e["instance"] == "web-2"
                        and e["state"] == "staged", timeout=20)
        deadline = time.monotonic() + 20
        while not running.exists() and time.monotonic() < deadline:  # web-1's check is under way
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the process and its children
        code = proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 130
    record = read_records(GitRepo(fleet.root), fleet.profile)[0]
    assert record["status"] == "interrupted" and record["interrupted"] is True
    assert record["reason"].startswith("interrupted during phase 1 (all)")
    assert not (base / "web-1" / "worker.json").exists() and not (base / "web-2" / "worker.json").exists()
