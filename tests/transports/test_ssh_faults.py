"""SSH faults against the real sshd: each gives one clear error and leaves the instance on its old config."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.proxy import TcpProxy, known_hosts_via
from support.push import push as push_through
from support.sshd import SshServer, free_port, keygen

from hotswap_cli.errors import TransportError

OLD = b"old config\n"


def push(target, data: bytes = b"new config\n") -> None:  # type: ignore[no-untyped-def]
    push_through(target, data)


@pytest.fixture
def live(ssh_workdir: Path) -> Path:
    path = ssh_workdir / "app.conf"
    path.write_bytes(OLD)
    return path


def test_connection_refused(sshd: SshServer, live: Path) -> None:
    with pytest.raises(TransportError, match=r"connection refused by 127\.0\.0\.1:\d+") as exc:
        push(sshd.target("a", live, port=free_port(), retries=0))
    assert exc.value.instance == "a"
    assert live.read_bytes() == OLD


def test_auth_failure(sshd: SshServer, live: Path, tmp_path: Path) -> None:
    keygen(tmp_path / "stranger", "stranger")
    with pytest.raises(TransportError, match="authentication failed for root@127.0.0.1") as exc:
        push(sshd.target("a", live, key=str(tmp_path / "stranger")))
    assert "authorized_keys" in str(exc.value)
    assert live.read_bytes() == OLD


def test_unknown_host_key_is_refused_with_fingerprint_and_how_to_trust_it(
        sshd: SshServer, live: Path, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(TransportError) as exc:
        push(sshd.target("a", live, known_hosts=str(empty)))
    fingerprint = subprocess.run(["ssh-keygen", "-l", "-f", f"{sshd.host_key}.pub"], capture_output=True,
                                 text=True, check=True).stdout.split()[1]
    message = str(exc.value)
    assert "unknown host key" in message and fingerprint in message
    assert f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {empty}" in message
    assert empty.read_text() == "" and live.read_bytes() == OLD


def test_changed_host_key_is_refused(sshd: SshServer, live: Path, tmp_path: Path) -> None:
    keygen(tmp_path / "other_host", "other")
    other = (tmp_path / "other_host.pub").read_text().split()
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {other[0]} {other[1]}\n")
    with pytest.raises(TransportError, match="HOST KEY CHANGED") as exc:
        push(sshd.target("a", live, known_hosts=str(known)))
    assert "ssh-keygen -R" in str(exc.value)
    assert live.read_bytes() == OLD


def test_missing_remote_directory(sshd: SshServer, ssh_workdir: Path) -> None:
    path = ssh_workdir / "nowhere" / "app.conf"
    with pytest.raises(TransportError, match=f"remote directory {ssh_workdir / 'nowhere'} does not exist"):
        push(sshd.target("a", path))
    assert not path.parent.exists()


@pytest.fixture
def readonly_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory even root cannot write: a read-only tmpfs (root) or mode 0555 (other users)."""
    directory = tmp_path / "ro"
    directory.mkdir()
    (directory / "app.conf").write_bytes(OLD)
    if os.geteuid() != 0:
        directory.chmod(0o555)
        yield directory
        directory.chmod(0o755)
        return
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "app.conf").write_bytes(OLD)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(directory)], check=True)
    (directory / "app.conf").write_bytes(OLD)
    subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)
    yield directory
    subprocess.run(["umount", str(directory)], check=True)


def test_read_only_target_directory(sshd: SshServer, readonly_dir: Path) -> None:
    with pytest.raises(TransportError, match="stage into .*ro: .*(read-only|permission denied)"):
        push(sshd.target("a", readonly_dir / "app.conf"))
    assert (readonly_dir / "app.conf").read_bytes() == OLD


def test_connection_dropped_mid_upload(sshd: SshServer, live: Path) -> None:
    proxy = TcpProxy(sshd.port)
    proxy.drop_after(200_000)
    known = known_hosts_via(sshd, proxy, live.parent / "known_hosts")
    try:
        with pytest.raises(TransportError, match="stage into .*: connection to root@127.0.0.1:\\d+ dropped"):
            push(sshd.target("a", live, port=proxy.port, known_hosts=str(known), retries=0), os.urandom(1_000_000))
    finally:
        proxy.close()
    assert proxy.tripped.is_set()
    assert live.read_bytes() == OLD
