"""The pooled ssh connection: an instance's transport and its `where: target` probe share one login;
a connection that stalled, or died, is dropped from the pool and never handed out again."""

from __future__ import annotations

import shlex
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.proxy import TcpProxy, known_hosts_via
from support.sshd import SshServer

from hotswap_cli.errors import TransportError
from hotswap_cli.io import ssh_connect
from hotswap_cli.io.ssh import close_jumps
from hotswap_cli.ops.backends import open_probes, open_transport
from hotswap_cli.specs import Target, target

OLD = b"old config\n"


@pytest.fixture(autouse=True)
def _empty_pool() -> Iterator[None]:
    close_jumps()
    yield
    close_jumps()


@pytest.fixture
def proxy(sshd: SshServer) -> Iterator[TcpProxy]:
    p = TcpProxy(sshd.port)
    yield p
    p.close()


def proxied(sshd: SshServer, proxy: TcpProxy, live: Path, tmp_path: Path) -> Target:
    known = known_hosts_via(sshd, proxy, tmp_path / "known_hosts")
    return target("web-1", sshd.spec(live, port=proxy.port, known_hosts=str(known), timeout="1s", retries=0),
                  ({"type": "command", "where": "target", "command": f"test -s {shlex.quote(str(live))}"},))


@pytest.fixture
def live(ssh_workdir: Path) -> Path:
    path = ssh_workdir / "app.conf"
    path.write_bytes(OLD)
    return path


def test_the_probe_runs_on_the_transports_connection(sshd: SshServer, live: Path) -> None:
    t = target("web-1", sshd.spec(live), ({"type": "command", "where": "target", "command": "true"},))
    before = ssh_connect.POOL.logins
    transport, (probe,) = open_transport(t), open_probes(t)
    try:
        assert transport.read_current() == OLD
        assert probe.sample().ok
        transport.stage(b"new\n")
        transport.swap()
        assert probe.sample().ok
    finally:
        probe.close()
        transport.close()
    assert live.read_bytes() == b"new\n"
    assert ssh_connect.POOL.logins == before + 1


def test_a_closed_transport_leaves_its_login_for_the_next_one(sshd: SshServer, live: Path) -> None:
    """The live read before the plan and the push after it: one login."""
    t = sshd.target("web-1", live)
    before = ssh_connect.POOL.logins
    for data in (b"one\n", b"two\n"):
        transport = open_transport(t)
        try:
            transport.read_current()
            transport.stage(data)
            transport.swap()
        finally:
            transport.close()
    assert live.read_bytes() == b"two\n"
    assert ssh_connect.POOL.logins == before + 1


def test_a_stalled_connection_is_dropped_and_never_reused(
        sshd: SshServer, proxy: TcpProxy, live: Path, tmp_path: Path) -> None:
    t = proxied(sshd, proxy, live, tmp_path)
    transport, (probe,) = open_transport(t), open_probes(t)
    before = ssh_connect.POOL.logins
    try:
        assert transport.read_current() == OLD
        assert probe.sample().ok
        assert ssh_connect.POOL.logins == before + 1
        proxy.stall_after(0)  # the link goes silent, its sockets stay open
        with pytest.raises(TransportError, match="stalled"):
            transport.stage(b"new\n")
        proxy.restore()  # new connections pass again; the stalled one stays silent
        assert probe.sample().ok  # on a new login, not the stalled connection
        assert ssh_connect.POOL.logins == before + 2
        transport.stage(b"new\n")
        transport.swap()
    finally:
        probe.close()
        transport.close()
    assert live.read_bytes() == b"new\n"
    assert ssh_connect.POOL.logins == before + 2


def test_a_connection_cut_mid_step_is_replaced(sshd: SshServer, proxy: TcpProxy, live: Path, tmp_path: Path) -> None:
    t = proxied(sshd, proxy, live, tmp_path)
    transport = open_transport(t)
    before = ssh_connect.POOL.logins
    try:
        assert transport.read_current() == OLD
        proxy.drop_after(0)
        with pytest.raises(TransportError):
            transport.stage(b"new\n")
        proxy.restore()
        transport.stage(b"new\n")
        transport.swap()
    finally:
        transport.close()
    assert live.read_bytes() == b"new\n"
    assert ssh_connect.POOL.logins == before + 2


def test_steps_on_a_connection_start_no_thread_each(sshd: SshServer, live: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Every step is bounded by the process's one watchdog (io.watchdog), not a thread of its own:
    a thread per step cost a start, and a GIL hand-off the step waited for, ten times per target."""
    t = target("web-1", sshd.spec(live), ({"type": "command", "where": "target", "command": "true"},))
    transport, (probe,) = open_transport(t), open_probes(t)
    started: list[str] = []
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        started.append(thread.name)
        real_start(thread)

    try:
        assert transport.read_current() == OLD  # the login (paramiko's own threads) and the watchdog's
        monkeypatch.setattr(threading.Thread, "start", start)
        for n in range(5):
            transport.stage(f"new {n}\n".encode())
            transport.check()
            transport.swap()
            assert probe.sample().ok
    finally:
        monkeypatch.undo()
        probe.close()
        transport.close()
    assert live.read_bytes() == b"new 4\n"
    assert started == []


def test_connections_send_small_requests_at_once(sshd: SshServer, live: Path) -> None:
    """No Nagle on an ssh socket: every exec and SFTP call is a small packet waiting for its answer,
    and Nagle held each for the server's delayed ACK (~40 ms a command on loopback)."""
    import socket

    transport = open_transport(sshd.target("web-1", live))
    try:
        assert transport.read_current() == OLD
        links = [link for links in ssh_connect.POOL._links.values() for link in links]
        assert links and all(link.client is not None for link in links)
        for link in links:
            sock = link.client.get_transport().sock  # type: ignore[union-attr]
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        transport.close()
