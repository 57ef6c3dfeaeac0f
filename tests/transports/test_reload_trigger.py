"""Reload-trigger mode (file over ssh, POST reloads) and the traceparent reaching ssh commands."""

from __future__ import annotations

import json
from pathlib import Path

from support.sshd import SshServer

from hotswap_cli.demo.instances import DemoInstance
from hotswap_cli.model import config_hash
from hotswap_cli.ops.backends import open_transport

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_file_over_ssh_then_post_reload_with_traceparent(sshd: SshServer, demo_instance: DemoInstance,
                                                         tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    config = {"service": "demo", "simulate": {"latencyMs": 1}, "release": 3}
    target = sshd.target("demo-1", demo_instance.config_path, reload_url=demo_instance.url + "/-/reload",
                         check=f'echo "$TRACEPARENT" > {seen}', confirm_url=demo_instance.url + "/config")
    transport = open_transport(target, traceparent=TRACEPARENT)
    try:
        transport.read_current()
        transport.stage(json.dumps(config).encode())
        transport.check()
        transport.swap()
        transport.reload()
        assert transport.confirm(config_hash(config)) is True
    finally:
        transport.close()
    assert seen.read_text().strip() == TRACEPARENT
