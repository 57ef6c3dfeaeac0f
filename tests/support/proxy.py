"""A TCP proxy on 127.0.0.1 in front of a real server (sshd), whose link the test breaks on
purpose: refused, gone silent after n bytes, or cut after n bytes."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from support.sshd import SshServer


class TcpProxy:
    """Forwards 127.0.0.1:port to 127.0.0.1:target_port (an sshd). `refuse()` closes the port (connection refused) until
    `restore()`; `stall_after(n)` / `drop_after(n)` let n more client bytes through, then stop
    forwarding with every socket left open (a link gone silent) / cut the connection. `mute()`
    forwards every request and holds back every answer (a server whose replies are lost)."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.port = 0
        self.mode = "pass"
        self.budget = 0
        self.tripped = threading.Event()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._sockets: list[socket.socket] = []
        self._pipes = 0  # directions still forwarding
        self._idle = threading.Condition()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        with self._lock:
            self.mode = "pass"
        if self._listener is None:
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(16)
            self.port = listener.getsockname()[1]
            self._listener = listener
            threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def refuse(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def stall_after(self, nbytes: int) -> None:
        with self._lock:
            self.mode, self.budget = "stall", nbytes

    def mute(self) -> None:
        with self._lock:
            self.mode = "mute"

    def drop_after(self, nbytes: int) -> None:
        with self._lock:
            self.mode, self.budget = "drop", nbytes

    def close(self) -> None:
        self.refuse()
        self._release.set()
        for s in self._sockets:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            self._sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _spend(self, n: int) -> str:
        """What to do with n more bytes from the client: pass | stall | drop."""
        with self._lock:
            if self.mode in ("pass", "mute"):
                return "pass"
            self.budget -= n
            if self.budget >= 0:
                return "pass"
            self.tripped.set()
            return self.mode

    def wait_idle(self, timeout: float) -> bool:
        """Until every connection through the proxy has ended (the server has seen the client go)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pipes == 0, timeout)

    def _pipe(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        with self._idle:
            self._pipes += 1
        try:
            self._forward(src, dst, upstream)
        finally:
            with self._idle:
                self._pipes -= 1
                self._idle.notify_all()

    def _forward(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        try:
            while data := src.recv(16384):
                action = self._spend(len(data)) if upstream else ("stall" if self.mode == "mute" or (
                    self.tripped.is_set() and self.mode == "stall") else "pass")
                if action == "stall":
                    self._release.wait()
                    return
                if action == "drop":
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def known_hosts_via(sshd: SshServer, proxy: TcpProxy, path: Path) -> Path:
    """A known_hosts file that trusts sshd's key at the proxy's port."""
    path.write_text(sshd.known_hosts.read_text().replace(f"]:{sshd.port} ", f"]:{proxy.port} "))
    return path
