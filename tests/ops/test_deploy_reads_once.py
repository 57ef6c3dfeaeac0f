"""Fleet-scale economy, at one instance: the plan's read of the current config is the run's read
(the revert copy and the journal's "before"), and the transport and the probes of an instance
share one keep-alive connection."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deploy_fleet import Fleet, git
from fault_support import http_instance

from hotswap_cli.core.deploy import ledger
from hotswap_cli.core.versions.git import GitRepo
from hotswap_cli.ops.run import _ran_since
from hotswap_cli.runner.slot import PriorRead

OLD = json.dumps({"queue": {"name": "old"}}).encode()


def http_fleet(make_fleet: Callable[..., Fleet], url: str, **keys: Any) -> Fleet:
    target = {"name": "web-1", "transport": {"type": "http", "url": url + "/config", "timeout": "2s", **keys},
              "health": [{"type": "http", "url": url + "/health/web-1"}]}
    return make_fleet([target], environment="Development", strategy={"type": "direct"},
                      health={"interval": "0.1s"})


def test_a_deploy_reads_the_instance_once_and_talks_to_it_over_one_connection(
        make_fleet: Callable[..., Fleet], cli: Callable[..., Any]) -> None:
    with http_instance() as http:
        http.config = OLD
        http.health_of = {"web-1": lambda: http.config}
        fleet = http_fleet(make_fleet, http.url)
        fleet.release(cli, "1.0.0")
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
        http.config = OLD
        http.health_of = {"web-1": lambda: http.config}
        fleet = http_fleet(make_fleet, http.url, confirm_url=http.url + "/confirm")
        fleet.release(cli, "1.0.0")
        http.faults.confirm = "other"  # it takes the push, then says it runs something else
        http.requests.clear()

        result = cli("--repo", str(fleet.root), "deploy", fleet.profile, "1.0.0", "--yes")

        assert result.exit_code == 6, result
        assert http.config == OLD  # byte for byte what the plan read
        # the plan's read, then only the revert's check of what it holds before putting OLD back
        assert len([r for r in http.requests if r == ("GET", "/config")]) == 2, http.requests
        assert [r for r in http.requests if r[0] == "PUT"] == [("PUT", "/config")] * 2


def test_a_run_recorded_after_the_plans_read_makes_the_read_stale(local_repo_with_ledger: GitRepo) -> None:
    repo = local_repo_with_ledger
    read = PriorRead(transport=None, current=OLD, read_at=time.monotonic() - 5)  # type: ignore[arg-type]
    assert not _ran_since(repo, "web.development", {"web-1": read})
    ledger.append_record(repo, {"id": "deploy-x", "kind": "deploy", "profile": "web.development", "version": "1.0.0",
                                "status": "completed", "started_at": ledger.utc_iso(time.time() - 2),
                                "finished_at": ledger.utc_iso(), "instances": []})
    assert _ran_since(repo, "web.development", {"web-1": read})
    assert not _ran_since(repo, "web.development", {"web-1": PriorRead(None, OLD, time.monotonic() + 3)})  # type: ignore[arg-type]


@pytest.fixture
def local_repo_with_ledger(tmp_path: Path) -> GitRepo:
    root = tmp_path / "solo"
    git(tmp_path, "init", "-q", "-b", "main", str(root))
    git(root, "commit", "-q", "--allow-empty", "-m", "initial")
    return GitRepo(root)
