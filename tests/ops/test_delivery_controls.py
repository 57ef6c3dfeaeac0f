"""A running deploy seen and steered from another clone, as a teammate on another machine would:
`status` says a deploy is in progress (no drift), `watch` follows its live record and ends with its
exit code, `promote` ends a bake early, `abort` reverts it (exit 9); orders travel through origin."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deploy_fleet import Fleet
from deploy_support import EventStream, git, hotswap_cmd, subprocess_env

from hotswap_cli.core.deploy.ledger import read_records
from hotswap_cli.core.versions.git import GitRepo

Cli = Callable[..., Any]


def with_origin(fleet: Fleet, tmp_path: Path) -> Path:
    """A bare origin for the fleet's repo (pushed, tags too) and a second clone of it: the teammate's."""
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(fleet.root), str(bare))
    git(fleet.root, "remote", "add", "origin", str(bare))
    git(fleet.root, "fetch", "-q", "origin")
    git(fleet.root, "branch", "-q", "-u", "origin/main")
    teammate = tmp_path / "teammate"
    git(tmp_path, "clone", "-q", str(bare), str(teammate))
    return teammate


def start_deploy(fleet: Fleet, *args: str) -> tuple[subprocess.Popen[str], EventStream]:
    env = {**subprocess_env(), "HOTSWAP_CONTROL_POLL": "0.3"}
    proc = subprocess.Popen(hotswap_cmd(fleet.root, "--json", "deploy", fleet.profile, *args, "--yes"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return proc, EventStream(proc)


def run_cmd(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(hotswap_cmd(root, *args), capture_output=True, text=True, env=subprocess_env(),
                          timeout=timeout, check=False)


def test_status_watch_promote_and_abort_from_another_clone(
        make_fleet: Callable[..., Fleet], tmp_path: Path, cli: Cli) -> None:
    fleet = make_fleet(4, strategy={"type": "canary", "steps": [50, 100], "bake": "120s"},
                       health={"interval": "0.2s"})
    fleet.release(cli, "1.0.0")
    teammate = with_origin(fleet, tmp_path)
    git(fleet.root, "push", "-q", "origin", "main", "--tags")
    before = {n: fleet.path(n).exists() for n in ("web-1", "web-2", "web-3", "web-4")}

    proc, events = start_deploy(fleet)
    watcher = None
    try:
        events.wait_for(lambda e: e["event"] == "bake_started" and e["phase"] == 1, timeout=120)
        git(teammate, "fetch", "-q", "--tags")

        # status elsewhere: in progress, where it is, and no drift for what the run changed (the
        # live journal reaches origin at most every 2 s: one written between the canary's two
        # pushes says 1 of 4 until the next)
        deadline = time.monotonic() + 20
        while True:
            status = run_cmd(teammate, "status", fleet.profile)
            if "2 of 4" in status.stderr or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert status.returncode == 0, status.stderr
        assert "deploy in progress by" in status.stderr and "phase 1/2 (canary 50%)" in status.stderr, status.stderr
        assert "2 of 4 on 1.0.0" in status.stderr, status.stderr
        assert f"hotswap watch {fleet.profile}" in status.stderr

        watcher = subprocess.Popen(hotswap_cmd(teammate, "watch", fleet.profile, "--interval", "0.3"),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())

        promoted = run_cmd(teammate, "promote", fleet.profile)
        assert promoted.returncode == 0, promoted.stderr
        assert "promote" in promoted.stderr and "taken" in promoted.stderr, promoted.stderr
        events.wait_for(lambda e: e["event"] == "bake_started" and e["phase"] == 2, timeout=30)

        aborted = run_cmd(teammate, "abort", fleet.profile)
        assert aborted.returncode == 0, aborted.stderr
        assert proc.wait(60) == 9
        _, watch_err = watcher.communicate(timeout=120)
        assert watcher.returncode == 9, watch_err
        assert "deploy in progress by" in watch_err and "aborted" in watch_err, watch_err
    finally:
        for p in (proc, watcher):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()

    result = events.drain()[-1]
    assert (result["event"], result["status"], result["exit_code"]) == ("result", "aborted", 9)
    assert "aborted by" in result["reason"] and "during phase 2 (canary 100%)" in result["reason"]
    controls = [e for e in events.events if e["event"] == "control"]
    assert [c["action"] for c in controls] == ["promote", "abort"]
    assert result["verdicts"][0]["decided_by"].startswith("promoted by ")  # phase 1 passed by the promote
    assert {n: fleet.path(n).exists() for n in before} == before  # reverted everywhere
    record = read_records(GitRepo(fleet.root), fleet.profile)[0]
    assert (record["status"], record["exit_code"]) == ("aborted", 9)
    assert run_cmd(teammate, "abort", fleet.profile).returncode == 1  # nothing runs now


def test_resume_refuses_a_run_that_is_not_paused_and_nothing_runs_is_exit_1(
        make_fleet: Callable[..., Fleet], tmp_path: Path, cli: Cli) -> None:
    # phase 1's bake must outlast the commands below on a loaded CI machine: if it ran out before the
    # promote landed, phase 2 would bake and the promote would end that bake instead
    fleet = make_fleet(2, strategy={"type": "canary", "steps": [50, 100], "bake": "600s"},
                       health={"interval": "0.2s"})
    fleet.release(cli, "1.0.0")
    teammate = with_origin(fleet, tmp_path)
    git(fleet.root, "push", "-q", "origin", "main", "--tags")
    idle = run_cmd(teammate, "watch", fleet.profile)
    assert idle.returncode == 1 and f"no deploy of {fleet.profile} is running" in idle.stderr

    proc, events = start_deploy(fleet)
    try:
        started = events.wait_for(lambda e: e["event"] == "bake_started", timeout=120)
        listed = run_cmd(teammate, "--json", "deployments", fleet.profile)
        row = json.loads(listed.stdout)[0]
        assert (row["status"], row["live"], row["phase"], row["phases"]) == ("running", True, 1, 2), row
        assert started["phase"] == 1
        refused = run_cmd(teammate, "resume", fleet.profile)
        assert refused.returncode == 1
        assert "is not paused" in refused.stderr and "promote" in refused.stderr, refused.stderr
        assert run_cmd(teammate, "promote", fleet.profile, "--full").returncode == 0
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    phases = [e["number"] for e in events.drain() if e["event"] == "phase_started"]
    assert events.events[-1]["id"] == row["id"]  # the running row was this run
    assert phases == [1, 2]
    assert not any(e["event"] == "bake_started" and e["phase"] == 2 for e in events.events)  # --full: no more bakes


def test_a_pause_step_waits_for_resume_from_another_clone(
        make_fleet: Callable[..., Fleet], tmp_path: Path, cli: Cli) -> None:
    fleet = make_fleet(2, strategy={"type": "canary", "bake": "0.3s"}, health={"interval": "0.1s"})
    fleet.release(cli, "1.0.0")
    teammate = with_origin(fleet, tmp_path)
    git(fleet.root, "push", "-q", "origin", "main", "--tags")

    proc, events = start_deploy(fleet, "--steps", "50,pause,100")
    try:
        paused = events.wait_for(lambda e: e["event"] == "phase_paused", timeout=120)
        assert (paused["phase"], paused["until"]) == (1, None)
        status = run_cmd(teammate, "status", fleet.profile)
        assert "PAUSED after phase 1" in status.stderr and f"hotswap resume|promote|abort {fleet.profile}" \
            in status.stderr, status.stderr
        time.sleep(1.0)
        assert proc.poll() is None  # still waiting
        resumed = run_cmd(teammate, "resume", fleet.profile)
        assert resumed.returncode == 0 and "taken" in resumed.stderr, resumed.stderr
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    kinds = [e["event"] for e in events.drain()]
    assert kinds.index("phase_paused") < kinds.index("control") < len(kinds) - 1
    assert fleet.running("web-2")["concurrency"] == 8
