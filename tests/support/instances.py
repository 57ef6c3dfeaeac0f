"""Demo instances for transport and probe tests (a pytest plugin, registered in tests/conftest.py):
the `demo_instance` fixture, `case`, one target per transport kind pointing at it, and `listener`,
an attacker's endpoint that records every request it gets."""

from __future__ import annotations

import os
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hotswap_cli.demo.instances import DemoInstance, start_instances, stop_instances
from hotswap_cli.specs import Target, target

INITIAL = b'{"service": "demo",   "simulate": {"latencyMs": 1}}\n'  # odd spacing: revert must keep it
REJECT_CHECK = "! grep -q rejectCheck {path}"
REJECT_RELOAD = "! grep -q rejectReload {live}"


def http_get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@dataclass
class Case:
    """A target of one transport kind pointing at a demo instance, and how to read what it holds."""

    kind: str
    instance: DemoInstance
    make: Callable[..., Target]

    def live(self) -> bytes:
        if self.kind == "http":
            return http_get(self.instance.url + "/config")[2]
        return Path(self.instance.config_path).read_bytes()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def demo_instance(tmp_path: Path) -> Iterator[DemoInstance]:
    """One demo service instance whose config file starts as INITIAL."""
    directory = tmp_path / "demo"
    directory.mkdir()
    (directory / "demo-1").mkdir()
    (directory / "demo-1" / "config.json").write_bytes(INITIAL)
    [inst] = start_instances(1, directory)
    yield inst
    stop_instances(directory)


@pytest.fixture(params=["local", "ssh", "http"])
def case(request: pytest.FixtureRequest, demo_instance: DemoInstance) -> Case:
    kind = request.param
    path = demo_instance.config_path
    confirm = demo_instance.url + "/config"

    def make(*, check: bool = False, reload: bool = False, name: str = "inst-1") -> Target:
        if kind == "local":
            spec: dict[str, object] = {"type": "local", "path": path, "confirm_url": confirm,
                                         "confirm_timeout": "1s"}
            if check:
                spec["check"] = ["sh", "-c", REJECT_CHECK.replace("{path}", '"$1"'), "check", "{path}"]
            if reload:
                spec["reload"] = ["sh", "-c", REJECT_RELOAD.replace("{live}", '"$1"'), "reload", path]
            return target(name, spec)
        if kind == "ssh":
            server = request.getfixturevalue("sshd")
            extra: dict[str, object] = {"confirm_url": confirm, "confirm_timeout": "1s"}
            if check:
                extra["check"] = REJECT_CHECK
            if reload:
                extra["reload"] = REJECT_RELOAD.replace("{live}", path)
            return server.target(name, path, **extra)
        return target(name, {"type": "http", "url": demo_instance.url + "/config", "confirm_url": confirm,
                             "timeout": "3s", "confirm_timeout": "1s"})

    return Case(kind, demo_instance, make)


@dataclass
class Listener:
    """What an attacker's endpoint received: (method, path, headers, body) per request."""

    url: str
    seen: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def listener() -> Iterator[Listener]:
    """An HTTP endpoint on loopback that records every request and answers 404."""
    record = Listener("")

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            record.seen.append((self.command, self.path, dict(self.headers), body))
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_PUT = do_POST = _record  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield record
    server.shutdown()
    server.server_close()
