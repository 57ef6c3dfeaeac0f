"""kill -9 of a real `hotswap deploy` mid-canary, and what comes after: the journal on the remote
says what the dead run touched, `status` says so instead of "drift", the next deploy refuses to
start over it, and `rollback` puts each touched instance back on what it ran before that run
(not on the version before that), records the dead run in the ledger and closes the journal."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from deploy_fleet import Fleet, git, local_target
from deploy_support import EventStream, hotswap_cmd, subprocess_env

from hotswap_cli.core.deploy import journal
from hotswap_cli.core.deploy.ledger import read_records
from hotswap_cli.core.versions.git import GitRepo


def with_origin(fleet: Fleet, tmp_path: Path) -> Path:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(fleet.root, "remote", "add", "origin", str(origin))
    git(fleet.root, "push", "-q", "origin", "main")
    return origin


@contextlib.contextmanager
def edit_profile(fleet: Fleet) -> Iterator[dict[str, Any]]:
    path = fleet.root / "profiles" / fleet.profile / "profile.yaml"
    profile = yaml.safe_load(path.read_text())
    yield profile
    path.write_text(yaml.safe_dump(profile, sort_keys=False))


def deploy(cli: Callable[..., Any], fleet: Fleet, *args: str) -> Any:
    return cli("--repo", str(fleet.root), "deploy", fleet.profile, *args, "--yes")


def test_kill_9_mid_canary_then_status_deploy_and_rollback_recover(make_fleet: Callable[..., Fleet],
                                                                   cli: Callable[..., Any], tmp_path: Path) -> None:
    fleet = make_fleet(3, strategy={"type": "canary", "steps": [34, 100], "bake": "0.2s"})
    with_origin(fleet, tmp_path)
    fleet.set_config(concurrency=1)
    fleet.release(cli, "1.0.0")
    assert deploy(cli, fleet, "1.0.0").exit_code == 0
    fleet.set_config(concurrency=2)
    fleet.release(cli, "1.1.0")
    assert deploy(cli, fleet, "1.1.0").exit_code == 0
    before = {n: fleet.path(n).read_bytes() for n in ("web-1", "web-2", "web-3")}

    # 1.2.0: web-2's reload hangs (after its swap), so the run is mid phase 1 (web-1, web-2) when it is killed
    marker = tmp_path / "web-2-reloading"
    with edit_profile(fleet) as profile:
        profile["targets"][1]["transport"]["reload"] = ["sh", "-c", f"touch {marker}; sleep 60"]
    fleet.set_config(concurrency=3)
    fleet.release(cli, "1.2.0")
    git(fleet.root, "push", "-q", "origin", "main")

    proc = subprocess.Popen(hotswap_cmd(fleet.root, "deploy", fleet.profile, "1.2.0", "--yes", "--json"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=subprocess_env(), start_new_session=True)
    try:
        stream = EventStream(proc)
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert time.monotonic() < deadline and proc.poll() is None, stream.drain()
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # hotswap and the hanging reload: no cleanup runs
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert fleet.running("web-1")["concurrency"] == 3 and fleet.running("web-2")["concurrency"] == 3
    assert fleet.path("web-3").read_bytes() == before["web-3"]

    # the journal on origin says what the dead run touched, and what each ran before
    clone = GitRepo(fleet.root)
    left = journal.read(clone, fleet.profile)
    assert left is not None and left.open and left.version == "1.2.0" and left.phase == 1
    assert {n: e.before.version for n, e in left.touched().items()} == {"web-1": "1.1.0", "web-2": "1.1.0"}

    status = cli("--repo", str(fleet.root), "status", fleet.profile)
    assert status.exit_code == 1
    assert "INTERRUPTED: deploy of web.staging 1.2.0" in status.stderr
    assert f"hotswap rollback {fleet.profile}" in status.stderr
    assert "unknown: drifted" not in status.stdout  # web-1 and web-2 are named as the dead run's

    again = deploy(cli, fleet, "1.2.0")
    assert again.exit_code == 5, again
    assert "an interrupted run left its journal open" in again.stderr
    assert f"hotswap rollback {fleet.profile}" in again.stderr

    back = cli("--repo", str(fleet.root), "rollback", fleet.profile, "--yes")
    assert back.exit_code == 0, back
    assert "go back to 1.1.0, what they ran before it" in back.stdout + back.stderr
    assert {n: fleet.path(n).read_bytes() for n in before} == before  # 1.1.0 everywhere, not 1.0.0
    assert journal.read(clone, fleet.profile) is None
    records = read_records(clone, fleet.profile)
    assert [(r["kind"], r["version"], r["status"]) for r in records[:2]] == [
        ("rollback", "1.1.0", "completed"), ("deploy", "1.2.0", "interrupted")]
    assert records[0]["recovers"] == left.id and "the run died" in records[1]["reason"]
    assert cli("--repo", str(fleet.root), "status", fleet.profile).exit_code == 0
    assert not list(fleet.files.rglob("*.tmp"))


def test_a_run_that_cannot_restore_leaves_the_journal_and_rollback_finishes_it(
        make_fleet: Callable[..., Fleet], cli: Callable[..., Any], tmp_path: Path) -> None:
    """Exit 7 (a revert failed): `hotswap rollback` then restores what ran before the failed run,
    on the instances the journal names, instead of the version before that."""
    files = tmp_path / "instances"
    targets = [local_target(files, "web-1"), local_target(files, "web-2")]
    fleet = make_fleet(targets, strategy={"type": "direct"})
    fleet.release(cli, "1.0.0")
    assert deploy(cli, fleet, "1.0.0").exit_code == 0
    fleet.set_config(concurrency=2)
    fleet.release(cli, "1.1.0")
    assert deploy(cli, fleet, "1.1.0").exit_code == 0
    good = fleet.path("web-1").read_bytes()

    # 1.2.0's web-2 check passes but its reload fails; web-1's revert cannot reload either
    flag = tmp_path / "broken"
    with edit_profile(fleet) as profile:
        for target in profile["targets"]:
            target["transport"]["reload"] = ["sh", "-c", f"test ! -e {flag}"]
        profile["targets"][0]["health"] = [{"type": "command", "command": ["sh", "-c", f"touch {flag}; false"]}]
        profile["health"]["min_checks"] = 1  # a baseline look counts, so it is taken: the probe runs before the pushes
    fleet.set_config(concurrency=3)
    fleet.release(cli, "1.2.0")
    failed = deploy(cli, fleet, "1.2.0")
    assert failed.exit_code == 7, failed
    flag.unlink()

    left = journal.read(GitRepo(fleet.root), fleet.profile)
    assert left is not None and left.state == "needs_recovery"
    back = cli("--repo", str(fleet.root), "rollback", fleet.profile, "--yes")
    assert back.exit_code == 0, back
    assert fleet.path("web-1").read_bytes() == good and fleet.path("web-2").read_bytes() == good
    assert journal.read(GitRepo(fleet.root), fleet.profile) is None
    assert json.loads(good)["concurrency"] == 2
