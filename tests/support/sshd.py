"""A real OpenSSH sshd on 127.0.0.1 for tests (a pytest plugin: `pytest_plugins = ["support.sshd"]`).

Fixtures:
- `sshd` (session): a running `SshServer`, started once per test session as the current user,
  with its own sshd_config (StrictModes no, UsePAM no, MaxStartups/MaxSessions 200,
  AcceptEnv TRACEPARENT, internal-sftp), a generated ed25519 host key and user key, and a
  known_hosts file that trusts it. `sshd.spec(path, **extra)` gives an ssh transport dict,
  `sshd.target(name, path, **extra)` a `Target`; extra keys (check, reload, ...) are merged in.
- `ssh_workdir` (function): a fresh directory for remote paths (the server is this machine).

`start_sshd(directory)` is the same without pytest (the benchmark uses it). sshd must be
installed (`openssh-server`): a missing sshd fails the tests, it does not skip them.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hotswap_cli.specs import Target, target

SSHD_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {dir}/ssh_host_ed25519_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
MaxStartups 200
MaxSessions 200
AcceptEnv TRACEPARENT
Subsystem sftp internal-sftp
LogLevel ERROR
"""


def find_sshd() -> str:
    for candidate in (shutil.which("sshd"), "/usr/sbin/sshd", "/usr/local/sbin/sshd"):
        if candidate and os.path.exists(candidate):
            return candidate
    raise RuntimeError("sshd not found: install openssh-server (CI does, in .ci/run)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keygen(path: Path, comment: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, capture_output=True)


@dataclass
class SshServer:
    directory: Path
    port: int
    user: str
    user_key: Path
    host_key: Path
    known_hosts: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def host_public_key(self) -> str:
        return self.host_key.with_suffix(".pub").read_text().split()[1]

    def spec(self, path: str | Path, **extra: Any) -> dict[str, Any]:
        """An ssh transport dict for a remote path on this server."""
        spec: dict[str, Any] = {"type": "ssh", "host": "127.0.0.1", "port": self.port, "user": self.user,
                                "key": str(self.user_key), "known_hosts": str(self.known_hosts),
                                "path": str(path), "timeout": "5s"}
        spec.update(extra)
        return spec

    def target(self, name: str, path: str | Path, *, probes: tuple[dict[str, Any], ...] = (),
               **extra: Any) -> Target:
        return target(name, self.spec(path, **extra), probes)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_sshd(directory: Path, attempts: int = 5) -> SshServer:
    """Generate keys and config in `directory`, start `sshd -D` on a free 127.0.0.1 port, wait for it."""
    sshd = find_sshd()
    directory.mkdir(parents=True, exist_ok=True)
    host_key, user_key = directory / "ssh_host_ed25519_key", directory / "id_ed25519"
    keygen(host_key, "hotswap-test-host")
    keygen(user_key, "hotswap-test-user")
    shutil.copy(user_key.with_suffix(".pub"), directory / "authorized_keys")
    os.makedirs("/run/sshd", exist_ok=True)  # Debian's privilege separation directory
    last = ""
    for _ in range(attempts):
        port = free_port()
        config = directory / "sshd_config"
        config.write_text(SSHD_CONFIG.format(port=port, dir=directory))
        proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if _wait_banner(port, proc):
            kind, key = host_key.with_suffix(".pub").read_text().split()[:2]
            known = directory / "known_hosts"
            known.write_text(f"[127.0.0.1]:{port} {kind} {key}\n")
            return SshServer(directory, port, getpass.getuser(), user_key, host_key, known, proc)
        proc.kill()
        last = proc.communicate()[1].decode(errors="replace").strip()
    raise RuntimeError(f"sshd did not start: {last}")


def _wait_banner(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-"):
                    return True
        except OSError:
            time.sleep(0.05)
    return False


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture
def ssh_workdir(tmp_path: Path) -> Path:
    work = tmp_path / "remote"
    work.mkdir()
    return work
