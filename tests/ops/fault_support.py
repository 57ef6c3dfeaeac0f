"""Real servers a fault can be injected into, for the fault matrix (test_fault_matrix.py): an HTTP
instance whose every answer can go wrong (5xx, hang, drip, a huge body, a YAML alias bomb, a
wrong hash, garbage metrics, a failing health check), a TCP proxy in front of sshd that refuses,
stalls or drops, and a small tmpfs for a full (or read-only) disk."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from hotswap_cli.model import config_hash

TEMP_FILE = re.compile(r"^\..+\.hotswap-[0-9a-f]{12}\.tmp$")  # fileswap's staging / kept-copy temp names
# a 200-byte document that expands to 9^9 list items when an unlimited YAML loader reads it
ALIAS_BOMB = b"a: &a [x, x, x, x, x, x, x, x, x]\n" + b"".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n".encode() for i in range(8))
METRICS_GARBAGE = b"<html>502 Bad Gateway {{{ not prometheus</html>\n"
METRICS_OK = (b"# TYPE http_requests_total counter\n"
              b'http_requests_total{status="200"} 1000\nhttp_requests_total{status="500"} 0\n')


def temp_files(*directories: Path) -> list[str]:
    """Every hotswap temp file (`.<name>.hotswap-<12 hex>.tmp`) in these directories."""
    return sorted(str(d / p.name) for d in directories if d.is_dir() for p in d.iterdir() if TEMP_FILE.match(p.name))


# -- an HTTP instance ------------------------------------------------------------------------------


@dataclass
class HttpFaults:
    """What the HTTP instance does wrong now (all off: a well-behaved instance)."""

    put_status: int | None = None  # answer every PUT /config with this status, storing nothing
    put_hang: bool = False  # PUT /config: no answer until the server stops, nothing stored
    put_apply_then_hang: bool = False  # the next PUT /config: stored, then no answer (the answer is lost)
    get_drip: bool = False  # GET /config: one byte every 0.3 s
    get_huge: bool = False  # GET /config: 64 MiB of body, no Content-Length
    confirm: str = "running"  # GET /confirm: running (the stored config's hash) | other | bomb | hang
    metrics_garbage: bool = False
    unhealthy_with: bytes | None = None  # GET /health/<name>: 503 while that instance's config holds these bytes


@dataclass
class HttpInstance:
    """A config endpoint on 127.0.0.1: PUT/GET /config, GET /confirm (the running hash), GET /metrics,
    GET /health/<name> (503 while that instance's config holds `faults.unhealthy_with`)."""

    url: str
    server: ThreadingHTTPServer
    config: bytes | None = None
    faults: HttpFaults = field(default_factory=HttpFaults)
    health_of: dict[str, Callable[[], bytes | None]] = field(default_factory=dict)
    hanging: threading.Event = field(default_factory=threading.Event)  # a request is being held unanswered
    release: threading.Event = field(default_factory=threading.Event)  # let held requests go (at close)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of every request, in order
    connections: int = 0  # TCP connections accepted

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def http_instance() -> Iterator[HttpInstance]:
    state: list[HttpInstance] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            state[0].connections += 1

        def parse_request(self) -> bool:
            ok = super().parse_request()
            if ok:
                state[0].requests.append((self.command, self.path))
            return ok

        def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self) -> None:  # noqa: N802
            inst = state[0]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            faults = inst.faults
            if faults.put_status is not None:
                return self._answer(faults.put_status, b"backend exploded")
            if faults.put_apply_then_hang:
                inst.config = body
                faults.put_apply_then_hang = False  # the first answer is lost; the next PUT (the revert) is answered
                return self._hang(inst)
            if faults.put_hang:
                return self._hang(inst)
            inst.config = body
            self._answer(200, b"{}", {"Content-Type": "application/json"})

        def _hang(self, inst: HttpInstance) -> None:
            inst.hanging.set()
            inst.release.wait()
            self.close_connection = True

        def do_GET(self) -> None:  # noqa: N802
            inst = state[0]
            faults = inst.faults
            if self.path == "/config":
                if faults.get_drip:
                    return self._drip(inst.config or b"{}")
                if faults.get_huge:
                    return self._huge()
                if inst.config is None:
                    return self._answer(404, b"no config")
                return self._answer(200, inst.config, {"Content-Type": "application/json"})
            if self.path == "/confirm":
                if faults.confirm == "hang":
                    return self._hang(inst)
                if faults.confirm == "bomb":
                    return self._answer(200, ALIAS_BOMB, {"Content-Type": "application/yaml"})
                running = config_hash(json.loads(inst.config)) if inst.config else "0" * 64
                if faults.confirm == "other":
                    running = "f" * 64
                return self._answer(200, b"{}", {"X-Config-Sha256": running})
            if self.path == "/metrics":
                return self._answer(200, METRICS_GARBAGE if faults.metrics_garbage else METRICS_OK)
            if self.path.startswith("/health/"):
                source = inst.health_of.get(self.path.removeprefix("/health/"))
                held = source() if source is not None else None
                down = faults.unhealthy_with is not None and held is not None and faults.unhealthy_with in held
                return self._answer(503 if down else 200, b"down" if down else b"ok")
            return self._answer(404)

        def _drip(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for i in range(len(body)):
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    time.sleep(0.3)
            except OSError:
                pass

        def _huge(self) -> None:
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b" " * 65536
            try:
                for _ in range(1024):
                    self.wfile.write(chunk)
            except OSError:
                pass
            self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    inst = HttpInstance(f"http://127.0.0.1:{server.server_address[1]}", server)
    state.append(inst)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield inst
    finally:
        inst.close()


# -- disks -----------------------------------------------------------------------------------------


def mount_tmpfs(directory: Path, size: str) -> None:
    """A tmpfs of `size` over `directory` (root only: CI runs as root); its old contents are copied in."""
    saved = {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)], check=True)
    for name, data in saved.items():
        (directory / name).write_bytes(data)


def remount(directory: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(directory)], check=True)


def unmount(directory: Path) -> None:
    """Unmount, keeping what the tmpfs held (so the test can still read it after teardown)."""
    if not os.path.ismount(directory):
        return
    saved = {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}
    subprocess.run(["umount", str(directory)], check=True)
    for name, data in saved.items():
        (directory / name).write_bytes(data)
