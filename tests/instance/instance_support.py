"""Helpers shared by the instance-side tests (imported by conftest and test modules)."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hotswap_cli.demo.instances import DemoInstance
from hotswap_cli.specs import Target

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
