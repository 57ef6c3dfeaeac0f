"""The demo's config repo: the example repo pointed at the demo instances, valid, committed, no approvals."""

from __future__ import annotations

from pathlib import Path

import yaml
from support.repo import git

from hotswap_cli.core.config.configrepo import ConfigRepo
from hotswap_cli.core.config.profile import load_profile
from hotswap_cli.core.config.render import render_profile
from hotswap_cli.core.config.validate import validate
from hotswap_cli.demo import scenario
from hotswap_cli.demo.instances import DemoInstance
from hotswap_cli.specs import HttpSpec, MetricsProbeSpec


def instances(n: int) -> list[DemoInstance]:
    return [DemoInstance(f"demo-{i}", 18200 + i, f"http://127.0.0.1:{18200 + i}", f"/tmp/demo-{i}.json", 0)
            for i in range(1, n + 1)]




def test_make_repo_points_the_production_profile_at_the_instances(tmp_path: Path) -> None:
    root = scenario.make_repo(tmp_path / "repo", instances(3), bake="2s", interval="500ms")
    repo = ConfigRepo.open(root)
    profile = load_profile(repo, scenario.PROFILE)
    assert [t.name for t in profile.targets] == ["demo-1", "demo-2", "demo-3"]
    t = profile.targets[1]
    assert t.transport == HttpSpec(url="http://127.0.0.1:18202/config", current_url="http://127.0.0.1:18202/config",
                                   confirm_url="http://127.0.0.1:18202/config")
    assert [p.kind for p in t.probes] == ["http", "metrics"]
    assert t.probes[1] == MetricsProbeSpec(url="http://127.0.0.1:18202/metrics")
    assert (profile.strategy.type, profile.strategy.steps, profile.strategy.bake) == ("canary", (10, 30, 50, 100), 2.0)
    assert profile.health.interval == 0.5
    settings = yaml.safe_load((root / "hotswap.yaml").read_text())
    assert {env["approvals"] for env in settings["environments"].values()} == {0}
    assert git(root, "status", "--porcelain") == ""  # everything committed
    assert git(root, "config", "user.email").strip() == "demo@hotswap.local"  # its own identity
    assert git(root, "log", "--format=%s").strip() == "demo: example config repo pointed at local instances"
    assert validate(repo, use_cache=False).ok


def test_set_error_rate_changes_only_the_simulation(tmp_path: Path) -> None:
    root = scenario.make_repo(tmp_path / "repo", instances(1))
    repo = ConfigRepo.open(root)
    before = render_profile(repo, load_profile(repo, scenario.PROFILE)).data
    scenario.set_error_rate(root, 0.4, latency_ms=90)
    scenario.commit(root, "demo: raise the error rate")
    repo = ConfigRepo.open(root)
    after = render_profile(repo, load_profile(repo, scenario.PROFILE)).data
    assert after["simulate"] == {"errorRate": 0.4, "latencyMs": 90}
    assert {k: v for k, v in after.items() if k != "simulate"} == {k: v for k, v in before.items() if k != "simulate"}
    assert git(root, "status", "--porcelain") == ""
    assert git(root, "log", "-1", "--format=%s").strip() == "demo: raise the error rate"
