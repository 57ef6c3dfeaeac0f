"""Real-world case: a private nginx reached over the real sshd, checked with `nginx -t`, reloaded live."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.sshd import SshServer, free_port

from hotswap_cli.errors import TransportError
from hotswap_cli.ops.backends import open_transport

CONF = """\
user root;
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
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "{body}\\n"; }}
    }}
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    assert found, "nginx is not installed (CI installs nginx-light in .ci/run)"
    return found


def get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
        return response.read().decode().strip()


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    binary = nginx_binary()
    prefix, port = tmp_path / "nginx", free_port()
    for sub in ("conf", "logs", "tmp"):
        (prefix / sub).mkdir(parents=True)
    (prefix / "conf" / "nginx.conf").write_text(CONF.format(prefix=prefix, port=port, body="version-1"))
    subprocess.run([binary, "-p", str(prefix), "-c", "conf/nginx.conf"], check=True, capture_output=True)
    deadline = time.monotonic() + 5
    while True:
        try:
            assert get(port) == "version-1"
            break
        except OSError:
            assert time.monotonic() < deadline, (prefix / "logs" / "error.log").read_text()
            time.sleep(0.05)
    yield prefix, port
    pid = int((prefix / "logs" / "nginx.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.05)


def push(sshd: SshServer, prefix: Path, data: str) -> None:
    # -c on reload too: Debian's nginx defaults to /etc/nginx/nginx.conf, not PREFIX/conf
    target = sshd.target("edge-1", prefix / "conf" / "nginx.conf", check=f"nginx -t -p {prefix} -c {{path}}",
                         reload=f"nginx -p {prefix} -c conf/nginx.conf -s reload")
    transport = open_transport(target)
    try:
        transport.read_current()
        transport.stage(data.encode())
        transport.check()
        transport.swap()
        transport.reload()
    finally:
        transport.close()


def test_broken_nginx_config_is_refused_with_nginx_message(sshd: SshServer, nginx: tuple[Path, int]) -> None:
    prefix, port = nginx
    before = (prefix / "conf" / "nginx.conf").read_bytes()
    broken = CONF.format(prefix=prefix, port=port, body="version-2").replace("return 200", "retrun 200")
    with pytest.raises(TransportError, match=r"check failed \(exit 1\): .*\[emerg\] .*unknown directive \"retrun\""):
        push(sshd, prefix, broken)
    assert (prefix / "conf" / "nginx.conf").read_bytes() == before
    assert get(port) == "version-1"


def test_good_nginx_config_is_live_after_reload(sshd: SshServer, nginx: tuple[Path, int]) -> None:
    prefix, port = nginx
    push(sshd, prefix, CONF.format(prefix=prefix, port=port, body="version-2"))
    deadline = time.monotonic() + 5
    while get(port) != "version-2":
        assert time.monotonic() < deadline, "nginx did not pick up the new config"
        time.sleep(0.05)
    assert (prefix / "conf" / "nginx.conf.hotswap-prev").read_text().count("version-1") == 1
