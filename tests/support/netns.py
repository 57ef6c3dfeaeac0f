"""Network namespaces joined by veth pairs: hosts the test process itself has no route to (a target
that only a bastion reaches). Needs root and iproute2's `ip`; a missing tool fails loudly, it never skips.

- `Network()`: a context manager. `net.namespace("b")` makes namespace `hotswap-<pid>-b` (loopback up);
  `net.link(None, "198.51.100.1/30", b, "198.51.100.2/30")` joins the root namespace (None) or one
  namespace to another with a veth pair, addresses given in CIDR. On exit every namespace it made is
  deleted (which destroys the veths in it), also when the setup failed half way; a process still
  running in one then fails the teardown (stop your servers first). Namespaces left by a test process
  that died (`hotswap-<pid>-*` whose pid is gone) are deleted when the next Network starts.
- `jump_network()`: the bastion topology of the jump-host tests, as a JumpNetwork:
  root 198.51.100.1/30 <-veth-> 198.51.100.2/30 BASTION 198.51.100.5/30 <-veth-> 198.51.100.6/30 INNER.
  The bastion namespace does not forward (a fresh namespace has ip_forward 0) and the root namespace
  has no route to 198.51.100.4/30, so INNER is reachable only from inside BASTION.

Namespaces share the file system with the test: a path under tmp_path is the same file in all of them.
Only one test module uses 198.51.100.0/24 in the root namespace (CI runs files on workers with
--dist loadfile, so two workers never set it up at once).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

PREFIX = "hotswap-"
BASTION_IP = "198.51.100.2"
INNER_IP = "198.51.100.6"


def ip(*args: str) -> str:
    if shutil.which("ip") is None:
        raise RuntimeError("`ip` (iproute2) not found: the network namespace tests need it")
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip() or f'exit {done.returncode}'}")
    return done.stdout


@dataclass(frozen=True)
class Namespace:
    name: str

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run inside this namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(argv), capture_output=True, text=True, **kwargs)  # type: ignore[call-overload, no-any-return]

    def pids(self) -> list[int]:
        return [int(p) for p in ip("netns", "pids", self.name).split()]


class Network:
    def __init__(self) -> None:
        self.namespaces: list[Namespace] = []
        self._veths = 0

    def __enter__(self) -> Network:
        sweep_stale()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def namespace(self, label: str) -> Namespace:
        ns = Namespace(f"{PREFIX}{os.getpid()}-{label}")
        ip("netns", "add", ns.name)
        self.namespaces.append(ns)
        ip("-n", ns.name, "link", "set", "lo", "up")
        return ns

    def link(self, left: Namespace | None, left_cidr: str, right: Namespace, right_cidr: str) -> None:
        """A veth pair: one end in `left` (None: the root namespace), the other in `right`, both up."""
        self._veths += 1
        a, b = f"hs{os.getpid()}v{self._veths}a", f"hs{os.getpid()}v{self._veths}b"  # <= 15 characters
        if left is None:
            ip("link", "add", a, "type", "veth", "peer", "name", b, "netns", right.name)
        else:
            ip("-n", left.name, "link", "add", a, "type", "veth", "peer", "name", b, "netns", right.name)
        for ns, dev, cidr in ((left, a, left_cidr), (right, b, right_cidr)):
            where = [] if ns is None else ["-n", ns.name]
            ip(*where, "addr", "add", cidr, "dev", dev)
            ip(*where, "link", "set", dev, "up")

    def close(self) -> None:
        """Delete every namespace made here (their veths go with them); complain about leftovers."""
        leftovers = []
        for ns in reversed(self.namespaces):
            try:
                pids = ns.pids()
            except RuntimeError:
                pids = []
            if pids:
                leftovers.append(f"{ns.name}: pids {pids}")
            try:
                ip("netns", "del", ns.name)
            except RuntimeError as exc:
                leftovers.append(str(exc))
        self.namespaces.clear()
        for n in range(1, self._veths + 1):  # a root-side end whose peer namespace lives on (leftover pids)
            dev = f"hs{os.getpid()}v{n}a"
            if subprocess.run(["ip", "link", "show", dev], capture_output=True).returncode == 0:
                subprocess.run(["ip", "link", "del", dev], capture_output=True)
        if leftovers:
            raise RuntimeError("network namespaces torn down with processes still in them: " + "; ".join(leftovers))


def sweep_stale() -> None:
    """Delete `hotswap-<pid>-*` namespaces whose test process is gone."""
    for line in ip("netns", "list").splitlines():
        match = re.match(rf"{re.escape(PREFIX)}(\d+)-\S+", line)
        if match and not os.path.exists(f"/proc/{match.group(1)}"):
            subprocess.run(["ip", "netns", "del", match.group(0)], capture_output=True)


@dataclass(frozen=True)
class JumpNetwork:
    bastion: Namespace  # reachable from the test at BASTION_IP
    inner: Namespace  # at INNER_IP, reachable only from inside bastion


@contextmanager
def jump_network() -> Iterator[JumpNetwork]:
    """The bastion topology (module docstring); everything is deleted on exit."""
    with Network() as net:
        bastion, inner = net.namespace("bastion"), net.namespace("inner")
        net.link(None, "198.51.100.1/30", bastion, f"{BASTION_IP}/30")
        net.link(bastion, "198.51.100.5/30", inner, f"{INNER_IP}/30")
        yield JumpNetwork(bastion, inner)
