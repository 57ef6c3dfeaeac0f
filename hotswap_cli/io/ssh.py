"""One verified, reused paramiko connection per instance: host keys, bounded connect retries, commands."""

from __future__ import annotations

import errno
import getpass
import os
import random
import shlex
import socket
import time

import paramiko

from hotswap_cli.errors import TransportError
from hotswap_cli.specs import SshSpec


class UnknownHostKey(Exception):
    def __init__(self, key: paramiko.PKey) -> None:
        super().__init__("unknown host key")
        self.key = key


class _RefuseUnknown(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise UnknownHostKey(key)


def _transient(exc: BaseException) -> bool:
    """Drops before or during key exchange (sshd past MaxStartups, a restarting server)."""
    if isinstance(exc, paramiko.AuthenticationException | paramiko.BadHostKeyException | UnknownHostKey):
        return False
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError | EOFError):
        return True
    text = str(exc).lower()
    return isinstance(exc, paramiko.SSHException) and any(
        word in text for word in ("banner", "reset", "eof", "closed", "negotiation")
    )


class SshConnection:
    """Connects lazily on first use and reconnects if the connection died (e.g. before a revert)."""

    def __init__(self, instance: str, spec: SshSpec) -> None:
        self.instance = instance
        self.host = spec.host
        self.port = spec.port
        self.user: str = spec.user or getpass.getuser()
        self.key = spec.key
        self.known_hosts = spec.known_hosts
        self.timeout = spec.timeout
        self.command_timeout = spec.command_timeout
        self.retries = spec.retries
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None

    @property
    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    @property
    def client(self) -> paramiko.SSHClient:
        if not self.client_alive():
            self.close()
            self._client = self._connect()
        assert self._client is not None
        return self._client

    @property
    def sftp(self) -> paramiko.SFTPClient:
        client = self.client  # may reconnect, which drops a stale sftp session
        if self._sftp is None:
            try:
                self._sftp = client.open_sftp()
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise TransportError(self.instance, f"cannot open SFTP on {self.where}: {exc}") from None
        return self._sftp

    def client_alive(self) -> bool:
        transport = self._client.get_transport() if self._client else None
        return transport is not None and transport.is_active()

    def run(self, command: str, *, env: dict[str, str] | None = None) -> tuple[int, str]:
        """Run `command` (already quoted) in the remote shell; exit status and combined output."""
        prefix = "".join(f"{k}={shlex.quote(v)}; export {k}; " for k, v in (env or {}).items())
        try:
            chan = self.client.get_transport().open_session(timeout=self.timeout)  # type: ignore[union-attr]
            try:
                chan.settimeout(self.command_timeout)
                chan.set_combine_stderr(True)
                chan.exec_command(prefix + command)
                chunks = []
                while data := chan.recv(65536):
                    chunks.append(data)
                return chan.recv_exit_status(), b"".join(chunks).decode("utf-8", "replace")
            finally:
                chan.close()
        except TimeoutError:
            raise TransportError(self.instance, f"command timed out after {self.command_timeout:g}s: "
                                 f"{command}") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(self.instance, f"connection to {self.where} lost while running a command: "
                                 f"{exc or type(exc).__name__}") from None

    def close(self) -> None:
        for closable in (self._sftp, self._client):
            if closable is not None:
                try:
                    closable.close()
                except Exception:  # already broken; nothing left to release
                    pass
        self._sftp, self._client = None, None

    # -- connecting -------------------------------------------------------------------------

    def _connect(self) -> paramiko.SSHClient:
        for attempt in range(self.retries + 1):
            client = paramiko.SSHClient()
            try:
                if os.path.exists(self.known_hosts):
                    client.load_host_keys(self.known_hosts)
                client.set_missing_host_key_policy(_RefuseUnknown())
                client.connect(
                    self.host, port=self.port, username=self.user, key_filename=self.key,
                    allow_agent=self.key is None, look_for_keys=self.key is None, timeout=self.timeout,
                    banner_timeout=self.timeout, auth_timeout=self.timeout, channel_timeout=self.timeout,
                )
                return client
            except Exception as exc:
                client.close()
                if attempt < self.retries and _transient(exc):
                    time.sleep(0.1 * 2**attempt + random.uniform(0, 0.1))
                    continue
                raise self._connect_error(exc) from None
        raise AssertionError("unreachable")

    def _connect_error(self, exc: BaseException) -> TransportError:
        hosts_file = self.known_hosts
        if isinstance(exc, UnknownHostKey):
            return TransportError(
                self.instance,
                f"unknown host key for {self.host}:{self.port} ({exc.key.get_name()} {exc.key.fingerprint}); "
                f"refusing to connect",
                hint=f"after checking the fingerprint: ssh-keyscan -p {self.port} {self.host} >> {hosts_file}",
            )
        if isinstance(exc, paramiko.BadHostKeyException):
            return TransportError(
                self.instance,
                f"HOST KEY CHANGED for {self.host}:{self.port}: it presents {exc.key.fingerprint}, "
                f"{hosts_file} expects {exc.expected_key.fingerprint}; refusing to connect (possible "
                f"man-in-the-middle, or the host was reinstalled)",
                hint=f"if the change is expected: ssh-keygen -R '[{self.host}]:{self.port}' -f {hosts_file}, "
                f"then add the new key",
            )
        if isinstance(exc, paramiko.AuthenticationException):
            how = f"key {self.key}" if self.key else "ssh agent and default keys"
            return TransportError(self.instance, f"authentication failed for {self.where} ({how})",
                                  hint="check `user` and `key`, and that the public key is in authorized_keys")
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
            return TransportError(self.instance, f"connection refused by {self.host}:{self.port}",
                                  hint="is sshd running there, and is the port right?")
        if isinstance(exc, TimeoutError | socket.timeout):
            return TransportError(self.instance, f"connection to {self.host}:{self.port} timed out after "
                                  f"{self.timeout:g}s")
        if isinstance(exc, socket.gaierror):
            return TransportError(self.instance, f"cannot resolve host {self.host}: {exc.strerror}")
        if isinstance(exc, FileNotFoundError) or getattr(exc, "errno", None) == errno.ENOENT:
            return TransportError(self.instance, f"ssh key file not found: {self.key}")
        return TransportError(self.instance, f"cannot connect to {self.where}: {exc or type(exc).__name__}")
