"""Fleet-scale economy, at one instance: the plan's read of the current config is the run's read
(the revert copy and the journal's "before"), and the transport and the probes of an instance
share one keep-alive connection."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from deploy_fleet import Fleet
from fault_support import http_instance

OLD = json.dumps({"queue": {"name": "old"}}).encode()


def http_fleet(make_fleet: Callable[..., Fleet], url: str, **keys: Any) -> Fleet:
    target = {"name": "web-1", "transport": {"type": "http", "url": url + "/config", "timeout": "2s", **keys},
              "health": [{"type": "http", "url": url + "/health/web-1"}]}
    return make_fleet([target], environment="Development", strategy={"type": "direct"},
                      health={"interval": "0.1s"})


def released(http: Any, make_fleet: Callable[..., Fleet], cli: Callable[..., Any], **keys: Any) -> Fleet:
    """web-1 on `http`, holding OLD and healthy while it does, with 1.0.0 released."""
    http.config = OLD
    http.health_of = {"web-1": lambda: http.config}
    fleet = http_fleet(make_fleet, http.url, **keys)
    fleet.release(cli, "1.0.0")
    return fleet


def test_a_deploy_reads_the_instance_once_and_talks_to_it_over_one_connection(
        make_fleet: Callable[..., Fleet], cli: Callable[..., Any]) -> None:
    with http_instance() as http:
        fleet = released(http, make_fleet, cli)
        http.requests.clear()
        http.connections = 0

        result = cli("--repo", str(fleet.root), "deploy", fleet.profile, "1.0.0", "--yes", "--json")

        assert result.exit_code == 0, result
        reads = [r for r in http.requests if r == ("GET", "/config")]
        assert len(reads) == 1, http.requests  # the plan's read: also the revert copy
        assert [r for r in http.requests if r[0] == "PUT"] == [("PUT", "/config")]
        assert sum(1 for r in http.requests if r[1] == "/health/web-1") >= 2  # baseline and after
        assert http.connections == 1, (http.connections, http.requests)  # transport and probe share it


def test_a_failed_deploy_restores_the_config_the_plan_read(
        make_fleet: Callable[..., Fleet], cli: Callable[..., Any]) -> None:
    with http_instance() as http:
        fleet = released(http, make_fleet, cli, confirm_url=http.url + "/confirm")
        http.faults.confirm = "other"  # it takes the push, then says it runs something else
        http.requests.clear()

        result = cli("--repo", str(fleet.root), "deploy", fleet.profile, "1.0.0", "--yes")

        assert result.exit_code == 6, result
        assert http.config == OLD  # byte for byte what the plan read
        # the plan's read, then only the revert's check of what it holds before putting OLD back
        assert len([r for r in http.requests if r == ("GET", "/config")]) == 2, http.requests
        assert [r for r in http.requests if r[0] == "PUT"] == [("PUT", "/config")] * 2


def test_status_reads_and_probes_an_instance_over_one_connection(
        make_fleet: Callable[..., Fleet], cli: Callable[..., Any]) -> None:
    with http_instance() as http:
        fleet = released(http, make_fleet, cli)
        assert cli("--repo", str(fleet.root), "deploy", fleet.profile, "1.0.0", "--yes").exit_code == 0
        http.requests.clear()
        http.connections = 0

        result = cli("--repo", str(fleet.root), "status", fleet.profile, "--json")

        [row] = json.loads(result.stdout)["instances"]
        assert result.exit_code == 0, row
        assert (row["running"], row["healthy"]) == ("1.0.0", True)
        assert http.requests == [("GET", "/config"), ("GET", "/health/web-1")]
        assert http.connections == 1, (http.connections, http.requests)  # the probe uses the read's connection
