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

Keyword-only options of `start_sshd` (each default keeps the plain server above):
- `address="127.0.0.1"`: the ListenAddress (and the host in `spec()` and known_hosts).
- `netns=None`: a network namespace name (see support.netns): sshd runs under `ip netns exec NS`;
  readiness is then read from its log ("Server listening on ADDR port P"), which needs no route.
- `log_file=None`: LogLevel VERBOSE and `-E log_file`; `SshServer.logins()` counts its
  "Accepted publickey" lines (one per login). A netns server always logs (default `{dir}/sshd.log`).
- `user_key=None`: an existing private key whose `.pub` becomes authorized_keys, instead of a new key.
- `sftp=True`: False leaves out the sftp subsystem (a bastion that only forwards: add `FORWARD_ONLY`).
- `extra_config=""`: lines appended to sshd_config (sshd keeps the first value of a keyword, so
  these add keywords or `Match` blocks; they cannot change the ones above).
- `trusted_user_ca=None`: a CA public key: `TrustedUserCAKeys` it and `AuthorizedKeysFile none`
  (only user certificates signed by it log in).
- `host_cert_ca=None`: a CA private key: the host key is signed (`ssh-keygen -s CA -h`) for
  `host_cert_principals` (default: `address`), valid for `host_cert_validity` (ssh-keygen -V; default
  always), and presented with `HostCertificate`. `sign_key()` signs any key the same way.
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
ListenAddress {address}
HostKey {dir}/ssh_host_ed25519_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {authorized_keys}
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
MaxStartups 200
MaxSessions 200
AcceptEnv TRACEPARENT
LogLevel {log_level}
"""

SFTP = "Subsystem sftp internal-sftp\n"

# a bastion: logs in and forwards TCP (ProxyJump's direct-tcpip), runs nothing, has no sftp (sftp=False)
FORWARD_ONLY = """\
AllowTcpForwarding yes
PermitTTY no
X11Forwarding no
ForceCommand /bin/false
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


def sign_key(ca: Path, public_key: Path, *, identity: str, principals: str, host: bool = False,
             validity: str | None = None) -> Path:
    """Sign `public_key` (a `.pub`) with the CA private key `ca`: `<name>-cert.pub` next to it."""
    argv = ["ssh-keygen", "-q", "-s", str(ca), "-I", identity, "-n", principals]
    argv += ["-h"] if host else []
    argv += ["-V", validity] if validity else []
    subprocess.run([*argv, str(public_key)], check=True, capture_output=True)
    cert = public_key.with_name(public_key.name.removesuffix(".pub") + "-cert.pub")
    if not cert.exists():
        raise RuntimeError(f"ssh-keygen wrote no certificate {cert}")
    return cert


def known_hosts_host(address: str, port: int) -> str:
    """How known_hosts names a host: `address` on port 22, else `[address]:port`."""
    return address if port == 22 else f"[{address}]:{port}"


@dataclass
class SshServer:
    directory: Path
    port: int
    user: str
    user_key: Path
    host_key: Path
    known_hosts: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    address: str = "127.0.0.1"
    log_file: Path | None = None
    netns: str | None = None

    @property
    def host_public_key(self) -> str:
        return self.host_key.with_suffix(".pub").read_text().split()[1]

    @property
    def known_hosts_line(self) -> str:
        """This server's plain host key as one known_hosts line (no newline)."""
        kind, key = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return f"{known_hosts_host(self.address, self.port)} {kind} {key}"

    @property
    def where(self) -> str:
        """`user@address:port`, as `jump:` and ProxyJump name a hop."""
        return f"{self.user}@{self.address}:{self.port}"

    def log_text(self) -> str:
        if self.log_file is None:
            raise RuntimeError(f"sshd in {self.directory} was started without log_file")
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def logins(self) -> int:
        """How many logins this server has logged ("Accepted publickey" lines, needs log_file)."""
        return self.log_text().count("Accepted publickey")

    def spec(self, path: str | Path, **extra: Any) -> dict[str, Any]:
        """An ssh transport dict for a remote path on this server."""
        spec: dict[str, Any] = {"type": "ssh", "host": self.address, "port": self.port, "user": self.user,
                                "key": str(self.user_key), "known_hosts": str(self.known_hosts),
                                "path": str(path), "timeout": "5s"}
        spec.update(extra)
        return spec

    def target(self, name: str, path: str | Path, *, probes: tuple[dict[str, Any], ...] = (),
               **extra: Any) -> Target:
        return target(name, self.spec(path, **extra), probes)

    def sessions(self) -> int:
        """Connection processes the server has now (each connection is a child of the listening sshd)."""
        return len(_children(self.process.pid)) if self.process is not None else 0

    def wait_sessions(self, at_most: int, timeout: float = 10.0) -> bool:
        """Until the server has at most `at_most` connection processes: a dead client's connection
        is then gone, and whatever it had sent is done with, file writes included."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sessions() <= at_most:
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_sshd(directory: Path, attempts: int = 5, *, address: str = "127.0.0.1", netns: str | None = None,
               log_file: Path | None = None, user_key: Path | None = None, sftp: bool = True,
               extra_config: str = "", trusted_user_ca: Path | None = None, host_cert_ca: Path | None = None,
               host_cert_principals: str | None = None, host_cert_validity: str | None = None) -> SshServer:
    """Generate keys and config in `directory`, start `sshd -D` on a free port of `address`, wait for it.
    The keyword-only options are described in the module docstring."""
    sshd = find_sshd()
    directory.mkdir(parents=True, exist_ok=True)
    host_key = directory / "ssh_host_ed25519_key"
    keygen(host_key, "hotswap-test-host")
    if user_key is None:
        user_key = directory / "id_ed25519"
        keygen(user_key, "hotswap-test-user")
    elif not user_key.with_name(user_key.name + ".pub").exists():
        raise RuntimeError(f"user_key {user_key} has no {user_key.name}.pub next to it")
    shutil.copy(user_key.with_name(user_key.name + ".pub"), directory / "authorized_keys")
    authorized_keys = f"{directory}/authorized_keys"
    extra = ""
    if trusted_user_ca is not None:
        authorized_keys = "none"
        extra += f"TrustedUserCAKeys {trusted_user_ca}\n"
    if host_cert_ca is not None:
        cert = sign_key(host_cert_ca, host_key.with_suffix(".pub"), identity="hotswap-test-host", host=True,
                        principals=host_cert_principals or address, validity=host_cert_validity)
        extra += f"HostCertificate {cert}\n"
    if netns is not None and log_file is None:
        log_file = directory / "sshd.log"
    os.makedirs("/run/sshd", exist_ok=True)  # Debian's privilege separation directory
    last = ""
    for _ in range(attempts):
        port = free_port()
        config = directory / "sshd_config"
        config.write_text(SSHD_CONFIG.format(port=port, dir=directory, address=address,
                                             authorized_keys=authorized_keys,
                                             log_level="ERROR" if log_file is None else "VERBOSE")
                          + (SFTP if sftp else "") + extra + extra_config)
        argv = [sshd, "-D", "-e", "-f", str(config)] + ([] if log_file is None else ["-E", str(log_file)])
        if netns is not None:
            argv = ["ip", "netns", "exec", netns, *argv]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ready = (_wait_log(log_file, address, port, proc) if netns is not None
                 else _wait_banner(port, proc, address=address))
        if ready:
            known = directory / "known_hosts"
            server = SshServer(directory, port, getpass.getuser(), user_key, host_key, known, proc,
                               address=address, log_file=log_file, netns=netns)
            known.write_text(server.known_hosts_line + "\n")
            return server
        proc.kill()
        last = proc.communicate()[1].decode(errors="replace").strip()
        if log_file is not None and log_file.exists():
            last = f"{last}\n{log_file.read_text(errors='replace')[-2000:]}".strip()
    raise RuntimeError(f"sshd did not start: {last}")


def _wait_banner(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0, *,
                 address: str = "127.0.0.1") -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((address, port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-"):
                    return True
        except OSError:
            time.sleep(0.05)
    return False


def _wait_log(log_file: Path | None, address: str, port: int, proc: subprocess.Popen[bytes],
              timeout: float = 10.0) -> bool:
    """sshd in a namespace this process has no route into: ready once it logs that it listens."""
    assert log_file is not None
    line = f"Server listening on {address} port {port}."
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if log_file.exists() and line in log_file.read_text(errors="replace"):
            return True
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


def _children(pid: int) -> list[int]:
    """The pids whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found
