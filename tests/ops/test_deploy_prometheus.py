"""`hotswap deploy` gated on a real Prometheus server instead of scraping the instances: the good
version passes on Prometheus' counts, the bad one is reverted with them in the ledger."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from deploy_support import make_demo_repo, running_hash
from support.prometheus import PrometheusServer, scraped_demo

from hotswap_cli.core.deploy.ledger import read_records
from hotswap_cli.core.versions.git import GitRepo
from hotswap_cli.demo.instances import DemoInstance
from hotswap_cli.model import config_hash


@pytest.fixture
def scraped(tmp_path: Path) -> Iterator[tuple[PrometheusServer, list[DemoInstance]]]:
    with scraped_demo(tmp_path / "scraped", 3) as running:
        yield running


def test_a_canary_gated_by_prometheus_passes_the_good_version_and_reverts_the_bad(
        scraped: tuple[PrometheusServer, list[DemoInstance]], tmp_path: Path, cli: Callable[..., Any]) -> None:
    server, demo = scraped
    targets = [{"name": i.name,
                "transport": {"type": "http", "url": f"{i.url}/config", "confirm_url": f"{i.url}/config"},
                "health": [{"type": "prometheus", "url": server.url, "lookback": "1m"}]} for i in demo]
    fleet = make_demo_repo(tmp_path / "repo", targets, strategy={"type": "canary", "steps": [30, 100], "bake": "3s"},
                           health={"interval": "1s"})
    fleet.release(cli, "1.0.0")
    good = cli("--repo", str(fleet.root), "deploy", fleet.profile, "--yes")
    assert good.exit_code == 0, good
    assert {running_hash(i.url) for i in demo} == {config_hash(fleet.config())}
    [passed] = read_records(GitRepo(fleet.root), fleet.profile)[0]["verdicts"][-1:]
    errors = {f["rule"]: f for f in passed["instances"][0]["findings"]}["error_rate"]
    assert errors["outcome"] == "pass" and errors["requests"] > 1000 and errors["baseline_requests"] > 1000

    fleet.set_simulate(errorRate=0.5)
    fleet.release(cli, "1.1.0", "a config that breaks the service")
    bad = cli("--repo", str(fleet.root), "deploy", fleet.profile, "1.1.0", "--yes")
    assert bad.exit_code == 6, bad
    assert "health gate failed after phase 1 (canary 30%): demo-1: error rate " in bad.stderr
    assert {running_hash(i.url) for i in demo} == {config_hash(fleet.config() | {"simulate": {"errorRate": 0.0,
                                                                                              "latencyMs": 35}})}
    record = read_records(GitRepo(fleet.root), fleet.profile)[0]
    [verdict] = record["verdicts"]
    [demo1] = verdict["instances"]
    errors = {f["rule"]: f for f in demo1["findings"]}["error_rate"]
    # 50% errors after the push; Prometheus lags by up to a scrape, so the first windows mix in
    # some traffic from before it: the rate seen is lower, and still conclusive
    assert errors["outcome"] == "fail" and errors["rate"] > 0.05 and errors["rise_low_pp"] > 5
