"""A deploy over ssh logs in once per host: the live read before the plan, the push (check, swap,
reload) and the `where: target` command probe all draw the same pooled connection."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from deploy_fleet import Fleet
from support.sshd import SshServer, start_sshd

from hotswap_cli.io.ssh import close_jumps
from hotswap_cli.io.ssh_connect import LINK_INSTANCES


@pytest.fixture
def logged_sshd(tmp_path: Path) -> Iterator[SshServer]:
    """A server of this test's own, which logs every login (the session server is shared)."""
    close_jumps()  # nothing pooled from an earlier test
    server = start_sshd(tmp_path / "sshd", log_file=tmp_path / "sshd.log")
    yield server
    close_jumps()
    server.wait_sessions(0, 10)
    server.stop()


def probed_target(server: SshServer, files: Path, name: str) -> dict[str, Any]:
    live = files / name / "worker.json"
    live.parent.mkdir(parents=True)
    return {"name": name,
            "transport": server.spec(live, check="test -s {path}", reload=f"touch {shlex.quote(str(live))}.reloaded"),
            "health": [{"type": "command", "where": "target", "command": f"test -s {shlex.quote(str(live))}"}]}


def test_a_deploy_with_target_probes_logs_in_once_per_host(
        make_fleet: Callable[..., Fleet], logged_sshd: SshServer, tmp_path: Path, cli: Callable[..., Any]) -> None:
    files = tmp_path / "instances"
    names = [f"web-{i}" for i in range(1, LINK_INSTANCES + 1)]  # as many as one connection serves
    fleet = make_fleet([probed_target(logged_sshd, files, n) for n in names],
                       strategy={"type": "rolling", "batch": 1, "bake": "0.3s"}, health={"interval": "0.1s"})
    fleet.release(cli, "1.0.0")
    result = cli("--repo", str(fleet.root), "deploy", fleet.profile, "--yes")
    assert result.exit_code == 0, result
    for name in names:
        assert fleet.running(name)["concurrency"] == 8
        assert fleet.path(name).with_name("worker.json.reloaded").exists()
    # live read, stage, check, swap, reload and every probe sample of every instance: one login
    assert logged_sshd.logins() == 1, logged_sshd.log_text()[-2000:]
