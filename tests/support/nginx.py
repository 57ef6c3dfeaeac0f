"""A private nginx on 127.0.0.1 for tests: its own prefix (conf, logs, temp paths, pid), started
with a given nginx.conf and stopped by the pid it wrote. nginx must be installed (CI installs
nginx-light in .ci/run): a missing binary fails the tests, it does not skip them.

`private_conf(prefix, port, locations)` is an nginx.conf that keeps everything inside the prefix;
`start_nginx(prefix, conf)` starts it and waits until it answers; `NginxServer.get(path)` is one
plain HTTP GET (status, body), `wait_for_body` polls until a reload has taken effect.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from support.sshd import free_port

# Everything nginx writes stays under the prefix: Debian's build defaults to /var/lib/nginx and
# /var/log/nginx, which a test must not touch.
PRIVATE_HEAD = """\
daemon on;
worker_processes 1;
pid {prefix}/logs/nginx.pid;
error_log {prefix}/logs/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    assert found, "nginx is not installed (CI installs nginx-light in .ci/run)"
    return found


def private_conf(prefix: Path, port: int, body: str, health_status: int = 200) -> str:
    """A complete nginx.conf: `/` answers `body`, `/health` answers `health_status`."""
    return PRIVATE_HEAD.format(prefix=prefix) + (
        f"    server {{\n        listen 127.0.0.1:{port};\n"
        f"        location = /health {{ return {health_status} \"{body} health\\n\"; }}\n"
        f"        location / {{ return 200 \"{body}\\n\"; }}\n    }}\n}}\n")


@dataclass
class NginxServer:
    prefix: Path
    port: int
    binary: str

    @property
    def conf(self) -> Path:
        return self.prefix / "conf" / "nginx.conf"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str = "/") -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as response:
                return response.status, response.read().decode().strip()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode().strip()

    def wait_for_body(self, body: str, timeout: float = 5.0) -> None:
        """Until `/` answers `body` and `/health` answers `body health` (a reload is a signal: old
        workers finish what they hold and new ones start, so for a moment both may answer)."""
        self.wait_for("/", (200, body), timeout)
        deadline = time.monotonic() + timeout
        while True:
            status, text = self.get("/health")
            if text == f"{body} health":
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"nginx at {self.url}/health answers {status} {text!r}, not {body!r} health")
            time.sleep(0.05)

    def wait_for(self, path: str, expected: tuple[int, str], timeout: float = 5.0) -> None:
        """Until GET `path` answers (status, body) == `expected`."""
        deadline = time.monotonic() + timeout
        last: tuple[int, str] | str = ""
        while time.monotonic() < deadline:
            try:
                last = self.get(path)
                if last == expected:
                    return
            except OSError as exc:
                last = str(exc)
            time.sleep(0.05)
        raise AssertionError(f"nginx at {self.url}{path} answers {last!r}, not {expected!r}; "
                             f"error.log: {self.error_log()[-2000:]}")

    def error_log(self) -> str:
        log = self.prefix / "logs" / "error.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def stop(self) -> None:
        pid_file = self.prefix / "logs" / "nginx.pid"
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.05)


def start_nginx(prefix: Path, conf: str | None = None, *, port: int | None = None,
                body: str = "hand-written") -> NginxServer:
    """Create the prefix, write `conf` (default: private_conf serving `body`), start nginx, wait for it."""
    binary = nginx_binary()
    port = port or free_port()
    for sub in ("conf", "logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    server = NginxServer(prefix, port, binary)
    server.conf.write_text(conf if conf is not None else private_conf(prefix, port, body))
    subprocess.run([binary, "-p", str(prefix), "-c", str(server.conf)], check=True, capture_output=True)
    deadline = time.monotonic() + 5
    while True:
        try:
            server.get("/")
            return server
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise AssertionError(f"nginx did not answer on {server.url}: {server.error_log()[-2000:]}") from None
            time.sleep(0.05)
