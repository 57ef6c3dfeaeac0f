"""Writes that are all or nothing, on real faults: a full disk (a small tmpfs), a connection that stalls
(a proxy that stops forwarding), a run killed mid-stage (its temp files left behind). Each ends in one
TransportError line and leaves the live file and the kept copy as they were, with no temp file left."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.proxy import TcpProxy, known_hosts_via
from support.sshd import SshServer

from hotswap_cli.errors import TransportError
from hotswap_cli.ops.backends import open_transport
from hotswap_cli.specs import Target, target
from hotswap_cli.transports.local import LocalFS
from hotswap_cli.transports.ssh import SftpFS

OLD = b'{"version": "old"}\n'
OLDER = b'{"version": "older"}\n'  # what a deploy before kept as .hotswap-prev
BIG = b'{"pad": "' + b"x" * 99_980 + b'"}\n'  # 100 KB: more than a 64 KiB tmpfs holds

Make = Callable[..., Target]


def push(tgt: Target, data: bytes) -> None:
    transport = open_transport(tgt)
    try:
        transport.read_current()
        transport.stage(data)
        transport.check()
        try:
            transport.swap()
        except TransportError:
            transport.revert()  # what the runner does after a failed swap: removes the staged file
            raise
        transport.reload()
    finally:
        transport.close()


def temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if "hotswap-" in p.name and p.name.endswith("tmp"))


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a real full disk (mounting needs root; CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    directory = tmp_path / "small"
    directory.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(directory)], check=True)
    yield directory
    subprocess.run(["umount", str(directory)], check=True)


@pytest.fixture(params=["local", "ssh"])
def make(request: pytest.FixtureRequest) -> Make:
    """A target of each file transport kind for a path; `check` a shell command with {path}."""

    def build(path: Path, *, check: str | None = None, **extra: object) -> Target:
        if request.param == "ssh":
            server: SshServer = request.getfixturevalue("sshd")
            return server.target("a", path, reload="true", **({"check": check} if check else {}), **extra)
        spec: dict[str, object] = {"type": "local", "path": str(path), "reload": ["true"]}
        if check:
            spec["check"] = ["sh", "-c", check.replace("{path}", '"$1"'), "check", "{path}"]
        return target("a", {**spec, **extra})

    build.kind = request.param  # type: ignore[attr-defined]
    return build


def test_disk_full_while_staging_leaves_everything_as_it_was(make: Make, tmpfs: Path) -> None:
    live = tmpfs / "app.conf"
    live.write_bytes(OLD)
    (tmpfs / "app.conf.hotswap-prev").write_bytes(OLDER)
    where = " on 127.0.0.1" if make.kind == "ssh" else ""  # type: ignore[attr-defined]
    with pytest.raises(TransportError, match=rf"^a: stage into {tmpfs}: disk full{where}: "
                                             rf"wrote \d+ of {len(BIG)} bytes$"):
        push(make(live), BIG)
    assert live.read_bytes() == OLD
    assert (tmpfs / "app.conf.hotswap-prev").read_bytes() == OLDER
    assert temp_files(tmpfs) == []


@pytest.fixture
def links_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system without hard links (FAT, some FUSE and SFTP servers): the kept copy is written."""

    def refuse(self: object, src: str, dst: str) -> None:
        raise OSError(1, "hard links not supported")

    monkeypatch.setattr(LocalFS, "link", refuse)
    monkeypatch.setattr(SftpFS, "link", refuse)


def test_disk_full_while_keeping_the_previous_copy(make: Make, tmpfs: Path, links_fail: None) -> None:
    live = tmpfs / "app.conf"
    old = b'{"pad": "' + b"o" * 36_000 + b'"}\n'  # room for the new config, not for a copy of this one
    live.write_bytes(old)
    (tmpfs / "app.conf.hotswap-prev").write_bytes(OLDER)
    where = " on 127.0.0.1" if make.kind == "ssh" else ""  # type: ignore[attr-defined]
    with pytest.raises(TransportError, match=rf"^a: swap: keep the previous config as {live}.hotswap-prev: "
                                             rf"disk full{where}: wrote \d+ of {len(old)} bytes$"):
        push(make(live), b'{"version": "new"}\n')
    assert live.read_bytes() == old
    assert (tmpfs / "app.conf.hotswap-prev").read_bytes() == OLDER
    assert temp_files(tmpfs) == []


def test_temp_files_are_0600_until_the_rename(make: Make, tmp_path: Path, links_fail: None) -> None:
    """The staged file is private while it is checked; a watcher never sees a temp file at any mode but
    0600 or (complete, just before its rename) the live file's; the live file and the kept copy then
    have the live file's mode."""
    directory = tmp_path / "conf"
    directory.mkdir()
    live = directory / "app.conf"
    live.write_bytes(OLD)
    live.chmod(0o640)
    record = tmp_path / "staged-mode"
    seen: set[int] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for entry in os.scandir(directory):
                if entry.name.endswith(".tmp"):
                    try:
                        seen.add(entry.stat().st_mode & 0o777)
                    except FileNotFoundError:
                        pass

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for i in range(3):
            push(make(live, check=f"stat -c %a {{path}} > {record}"), b"x" * (300_000 + i) + b"\n")
    finally:
        stop.set()
        watcher.join()
    assert record.read_text().strip() == "600"
    assert 0o600 in seen and seen <= {0o600, 0o640}, f"a temp file was seen at {sorted(map(oct, seen))}"
    assert live.stat().st_mode & 0o777 == 0o640
    assert (directory / "app.conf.hotswap-prev").stat().st_mode & 0o777 == 0o640
    assert temp_files(directory) == []


def test_stale_temp_files_of_a_killed_run_are_removed_by_the_next_stage(make: Make, tmp_path: Path) -> None:
    directory = tmp_path / "conf"
    directory.mkdir()
    live = directory / "app.conf"
    live.write_bytes(OLD)
    stale = [".app.conf.hotswap-0123456789ab.tmp", ".app.conf.hotswap-ba9876543210.tmp"]
    others = [".other.conf.hotswap-0123456789ab.tmp", ".app.conf.hotswap-notmine.tmp", "app.conf.bak"]
    for name in stale + others:
        (directory / name).write_bytes(b"plaintext of an interrupted deploy")
    push(make(live), b"new\n")
    assert live.read_bytes() == b"new\n"
    assert sorted(p.name for p in directory.iterdir()) == sorted(others + ["app.conf", "app.conf.hotswap-prev"])


@pytest.fixture
def stalling(sshd: SshServer, tmp_path: Path) -> Iterator[tuple[TcpProxy, Path]]:
    proxy = TcpProxy(sshd.port)
    proxy.stall_after(300_000)
    yield proxy, known_hosts_via(sshd, proxy, tmp_path / "known_hosts")
    proxy.close()


def test_a_stalled_connection_fails_within_the_timeout(sshd: SshServer, ssh_workdir: Path,
                                                       stalling: tuple[TcpProxy, Path]) -> None:
    proxy, known = stalling
    live = ssh_workdir / "app.conf"
    live.write_bytes(OLD)
    tgt = sshd.target("a", live, port=proxy.port, known_hosts=str(known), retries=0, timeout="1s")
    started = time.monotonic()
    with pytest.raises(TransportError, match=rf"^a: connection to root@127\.0\.0\.1:{proxy.port} stalled: "
                                             rf"no answer within 1s during stage into {ssh_workdir}$"):
        push(tgt, os.urandom(1_000_000))
    assert proxy.tripped.is_set()
    assert time.monotonic() - started < 4
    assert live.read_bytes() == OLD


def test_close_from_another_thread_unblocks_a_stuck_write(sshd: SshServer, ssh_workdir: Path,
                                                          stalling: tuple[TcpProxy, Path]) -> None:
    """Ctrl-C abandons a stuck instance by closing its transport from the main thread."""
    proxy, known = stalling
    live = ssh_workdir / "app.conf"
    live.write_bytes(OLD)
    transport = open_transport(sshd.target("a", live, port=proxy.port, known_hosts=str(known), retries=0,
                                           timeout="60s"))
    transport.read_current()
    failures: list[BaseException] = []
    ended = threading.Event()

    def stage() -> None:
        try:
            transport.stage(os.urandom(1_000_000))
        except BaseException as exc:  # noqa: BLE001 - recorded for the main thread to check
            failures.append(exc)
        ended.set()

    worker = threading.Thread(target=stage, daemon=True)
    worker.start()
    assert proxy.tripped.wait(10)
    time.sleep(0.5)
    assert not ended.is_set(), "the write should be stuck behind the stalled proxy"
    closed = time.monotonic()
    transport.close()
    assert ended.wait(2), "close() from another thread did not unblock the stuck write"
    assert time.monotonic() - closed < 2
    assert len(failures) == 1 and isinstance(failures[0], TransportError)
    assert "was closed" in str(failures[0])
    assert live.read_bytes() == OLD


def test_the_server_offers_fsync(sshd: SshServer, ssh_workdir: Path) -> None:
    """OpenSSH offers fsync@openssh.com; the staged file is flushed with it before it is checked."""
    from hotswap_cli.io.ssh import SshConnection
    from hotswap_cli.specs import SshSpec

    spec = sshd.target("a", ssh_workdir / "app.conf").transport
    assert isinstance(spec, SshSpec)
    conn = SshConnection("a", spec)
    try:
        assert {"fsync@openssh.com", "statvfs@openssh.com"} <= conn.sftp.extensions
    finally:
        conn.close()
