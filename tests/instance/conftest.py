"""Fixtures for the instance-side tests: the sshd plugin, a demo instance, and one target per transport."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import support.sshd as sshd_plugin
from instance_support import INITIAL, REJECT_CHECK, REJECT_RELOAD, Case

from hotswap_cli.demo.instances import DemoInstance, start_instances, stop_instances
from hotswap_cli.specs import Target, target


def pytest_configure(config: pytest.Config) -> None:
    # tests/conftest.py may already load it (pytest_plugins = ["support.sshd"]); register once
    if not config.pluginmanager.has_plugin("support.sshd"):
        config.pluginmanager.register(sshd_plugin, "support.sshd")


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
