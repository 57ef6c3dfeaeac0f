"""Jump hosts and ProxyCommand against real OpenSSH servers.

The bastion tests run in network namespaces (support.netns): a bastion sshd that only forwards, at
198.51.100.2, and a target sshd at 198.51.100.6 that only the bastion can reach. The namespaces share
the file system, so the target's files are paths under tmp_path. The two-hop chain and ProxyCommand
run on loopback: each bastion may only forward to the next hop (PermitOpen), so a file that lands
went through every hop in order, and every bastion's log counts its logins."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.netns import BASTION_IP, INNER_IP, JumpNetwork, jump_network
from support.push import push
from support.sshd import FORWARD_ONLY, SshServer, keygen, start_sshd

from hotswap_cli.errors import TransportError
from hotswap_cli.io.ssh_connect import LINK_INSTANCES
from hotswap_cli.ops.backends import open_transport
from hotswap_cli.specs import Target, target

OLD = b"old config\n"
NEW = b"new config\n"
IP = shutil.which("ip") or "/usr/sbin/ip"


def close_jumps() -> None:
    from hotswap_cli.io.ssh import close_jumps as close

    close()


@pytest.fixture(autouse=True)
def _fresh_jumps(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No pooled jump connection crosses tests, and no test reads an ssh config it did not write."""
    monkeypatch.setenv("HOTSWAP_SSH_CONFIG", "none")
    close_jumps()
    yield
    close_jumps()


def write_known_hosts(path: Path, *servers: SshServer) -> Path:
    path.write_text("".join(s.known_hosts_line + "\n" for s in servers))
    return path


def wait_logins(server: SshServer, at_least: int, settle: float = 0.3) -> int:
    """The server's login count once it reached `at_least` (sshd logs asynchronously) and settled."""
    deadline = time.monotonic() + 5
    while server.logins() < at_least and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(settle)
    return server.logins()


def host_block(alias: str, server: SshServer, key: Path, known_hosts: Path, extra: str = "") -> str:
    return (f"Host {alias}\n    HostName {server.address}\n    Port {server.port}\n    User {server.user}\n"
            f"    IdentityFile {key}\n    IdentitiesOnly yes\n    UserKnownHostsFile {known_hosts}\n{extra}\n")


def live_file(directory: Path, name: str = "app.conf") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(OLD)
    return path


def full_push(t: Target, live: Path, marker: Path) -> None:
    """read_current -> stage -> check -> swap -> reload -> revert, checked on the file itself."""
    transport = open_transport(t)
    try:
        assert transport.read_current() == OLD
        transport.stage(NEW)
        transport.check()
        transport.swap()
        assert live.read_bytes() == NEW
        transport.reload()
        transport.revert()
    finally:
        transport.close()
    assert live.read_bytes() == OLD
    assert sorted(p.name for p in live.parent.iterdir()) == sorted(["app.conf", marker.name])


def reload_marking(marker: Path) -> str:
    """A reload command that records that it ran, and on which host (its addresses)."""
    return f"echo reloaded >> {marker}; {IP} -4 -o addr show >> {marker}"


def assert_reloaded_on_inner(marker: Path, times: int = 2) -> None:
    text = marker.read_text()
    assert text.count("reloaded") == times
    assert INNER_IP in text and BASTION_IP not in text  # ran on the inner host, not the bastion


# -- the bastion in a network namespace --------------------------------------------------------


@dataclass
class Site:
    net: JumpNetwork
    bastion: SshServer
    inner: SshServer
    key: Path
    known_hosts: Path  # both hosts


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("jump")
    key = root / "id_ed25519"
    keygen(key, "deployer")
    with jump_network() as net:
        servers: list[SshServer] = []
        try:
            bastion = start_sshd(root / "bastion", address=BASTION_IP, netns=net.bastion.name, user_key=key,
                                 sftp=False, extra_config=FORWARD_ONLY, log_file=root / "bastion.log")
            servers.append(bastion)
            inner = start_sshd(root / "inner", address=INNER_IP, netns=net.inner.name, user_key=key,
                               log_file=root / "inner.log")
            servers.append(inner)
            yield Site(net, bastion, inner, key, write_known_hosts(root / "known_hosts", bastion, inner))
        finally:
            close_jumps()  # pooled connections end in the namespaces' sshd: let them go before teardown
            for server in servers:
                server.wait_sessions(0, 10)
                server.stop()


def test_without_the_jump_the_inner_host_is_unreachable(site: Site, tmp_path: Path) -> None:
    with pytest.raises(OSError):
        socket.create_connection((INNER_IP, site.inner.port), timeout=2).close()
    live = live_file(tmp_path / "remote")
    with pytest.raises(TransportError) as exc:
        push(site.inner.target("inner", live, known_hosts=str(site.known_hosts), retries=0), NEW)
    assert exc.value.instance == "inner"
    assert live.read_bytes() == OLD


def test_the_bastion_only_forwards(site: Site) -> None:
    """Its sshd logs in but runs nothing: a step that tried to run on the bastion would fail."""
    with pytest.raises(TransportError):
        push(site.bastion.target("bastion", "/tmp/anything", known_hosts=str(site.known_hosts), retries=0), NEW)


def test_push_to_a_host_alias_behind_a_bastion_from_the_ssh_config(
        site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "ssh_config"
    cfg.write_text(host_block("inner-alias", site.inner, site.key, site.known_hosts, "    ProxyJump bastion\n")
                   + host_block("bastion", site.bastion, site.key, site.known_hosts))
    monkeypatch.setenv("HOTSWAP_SSH_CONFIG", str(cfg))
    live, marker = live_file(tmp_path / "remote"), tmp_path / "remote" / "reloads"
    before = (site.bastion.logins(), site.inner.logins())
    full_push(target("inner", {"type": "ssh", "host": "inner-alias", "path": str(live),
                               "reload": reload_marking(marker), "timeout": "5s"}), live, marker)
    assert_reloaded_on_inner(marker)
    assert wait_logins(site.bastion, before[0] + 1) == before[0] + 1
    assert wait_logins(site.inner, before[1] + 1) >= before[1] + 1


def test_the_profiles_ssh_config_key_names_the_file(
        site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "ssh_config"
    cfg.write_text(host_block("inner-alias", site.inner, site.key, site.known_hosts, "    ProxyJump bastion\n")
                   + host_block("bastion", site.bastion, site.key, site.known_hosts))
    monkeypatch.delenv("HOTSWAP_SSH_CONFIG")
    live, marker = live_file(tmp_path / "remote"), tmp_path / "remote" / "reloads"
    full_push(target("inner", {"type": "ssh", "host": "inner-alias", "path": str(live), "ssh_config": str(cfg),
                               "reload": reload_marking(marker), "timeout": "5s"}), live, marker)
    assert_reloaded_on_inner(marker)


@pytest.mark.parametrize("form", ["string", "list"])
def test_jump_in_the_profile_without_any_ssh_config(site: Site, tmp_path: Path, form: str) -> None:
    live, marker = live_file(tmp_path / "remote"), tmp_path / "remote" / "reloads"
    jump: Any = site.bastion.where if form == "string" else [site.bastion.where]
    before = site.bastion.logins()
    full_push(site.inner.target("inner", live, known_hosts=str(site.known_hosts), jump=jump,
                                reload=reload_marking(marker)), live, marker)
    assert_reloaded_on_inner(marker)
    assert wait_logins(site.bastion, before + 1) == before + 1


def test_twenty_targets_behind_one_bastion_share_one_bastion_login(site: Site, tmp_path: Path) -> None:
    lives = [live_file(tmp_path / "remote", f"app{i}.conf") for i in range(20)]
    targets = [site.inner.target(f"inner-{i}", live, known_hosts=str(site.known_hosts), jump=site.bastion.where)
               for i, live in enumerate(lives)]
    before = (site.bastion.logins(), site.inner.logins())

    def push_one(t: Target) -> bytes | None:
        transport = open_transport(t)
        try:
            current = transport.read_current()
            transport.stage(NEW + t.name.encode())
            transport.swap()
            return current
        finally:
            transport.close()

    with ThreadPoolExecutor(20) as pool:
        currents = list(pool.map(push_one, targets))
    assert currents == [OLD] * 20
    assert [live.read_bytes() for live in lives] == [NEW + f"inner-{i}".encode() for i in range(20)]
    logins = -(-20 // LINK_INSTANCES)  # targets on one host share pooled logins, LINK_INSTANCES to each
    assert wait_logins(site.inner, before[1] + logins) == before[1] + logins
    assert wait_logins(site.bastion, before[0] + 1) == before[0] + 1  # and one for all of them


def test_closed_jumps_are_reopened_by_the_next_target(site: Site, tmp_path: Path) -> None:
    live = live_file(tmp_path / "remote")
    before = site.bastion.logins()
    for n in range(2):
        push(site.inner.target("inner", live, known_hosts=str(site.known_hosts), jump=site.bastion.where), NEW)
        close_jumps()
        assert wait_logins(site.bastion, before + n + 1) == before + n + 1
    assert live.read_bytes() == NEW


@pytest.mark.parametrize("unknown", ["bastion", "inner"])
def test_every_hops_host_key_is_verified(site: Site, tmp_path: Path, unknown: str) -> None:
    known = write_known_hosts(tmp_path / "known_hosts", site.inner if unknown == "bastion" else site.bastion)
    live = live_file(tmp_path / "remote")
    inner_logins = site.inner.logins()
    with pytest.raises(TransportError, match="unknown host key") as exc:
        push(site.inner.target("inner", live, known_hosts=str(known), jump=site.bastion.where, retries=0), NEW)
    assert (BASTION_IP if unknown == "bastion" else INNER_IP) in exc.value.reason
    assert exc.value.instance == "inner"
    assert live.read_bytes() == OLD and [p.name for p in live.parent.iterdir()] == ["app.conf"]
    assert wait_logins(site.inner, inner_logins) == inner_logins  # refused before logging in
    assert (tmp_path / "known_hosts").read_text().count("\n") == 1  # nothing was added


def test_a_bastion_that_refuses_the_key_names_the_bastion(
        site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOTSWAP_SSH_CONFIG")  # the profile's ssh_config: names the file
    stranger = tmp_path / "stranger"
    keygen(stranger, "stranger")
    cfg = tmp_path / "ssh_config"
    cfg.write_text(host_block("bastion", site.bastion, stranger, site.known_hosts))
    live = live_file(tmp_path / "remote")
    with pytest.raises(TransportError, match="authentication failed") as exc:
        push(site.inner.target("inner", live, known_hosts=str(site.known_hosts), jump="bastion",
                               ssh_config=str(cfg), retries=0), NEW)
    assert BASTION_IP in exc.value.reason
    assert live.read_bytes() == OLD


# -- two hops and ProxyCommand, on loopback -------------------------------------------------------


@dataclass
class Chain:
    hop1: SshServer  # may only forward to hop2
    hop2: SshServer  # may only forward to end
    end: SshServer
    key: Path
    known_hosts: Path


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    root = tmp_path_factory.mktemp("chain")
    key = root / "id_ed25519"
    keygen(key, "deployer")
    servers: list[SshServer] = []
    try:
        end = start_sshd(root / "end", user_key=key, log_file=root / "end.log")
        servers.append(end)
        hop2 = start_sshd(root / "hop2", user_key=key, sftp=False, log_file=root / "hop2.log",
                          extra_config=FORWARD_ONLY + f"PermitOpen 127.0.0.1:{end.port}\n")
        servers.append(hop2)
        hop1 = start_sshd(root / "hop1", user_key=key, sftp=False, log_file=root / "hop1.log",
                          extra_config=FORWARD_ONLY + f"PermitOpen 127.0.0.1:{hop2.port}\n")
        servers.append(hop1)
        yield Chain(hop1, hop2, end, key, write_known_hosts(root / "known_hosts", hop1, hop2, end))
    finally:
        for server in servers:
            server.stop()


def test_two_hops_from_the_profile(chain: Chain, tmp_path: Path) -> None:
    live = live_file(tmp_path / "remote")
    before = [s.logins() for s in (chain.hop1, chain.hop2, chain.end)]
    push(chain.end.target("end", live, known_hosts=str(chain.known_hosts), jump=[chain.hop1.where, chain.hop2.where]),
         NEW)
    assert live.read_bytes() == NEW
    assert [wait_logins(s, n + 1) for s, n in zip((chain.hop1, chain.hop2, chain.end), before, strict=True)] == \
        [n + 1 for n in before]


def test_two_hops_from_proxyjump_with_each_hop_an_alias(
        chain: Chain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "ssh_config"
    cfg.write_text(host_block("end-alias", chain.end, chain.key, chain.known_hosts, "    ProxyJump hop1,hop2\n")
                   + host_block("hop1", chain.hop1, chain.key, chain.known_hosts)
                   + host_block("hop2", chain.hop2, chain.key, chain.known_hosts))
    monkeypatch.setenv("HOTSWAP_SSH_CONFIG", str(cfg))
    live, marker = live_file(tmp_path / "remote"), tmp_path / "remote" / "reloads"
    before = [s.logins() for s in (chain.hop1, chain.hop2)]
    full_push(target("end", {"type": "ssh", "host": "end-alias", "path": str(live),
                             "reload": f"echo reloaded >> {marker}", "timeout": "5s"}), live, marker)
    assert marker.read_text() == "reloaded\nreloaded\n"
    assert [wait_logins(s, n + 1) for s, n in zip((chain.hop1, chain.hop2), before, strict=True)] == \
        [n + 1 for n in before]


def test_the_profiles_jump_overrides_the_ssh_configs_proxyjump(
        chain: Chain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "ssh_config"
    cfg.write_text(host_block("end-alias", chain.end, chain.key, chain.known_hosts, "    ProxyJump hop1\n")
                   + host_block("hop1", chain.hop1, chain.key, chain.known_hosts)
                   + host_block("hop2", chain.hop2, chain.key, chain.known_hosts))
    monkeypatch.setenv("HOTSWAP_SSH_CONFIG", str(cfg))
    live = live_file(tmp_path / "remote")
    before = [s.logins() for s in (chain.hop1, chain.hop2)]
    # hop1 alone cannot reach the end (PermitOpen): only the profile's hop2 does
    push(target("end", {"type": "ssh", "host": "end-alias", "path": str(live), "jump": "hop2", "timeout": "5s"}),
         NEW)
    assert live.read_bytes() == NEW
    assert wait_logins(chain.hop2, before[1] + 1) == before[1] + 1
    assert chain.hop1.logins() == before[0]


def test_proxycommand_through_the_openssh_client(
        chain: Chain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("ssh") is None:
        raise RuntimeError("the OpenSSH client `ssh` is not installed (openssh-client)")
    proxy = (f"ssh -F /dev/null -i {chain.key} -o UserKnownHostsFile={chain.known_hosts} "
             f"-o StrictHostKeyChecking=yes -o BatchMode=yes -W %h:%p -p {chain.hop2.port} -l %r 127.0.0.1")
    cfg = tmp_path / "ssh_config"
    cfg.write_text(host_block("via-proxy", chain.end, chain.key, chain.known_hosts, f"    ProxyCommand {proxy}\n"))
    monkeypatch.setenv("HOTSWAP_SSH_CONFIG", str(cfg))
    live, marker = live_file(tmp_path / "remote"), tmp_path / "remote" / "reloads"
    before = chain.hop2.logins()
    full_push(target("end", {"type": "ssh", "host": "via-proxy", "path": str(live),
                             "reload": f"echo reloaded >> {marker}", "timeout": "5s"}), live, marker)
    assert marker.read_text() == "reloaded\nreloaded\n"
    assert wait_logins(chain.hop2, before + 1) == before + 1  # the ProxyCommand's ssh logged in once
