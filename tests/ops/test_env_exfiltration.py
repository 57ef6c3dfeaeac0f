"""A profile's headers cannot carry the secret key, or any environment variable the operator did not
allow, to a URL: refused before anything connects, in deploy (even --dry-run) and status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support.instances import Listener

from hotswap_cli.core.secrets.crypto import DEMO_SECRET_KEY, KEY_ENV

Cli = Callable[..., Any]


@pytest.mark.parametrize("variable", ["HOTSWAP_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"])
def test_a_header_cannot_send_an_environment_variable_nobody_allowed(
        make_fleet: Callable[..., Any], cli: Cli, listener: Listener, variable: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-do-not-send")
    target = {"name": "web-1", "transport": {"type": "http", "url": f"{listener.url}/config",
                                            "headers": {"X-Innocent": f"${{{variable}}}"}}}
    fleet = make_fleet([target], environment="Development")
    env = {KEY_ENV: DEMO_SECRET_KEY, "HOTSWAP_ALLOW_ENV": "HOTSWAP_SECRET_KEY"}  # listing it does not help
    for args in (("deploy", fleet.profile, "--rev", "HEAD", "--dry-run"),
                 ("deploy", fleet.profile, "--rev", "HEAD", "--yes"),
                 ("status", fleet.profile)):
        result = cli("--repo", str(fleet.root), *args, env=env)
        assert result.exit_code == 1, (args, result)
        assert f"target web-1: header values use ${{{variable}}}, which is not an allowed environment variable" \
            in result.stderr
        assert "nothing was sent" in result.stderr
    assert listener.seen == []  # not one request reached the listener


def test_an_allowed_variable_is_sent(make_fleet: Callable[..., Any], cli: Cli, listener: Listener,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", "t0ken")
    target = {"name": "web-1", "transport": {"type": "http", "url": f"{listener.url}/config",
                                            "headers": {"Authorization": "Bearer ${DEPLOY_TOKEN}"}}}
    fleet = make_fleet([target], environment="Development")
    result = cli("--repo", str(fleet.root), "deploy", fleet.profile, "--rev", "HEAD", "--dry-run",
                 env={"HOTSWAP_ALLOW_ENV": "DEPLOY_TOKEN"})
    assert result.exit_code == 0, result
    # one read of the current config (a GET may be retried on a slow machine: each carries the header)
    assert {(m, h.get("Authorization")) for m, _, h, _ in listener.seen} == {("GET", "Bearer t0ken")}
