"""An instance's ssh connection: host keys, bounded connect retries, commands, SFTP, and a deadline on
every wait (a step that moves no byte for `timeout` seconds fails, and closing the connection from
another thread ends whatever this one is waiting for). The login itself is drawn from the process's
pool (ssh_connect.POOL), so a deploy's live read, push and `where: target` probes of one host share
one TCP connection and one authentication; a stalled or broken one is dropped from the pool."""

from __future__ import annotations

import errno
import getpass
import shlex
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import paramiko
from paramiko.message import Message
from paramiko.sftp import CMD_INIT, CMD_STATUS, CMD_VERSION

from hotswap_cli.errors import TransportError
from hotswap_cli.io.ssh_config import Route, resolve
from hotswap_cli.io.ssh_connect import POOL, Link, close_jumps, close_quietly
from hotswap_cli.io.steps import step_error
from hotswap_cli.io.watchdog import WATCHDOG
from hotswap_cli.specs import SshSpec

__all__ = ["Sftp", "SshConnection", "close_jumps"]


_SFTP_VERSION = 3  # the protocol version paramiko (and OpenSSH) speak
CONNECTING_LOOK = 0.2  # seconds between a deadline's looks while the login (bounded on its own) runs


class Sftp(paramiko.SFTPClient):
    """paramiko's SFTP client plus two things it drops: the extensions the server offers
    (`fsync@openssh.com`, `statvfs@openssh.com`, ...) and the moment a byte last moved, which is how
    SshConnection.bounded tells a slow step from a stalled one. paramiko has no public calls for raw
    requests (extensions, opening with attributes, pipelined writes whose replies are all read); the
    typed methods below are the one place its internal ones are used."""

    def __init__(self, channel: paramiko.Channel, moved: Callable[[], None]) -> None:
        self.extensions: frozenset[str] = frozenset()
        self._moved = moved
        super().__init__(channel)

    def _send_version(self) -> int:
        # paramiko's own reads the server's VERSION packet and throws its extension pairs away
        msg = Message()
        msg.add_int(_SFTP_VERSION)
        self._send_packet(CMD_INIT, msg)  # type: ignore[attr-defined]
        kind, data = self._read_packet()  # type: ignore[attr-defined]
        if kind != CMD_VERSION:
            raise paramiko.SSHException("incompatible SFTP protocol")
        reply = Message(data)
        version = int(reply.get_int())
        names = set()
        while reply.get_remainder():
            names.add(reply.get_text())
            reply.get_binary()
        self.extensions = frozenset(names)
        return version

    def _read_all(self, n: int) -> bytes:  # type: ignore[misc]
        data: bytes = super()._read_all(n)  # type: ignore[misc]
        self._moved()
        return data

    def _write_all(self, out: bytes) -> None:  # type: ignore[misc]
        super()._write_all(out)  # type: ignore[misc]
        self._moved()

    def request(self, kind: int, *args: object) -> tuple[int, Message]:
        """Send one request and wait for its reply; an error status raises (OSError, EOFError)."""
        reply: tuple[int, Message] = self._request(kind, *args)  # type: ignore[attr-defined]
        return reply

    def request_async(self, replies: object, kind: int, *args: object) -> int:
        """Send one request without waiting; its reply goes to `replies._async_response(kind, msg, num)`."""
        return int(self._async_request(replies, kind, *args))  # type: ignore[attr-defined]

    def read_reply(self) -> None:
        """Read one reply and hand it to whoever asked (see request_async)."""
        self._read_response()  # type: ignore[attr-defined]

    def check_status(self, kind: int, msg: Message) -> None:
        """Raise the error a reply carries (OSError, EOFError); nothing for an OK status."""
        if kind != CMD_STATUS:
            raise OSError(errno.EPROTO, "the server answered with something other than a status")
        self._convert_status(msg)  # type: ignore[attr-defined]


class SshConnection:
    """Connects lazily on first use and reconnects if the connection died (e.g. before a revert)."""

    def __init__(self, instance: str, spec: SshSpec) -> None:
        self.instance = instance
        self.spec = spec
        self._route: Route | None = None
        self.timeout = spec.timeout
        self.command_timeout = spec.command_timeout
        self.retries = spec.retries
        self._link: Link | None = None  # a lease on a pooled connection, taken on first use
        self._fresh = False  # whether that lease logged in (else it was reused, maybe idle for a while)
        self._sftp: Sftp | None = None
        self._busy = 0  # steps running now (close() from another thread then breaks the connection)
        self._closed = False  # by close(): final, never reconnects
        self._moved_at = 0.0  # when an SFTP byte last moved, or the connection became ready
        self._ready_at = 0.0
        self._connecting = False  # connecting has its own timeouts (connect, banner, auth, retries)
        self._stalled: str | None = None

    @property
    def route(self) -> Route:
        """The target's settings merged with the ssh config (read once; an error names the file)."""
        if self._route is None:
            self._route = resolve(self.instance, self.spec)
        return self._route

    @property
    def host(self) -> str:
        return self._route.target.host if self._route else self.spec.host

    @property
    def user(self) -> str:
        return self._route.target.user if self._route else (self.spec.user or getpass.getuser())

    @property
    def where(self) -> str:
        if self._route is not None:
            return self._route.target.where
        return f"{self.user}@{self.spec.host}:{self.spec.port}"

    @property
    def client(self) -> paramiko.SSHClient:
        if self._closed:
            raise TransportError(self.instance, f"connection to {self.where} was closed")
        if self._link is None or not self._link.alive():
            self._drop()
            self._connecting = True
            try:
                self._link, self._fresh = POOL.acquire(self.instance, self.route, self.retries)
            finally:
                self._connecting = False
                self._mark_ready()
        assert self._link is not None and self._link.client is not None
        return self._link.client

    def open_channel(self) -> paramiko.Channel:
        """A new session channel. A reused connection whose peer went away while it sat idle can
        still look alive: its failure to open a channel (which changes nothing remotely) drops it
        and the step goes on with a new login, once."""
        while True:
            client = self.client
            try:
                return client.get_transport().open_session(timeout=self.timeout)  # type: ignore[union-attr]
            except paramiko.ChannelException:  # the server answered and refused (MaxSessions?): it is alive
                raise
            except (paramiko.SSHException, OSError, EOFError):
                if self._fresh or self._closed:
                    raise
                self._drop()

    @property
    def sftp(self) -> Sftp:
        """The SFTP session; every read and write on it times out after `timeout` seconds of silence.
        It is the connection's own: each SshConnection opens one on the pooled login."""
        self.client  # noqa: B018 - may reconnect, which drops a stale sftp session
        if self._sftp is None:
            try:
                channel = self.open_channel()
                channel.settimeout(self.timeout)
                channel.invoke_subsystem("sftp")
                self._sftp = Sftp(channel, self._mark_moved)
                self._mark_ready()
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise TransportError(self.instance, f"cannot open SFTP on {self.where}: "
                                     f"{exc or type(exc).__name__}") from None
        return self._sftp

    def live_sftp(self) -> Sftp | None:
        """The SFTP session if it still stands (for cleanup that must not reconnect), else None."""
        return self._sftp if not self._closed and self.client_alive() else None

    @contextmanager
    def bounded(self, step: str, seconds: float | None = None, *, idle: bool = True) -> Iterator[None]:
        """Run `step` under a deadline: once no SFTP byte has moved for `seconds` (the spec's `timeout`;
        idle=False: once `seconds` have passed at all) a watchdog closes the connection under it. That
        ends every wait paramiko has, including those it does not bound itself (a socket write to a peer
        that stopped reading, a channel request never answered). The step then fails with one line,
        "stalled"; the next step reconnects. After close() from another thread it fails as "closed"."""
        seconds = self.timeout if seconds is None else seconds
        message = f"connection to {self.where} stalled: no answer within {seconds:g}s during {step}"
        start = time.monotonic()
        self._stalled = None

        def due() -> float:
            if self._connecting:  # connecting has its own timeouts: look again shortly
                return time.monotonic() + CONNECTING_LOOK
            return max(start, self._ready_at, self._moved_at if idle else 0.0) + seconds

        def expire() -> None:
            self._stalled = message
            self._drop()

        watch = WATCHDOG.watch(due, expire)
        self._busy += 1
        try:
            yield
        except Exception as exc:
            WATCHDOG.cancel(watch)
            if self._closed:
                raise step_error(self.instance, step, f"connection to {self.where} was closed") from None
            if self._stalled is not None or isinstance(exc, TimeoutError):
                self._drop()  # the session is out of step with the server now
                raise TransportError(self.instance, self._stalled or message) from None
            raise
        finally:
            self._busy -= 1
            WATCHDOG.cancel(watch)

    def _mark_moved(self) -> None:
        self._moved_at = time.monotonic()

    def _mark_ready(self) -> None:
        self._ready_at = time.monotonic()

    def client_alive(self) -> bool:
        return self._link is not None and self._link.alive()

    def run(self, command: str, *, env: dict[str, str] | None = None, step: str = "command") -> tuple[int, str]:
        """Run `command` (already quoted) in the remote shell; exit status and combined output. Silent
        for `command_timeout` seconds: timed out; running past `command_timeout + timeout` in all (or
        stuck where paramiko has no timeout): stalled."""
        with self.bounded(step, self.command_timeout + self.timeout, idle=False):
            return self._run(command, env)

    def _run(self, command: str, env: dict[str, str] | None) -> tuple[int, str]:
        prefix = "".join(f"{k}={shlex.quote(v)}; export {k}; " for k, v in (env or {}).items())
        try:
            chan = self.open_channel()
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

    def exec(self, command: str, *, stdin: bytes = b"", step: str = "command") -> tuple[int, bytes, str]:
        """Run `command` (already quoted) with `stdin`: exit status, stdout bytes, stderr text; bounded
        as `run`."""
        with self.bounded(step, self.command_timeout + self.timeout, idle=False):
            try:
                chan = self.open_channel()
                try:
                    chan.settimeout(self.command_timeout)
                    chan.exec_command(command)
                    if stdin:
                        chan.sendall(stdin)
                    chan.shutdown_write()
                    out = []
                    while data := chan.recv(65536):
                        out.append(data)
                    err = []
                    while data := chan.recv_stderr(65536):
                        err.append(data)
                    return chan.recv_exit_status(), b"".join(out), b"".join(err).decode("utf-8", "replace")
                finally:
                    chan.close()
            except TimeoutError:
                raise step_error(self.instance, step, f"timed out after {self.command_timeout:g}s") from None
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise TransportError(self.instance, f"connection to {self.where} lost during {step}: "
                                     f"{exc or type(exc).__name__}") from None

    def close(self) -> None:
        """Close for good. Between steps the lease goes back to the pool (the SFTP session is
        closed). From another thread while a step runs (Ctrl-C, an abandoned instance) the pooled
        connection itself is closed, so the stuck step raises promptly, and nothing reconnects."""
        self._closed = True
        self._drop(broken=self._busy > 0)

    def _drop(self, *, broken: bool = True) -> None:
        """Let go of the connection; the next use draws a new one (unless close() was called).
        broken: the connection stalled, died or is stuck: close it and take it out of the pool."""
        link, sftp = self._link, self._sftp
        self._link, self._sftp = None, None
        if link is None:
            if sftp is not None:
                close_quietly(sftp)
            return
        if broken or not link.alive():
            POOL.kill(link)  # the transport first: it ends every wait on it, then the channels
        # the SFTP session is not handed on: one left with a reply in flight (a prefetching read)
        # stalled its next owner's first request; a new one costs one channel on the pooled login
        close_quietly(sftp)
        POOL.release(link, self.instance)
