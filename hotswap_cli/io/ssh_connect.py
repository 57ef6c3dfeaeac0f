"""Logging in over ssh along a Route: directly, through a ProxyCommand, or through jump hosts whose
connections are shared. Every hop's host key is verified (plain known_hosts keys, or host
certificates from a listed CA); bounded retries of transient drops; one line for every failure.

Targets: connections are pooled per route (host, port, user, keys, known_hosts, jumps, ProxyCommand;
see ConnectionPool): a deploy's live read, its push and its `where: target` probes of one instance
share one login, and up to LINK_INSTANCES instances on the same host share it too. A connection that
broke or stalled is dropped from the pool and never handed out again.

Jump hosts: one connection per chain of hops per process, shared by every target behind it (50
targets behind one bastion are 1 bastion login and 50 channels), kept until close_jumps() or the
process ends. A chain whose connection died is reconnected by the next target that needs it."""

from __future__ import annotations

import atexit
import errno
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import paramiko

from hotswap_cli.errors import TransportError
from hotswap_cli.io.ssh_config import Hop, Route
from hotswap_cli.io.ssh_hostkeys import HOST_CERT_ALGORITHMS, HostCertRefused, KnownHosts, UnknownHostKey, VerifyHostKey

Sock = paramiko.Channel | paramiko.ProxyCommand | socket.socket


def transient(exc: BaseException) -> bool:
    """Drops before or during key exchange (sshd past MaxStartups, a restarting server)."""
    if isinstance(exc, paramiko.AuthenticationException | paramiko.BadHostKeyException | UnknownHostKey
                  | HostCertRefused | TransportError):
        return False
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError | EOFError):
        return True
    text = str(exc).lower()
    return isinstance(exc, paramiko.SSHException) and any(
        word in text for word in ("banner", "reset", "eof", "closed", "negotiation")
    )


def login(instance: str, hop: Hop, open_sock: Callable[[], Sock], *, retries: int,
          role: str = "") -> paramiko.SSHClient:
    """A verified, authenticated client for `hop` over the socket `open_sock` gives (one per attempt)."""
    for attempt in range(retries + 1):
        client = paramiko.SSHClient()
        sock: Sock | None = None
        try:
            sock = open_sock()
            known = KnownHosts.load(hop.known_hosts)
            trusted = client.get_host_keys()  # read only: the policy below never adds a key
            for name in known.keys.keys():
                for kind, key in known.keys[name].items():
                    trusted.add(name, kind, key)
            client.set_missing_host_key_policy(VerifyHostKey(known, hop.key_name, hop.host_key_alias or hop.host))
            with_certs = bool(known.authorities_for(hop.key_name))
            client.connect(
                hop.host_key_alias or hop.host, port=22 if hop.host_key_alias else hop.port, username=hop.user,
                sock=sock, pkey=_certified_key(hop), key_filename=list(hop.keys) or None,  # type: ignore[arg-type]
                allow_agent=not hop.identities_only, look_for_keys=not hop.keys,
                timeout=hop.connect_timeout, banner_timeout=hop.connect_timeout,
                auth_timeout=hop.connect_timeout, channel_timeout=hop.connect_timeout,
                transport_factory=_prefer_host_certs if with_certs else None,  # type: ignore[arg-type]
            )
            return client
        except TransportError:
            client.close()
            raise
        except Exception as exc:
            client.close()
            if sock is not None:
                sock.close()
            if attempt < retries and transient(exc):
                time.sleep(0.1 * 2**attempt + random.uniform(0, 0.1))
                continue
            raise connect_error(instance, hop, exc, role=role) from None
    raise AssertionError("unreachable")


def _prefer_host_certs(sock: Sock, **kwargs: object) -> paramiko.Transport:
    """A transport that asks for a host certificate first (where a CA is listed for the host)."""
    transport = paramiko.Transport(sock, **kwargs)  # type: ignore[arg-type]
    options = transport.get_security_options()
    options.key_types = HOST_CERT_ALGORITHMS + tuple(options.key_types)
    return transport


def _certified_key(hop: Hop) -> paramiko.PKey | None:
    """The first identity with the CertificateFile the config names (paramiko itself offers
    `<key>-cert.pub` next to a key; a CertificateFile elsewhere needs loading here)."""
    if not hop.certificate or not hop.keys:
        return None
    key = paramiko.PKey.from_path(hop.keys[0])
    key.load_certificate(hop.certificate)
    return key


def direct(hop: Hop) -> Callable[[], Sock]:
    def open_sock() -> Sock:
        sock = socket.create_connection((hop.host, hop.port), timeout=hop.connect_timeout)
        # Every ssh request (open a channel, exec, an SFTP call) is one small packet that waits for its
        # answer: with Nagle on, the kernel holds the next one until the server's delayed ACK, ~40 ms a
        # command. OpenSSH's client turns it off too.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    return open_sock


def route_sock(instance: str, route: Route, retries: int) -> Callable[[], Sock]:
    """Opens the path to the route's target: a TCP socket, a ProxyCommand, or a channel through the jumps."""
    target = route.target
    if route.jumps:
        def through_jumps() -> Sock:
            return JUMPS.channel(instance, route.jumps, target, retries)

        return through_jumps
    if route.proxy_command:
        command = route.proxy_command

        def proxy() -> Sock:
            return paramiko.ProxyCommand(command)

        return proxy
    return direct(target)


class _Jump:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.client: paramiko.SSHClient | None = None

    def alive(self) -> bool:
        transport = self.client.get_transport() if self.client else None
        return transport is not None and transport.is_active()


class JumpPool:
    """Shared connections to jump hosts, one per chain of hops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chains: dict[tuple[Hop, ...], _Jump] = {}
        self.logins = 0  # jump host logins made by this process (for tests and benchmarks)

    def channel(self, instance: str, hops: tuple[Hop, ...], to: Hop, retries: int) -> paramiko.Channel:
        """A direct-tcpip channel from the last hop to `to`; a dead shared connection is replaced once."""
        for fresh in (False, True):
            transport = self._transport(instance, hops, retries, fresh=fresh)
            try:
                return transport.open_channel("direct-tcpip", (to.host, to.port), ("127.0.0.1", 0),
                                              timeout=to.connect_timeout)
            except paramiko.ChannelException as exc:  # the jump host answered: it cannot or will not
                raise TransportError(instance, f"jump host {hops[-1].alias} could not open a connection to "
                                     f"{to.host}:{to.port}: {exc.text or exc}",
                                     hint="check the target's HostName/Port, and that the jump host "
                                          "allows TCP forwarding (AllowTcpForwarding)") from None
            except (paramiko.SSHException, OSError, EOFError):
                if fresh:
                    raise
        raise AssertionError("unreachable")

    def _transport(self, instance: str, hops: tuple[Hop, ...], retries: int, *, fresh: bool) -> paramiko.Transport:
        with self._lock:
            entry = self._chains.setdefault(hops, _Jump())
        with entry.lock:
            if fresh and entry.client is not None:
                entry.client.close()
                entry.client = None
            if not entry.alive():
                hop = hops[-1]
                if len(hops) > 1:
                    inner = hops[:-1]

                    def open_sock() -> Sock:
                        return self.channel(instance, inner, hop, retries)
                else:
                    open_sock = direct(hop)
                entry.client = login(instance, hop, open_sock, retries=retries, role="jump host ")
                self.logins += 1
            transport = entry.client.get_transport() if entry.client else None
            assert transport is not None
            return transport

    def close(self) -> None:
        with self._lock:
            chains = list(self._chains.values())
            self._chains.clear()
        for entry in reversed(chains):  # the innermost hops first
            if entry.client is not None:
                entry.client.close()


JUMPS = JumpPool()
atexit.register(JUMPS.close)


# -- pooled target connections ----------------------------------------------------------------------

LINK_INSTANCES = 3  # instances per connection: each holds at most 3 sessions (its SFTP, a command, a
#                     probe's command), so 3 stay under OpenSSH's default MaxSessions 10
IDLE_SECONDS = 15.0  # an unused connection is kept this long for the next step (ControlPersist-like)

LinkKey = tuple[Hop, tuple[Hop, ...], str | None]


class Link:
    """One logged-in connection in the pool. `users` leases hold it; `bound` are the instances it
    serves now."""

    def __init__(self, key: LinkKey) -> None:
        self.key = key
        self.client: paramiko.SSHClient | None = None
        self.ready = threading.Event()  # set once the login finished, either way
        self.error: TransportError | None = None
        self.broken = False  # never handed out again
        self.users: dict[str, int] = {}  # instance -> leases
        self.idle_since: float | None = None

    @property
    def bound(self) -> set[str]:
        return {i for i, n in self.users.items() if n > 0}

    def alive(self) -> bool:
        transport = self.client.get_transport() if self.client else None
        return not self.broken and transport is not None and transport.is_active()



class ConnectionPool:
    """Logged-in target connections, shared (refcounted) by every SshConnection with the same route.
    A lease is taken on first use and given back by release(); the last one leaves the connection
    idle for IDLE_SECONDS (closed after that, or at exit). kill() closes it for good: a stalled or
    broken connection is never handed out again."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._links: dict[LinkKey, list[Link]] = {}
        self.logins = 0  # target logins made by this process (for tests and benchmarks)

    def acquire(self, instance: str, route: Route, retries: int) -> tuple[Link, bool]:
        """A live connection for `instance` (the one it already uses when there is room), and
        whether this call logged it in. Waiting for another thread's login is bounded."""
        key: LinkKey = (route.target, route.jumps, route.proxy_command)
        for _ in range(3):  # a reused connection found dead is replaced
            with self.lock:
                self._reap()
                links = self._links.setdefault(key, [])
                link = (next((k for k in links if not k.broken and k.users.get(instance)), None)
                        or next((k for k in links if not k.broken and len(k.bound) < LINK_INSTANCES), None))
                fresh = link is None
                if link is None:
                    link = Link(key)
                    links.append(link)
                link.users[instance] = link.users.get(instance, 0) + 1
                link.idle_since = None
            if fresh:
                self._login(link, instance, route, retries)
                return link, True
            if not link.ready.wait(_login_bound(route, retries)):
                self.release(link, instance)
                raise TransportError(instance, f"connection to {route.target.where} timed out: the login "
                                     f"did not finish within {_login_bound(route, retries):g}s")
            if link.error is not None:
                self.release(link, instance)
                raise TransportError(instance, link.error.reason, hint=link.error.hint)
            if link.alive():
                return link, False
            self.kill(link)
            self.release(link, instance)
        raise TransportError(instance, f"connection to {route.target.where} keeps dropping")

    def _login(self, link: Link, instance: str, route: Route, retries: int) -> None:
        try:
            link.client = login(instance, route.target, route_sock(instance, route, retries), retries=retries)
            with self.lock:
                self.logins += 1
        except BaseException as exc:
            link.error = exc if isinstance(exc, TransportError) else TransportError(
                instance, f"cannot connect to {route.target.where}: {type(exc).__name__}")
            self.kill(link)
            self.release(link, instance)
            raise
        finally:
            link.ready.set()

    def release(self, link: Link, instance: str) -> None:
        """Give back one lease."""
        with self.lock:
            left = link.users.get(instance, 0) - 1
            if left > 0:
                link.users[instance] = left
            else:
                link.users.pop(instance, None)
            if not link.users:
                link.idle_since = time.monotonic()

    def kill(self, link: Link) -> None:
        """Close the connection and drop it from the pool: it is never handed out again. Safe from
        any thread; closing the transport ends every wait on it."""
        with self.lock:
            link.broken = True
            links = self._links.get(link.key, [])
            if link in links:
                links.remove(link)
        close_quietly(link.client)  # closing the transport ends every wait on it, its channels' too

    def _reap(self) -> None:
        """Close connections nobody used for IDLE_SECONDS (under self.lock)."""
        now = time.monotonic()
        for links in self._links.values():
            for link in [k for k in links if k.idle_since is not None and now - k.idle_since > IDLE_SECONDS]:
                links.remove(link)
                link.broken = True
                threading.Thread(target=close_quietly, args=(link.client,), daemon=True).start()

    def close(self) -> None:
        """Close every pooled connection (in use or not)."""
        with self.lock:
            links = [k for group in self._links.values() for k in group]
            self._links.clear()
        for link in links:
            self.kill(link)


def _login_bound(route: Route, retries: int) -> float:
    """How long a login can take at most (each hop: TCP, banner and auth timeouts; retries; backoff)."""
    hops = (*route.jumps, route.target)
    return sum(3 * hop.connect_timeout + 1.0 for hop in hops) * (retries + 1) + 0.2 * 2 ** (retries + 1)


def close_quietly(closable: Any) -> None:
    """Close `closable` (None: nothing) when it may be broken already."""
    if closable is None:
        return
    try:
        closable.close()
    except Exception:  # noqa: BLE001 - already broken; nothing left to release
        pass


POOL = ConnectionPool()
atexit.register(POOL.close)


def close_jumps() -> None:
    """Close every shared connection: the pooled target connections, then the jump hosts' (the
    next target that needs one reconnects)."""
    POOL.close()
    JUMPS.close()


def connect_error(instance: str, hop: Hop, exc: BaseException, *, role: str = "") -> TransportError:
    """One line for a failed login to `hop` (`role`: "jump host " for a hop on the way)."""
    name, where = hop.key_name, f"{role}{hop.host}:{hop.port}"
    hosts_file = hop.known_hosts[0] if hop.known_hosts else "~/.ssh/known_hosts"
    if isinstance(exc, UnknownHostKey):
        return TransportError(
            instance, f"unknown host key for {where} ({exc.key.get_name()} {exc.key.fingerprint}); refusing to connect",
            hint=f"after checking the fingerprint: ssh-keyscan -p {hop.port} {hop.host} >> {hosts_file}")
    if isinstance(exc, HostCertRefused):
        return TransportError(instance, f"host certificate of {where} refused: {exc}",
                              hint=f"list the signing CA for {name} as `@cert-authority` in {hosts_file}, or check "
                                   "the certificate with ssh-keygen -L -f")
    if isinstance(exc, paramiko.BadHostKeyException):
        return TransportError(
            instance,
            f"HOST KEY CHANGED for {where}: it presents {exc.key.fingerprint}, {hosts_file} expects "
            f"{exc.expected_key.fingerprint}; refusing to connect (possible man-in-the-middle, or the host was "
            f"reinstalled)",
            hint=f"if the change is expected: ssh-keygen -R '{name}' -f {hosts_file}, then add the new key")
    if isinstance(exc, paramiko.AuthenticationException):
        how = f"key {', '.join(hop.keys)}" if hop.keys else "ssh agent and default keys"
        return TransportError(instance, f"authentication failed for {role}{hop.where} ({how})",
                              hint="check `user` and `key` (or User/IdentityFile in the ssh config), and that the "
                                   "public key is in authorized_keys there (or its certificate's CA in "
                                   "TrustedUserCAKeys)")
    if isinstance(exc, ConnectionRefusedError | paramiko.ssh_exception.NoValidConnectionsError):
        return TransportError(instance, f"connection refused by {where}", hint="is sshd running there, and is the "
                                                                                 "port right?")
    if isinstance(exc, TimeoutError | socket.timeout):
        return TransportError(instance, f"connection to {where} timed out after {hop.connect_timeout:g}s")
    if isinstance(exc, socket.gaierror):
        hint = None if hop.host != hop.alias else "is it an alias in an ssh config hotswap does not read? see " \
                                                  "--ssh-config"
        return TransportError(instance, f"cannot resolve host {hop.host}: {exc.strerror}", hint=hint)
    if isinstance(exc, paramiko.ProxyCommandFailure):
        return TransportError(instance, f"ProxyCommand for {where} failed: {exc}")
    if isinstance(exc, FileNotFoundError) or getattr(exc, "errno", None) == errno.ENOENT:
        return TransportError(instance, f"ssh key file not found: {', '.join(hop.keys) or hop.certificate}")
    return TransportError(instance, f"cannot connect to {role}{hop.where}: {exc or type(exc).__name__}")
