"""A fleet past the soft limit of open files: a deploy keeps one connection per instance from the
plan's read to the end of its run, so hotswap raises its soft RLIMIT_NOFILE toward the hard limit
at start. Attacked here with the soft limit at 64 and 80 real demo instances (one process, one
port each), and with a kept connection whose descriptor is past select()'s limit of 1023."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from deploy_fleet import Fleet
from deploy_support import hotswap_cmd, subprocess_env

from hotswap_cli.demo.instances import DemoInstance, start_instances, stop_instances

SOFT = 64
N = 80


@pytest.fixture
def eighty(tmp_path: Path) -> Iterator[list[DemoInstance]]:
    directory = tmp_path / "instances"
    instances = start_instances(N, directory, per_process=N, prefix="web", timeout=60)
    try:
        yield instances
    finally:
        stop_instances(directory)


def low_soft_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (SOFT, hard))


def run(fleet: Fleet, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(hotswap_cmd(fleet.root, *args), env=subprocess_env(), capture_output=True, text=True,
                          timeout=240, preexec_fn=low_soft_limit)


def test_a_deploy_and_status_of_more_instances_than_the_soft_limit_of_open_files(
        eighty: list[DemoInstance], make_fleet: Callable[..., Fleet], cli: Callable[..., Any]) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard == resource.RLIM_INFINITY or hard > 4 * N  # the machine lets a process raise its own
    targets = [{"name": i.name, "transport": {"type": "http", "url": i.url + "/config"},
                "health": [{"type": "http", "url": i.url + "/health"}]} for i in eighty]
    fleet = make_fleet(targets, environment="Development", strategy={"type": "direct"},
                       health={"interval": "0.1s"})
    fleet.release(cli, "1.0.0")

    deployed = run(fleet, "deploy", fleet.profile, "1.0.0", "--yes", "--json")

    assert deployed.returncode == 0, deployed.stderr[-2000:]
    result = json.loads(deployed.stdout.splitlines()[-1])
    assert result["status"] == "completed" and len(result["instances"]) == N
    assert {i["state"] for i in result["instances"]} == {"healthy"}
    status = run(fleet, "status", fleet.profile, "--json")
    assert status.returncode == 0, status.stderr[-2000:]
    rows = json.loads(status.stdout)["instances"]
    assert [(r["running"], r["healthy"]) for r in rows] == [("1.0.0", True)] * N


@contextmanager
def high_descriptors() -> Iterator[None]:
    """1100 more descriptors held for the block: the next socket gets a number past 1023."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    padding = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        yield
    finally:
        for fd in padding:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_kept_connection_past_descriptor_1023_is_reused(eighty: list[DemoInstance]) -> None:
    from hotswap_cli.io.http import client_for, fetch
    from hotswap_cli.specs import Tls

    with high_descriptors():
        client = client_for(Tls(), eighty[0].url)
        try:
            assert fetch(client, "GET", eighty[0].url + "/health", timeout=5).status_code == 200
            [conn] = [c for conns in client.direct._idle.values() for c in conns]
            assert conn.http.sock.fileno() > 1023
            assert fetch(client, "GET", eighty[0].url + "/health", timeout=5).status_code == 200
            assert [c for conns in client.direct._idle.values() for c in conns] == [conn]  # the same one
        finally:
            client.close()


def test_the_kept_connection_check_sees_a_server_close_past_descriptor_1023() -> None:
    from hotswap_cli.io.deadline import _Conn, _where

    with socket.create_server(("127.0.0.1", 0)) as listener, high_descriptors():
        where = _where(f"http://127.0.0.1:{listener.getsockname()[1]}/")
        conn = _Conn(where, None, time.monotonic() + 30)  # type: ignore[arg-type]  # plain http: no TLS context
        conn.http.connect()
        conn.idle_since = time.monotonic()
        served, _ = listener.accept()
        assert conn.http.sock.fileno() > 1023 and not conn.stale()
        served.close()  # the server ends it: the next request must not go there
        time.sleep(0.2)
        assert conn.stale()
        conn.close()
