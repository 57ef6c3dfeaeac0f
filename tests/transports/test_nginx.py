"""Real-world case: a private nginx reached over the real sshd, checked with `nginx -t`, reloaded live."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.nginx import NginxServer, private_conf, start_nginx
from support.sshd import SshServer

from hotswap_cli.errors import TransportError
from hotswap_cli.ops.backends import open_transport


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[NginxServer]:
    server = start_nginx(tmp_path / "nginx", body="version-1")
    yield server
    server.stop()


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


def test_broken_nginx_config_is_refused_with_nginx_message(sshd: SshServer, nginx: NginxServer) -> None:
    before = nginx.conf.read_bytes()
    broken = private_conf(nginx.prefix, nginx.port, "version-2").replace("return 200", "retrun 200")
    with pytest.raises(TransportError, match=r"check: failed \(exit 1\): .*\[emerg\] .*unknown directive \"retrun\""):
        push(sshd, nginx.prefix, broken)
    assert nginx.conf.read_bytes() == before
    assert nginx.get() == (200, "version-1")


def test_good_nginx_config_is_live_after_reload(sshd: SshServer, nginx: NginxServer) -> None:
    push(sshd, nginx.prefix, private_conf(nginx.prefix, nginx.port, "version-2"))
    nginx.wait_for("/", (200, "version-2"))
    assert (nginx.prefix / "conf" / "nginx.conf.hotswap-prev").read_text().count("version-1") == 2
