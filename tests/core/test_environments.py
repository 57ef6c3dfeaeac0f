"""Environments are the team's: hotswap.yaml lists them in promotion order with their policy, a
profile's `environment:` must be one of them, and their strategy, bake and health reach the plan."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.repo import EXAMPLE_REPO, git

from hotswap_cli.core.approvals.trust import _strictness
from hotswap_cli.core.config.configrepo import ConfigRepo, settings_from
from hotswap_cli.core.config.profile import load_profile
from hotswap_cli.errors import ConfigError

TEAM = {"dev": {"approvals": 0}, "qa": {"approvals": 1}, "prod-eu": {"approvals": 2, "roles": ["sre"]}}
WORKER_CONFIG = {
    "queue": {"url": "amqps://mq.internal:5671", "name": "orders", "prefetch": 50, "visibilityTimeoutS": 120},
    "concurrency": 8,
}


def make_repo(root: Path, environments: Any, environment: str, *, profile: dict[str, Any] | None = None,
              defaults: dict[str, Any] | None = None) -> Path:
    """A committed config repo with one profile `web.<env>` of two local-file targets."""
    (root / "schemas/worker-config").mkdir(parents=True)
    (root / "schemas/worker-config/1.0.json").write_text((EXAMPLE_REPO / "schemas/worker-config/1.0.json").read_text())
    settings: dict[str, Any] = {"defaults": defaults or {"strategy": {"bake": "5m"}, "health": {"interval": "30s"}}}
    if environments is not None:
        settings["environments"] = environments
    (root / "hotswap.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    folder = root / "profiles" / f"web.{environment.lower()}"
    folder.mkdir(parents=True)
    targets = []
    for name in ("web-1", "web-2"):
        (root.parent / "instances" / name).mkdir(parents=True, exist_ok=True)
        targets.append({"name": name, "transport": {"type": "local",
                                                    "path": str(root.parent / "instances" / name / "worker.json")},
                        "health": [{"type": "command", "command": ["true"]}]})
    meta = {"environment": environment, "serviceType": "Worker", "schema": "worker-config/1.0", **(profile or {}),
            "targets": targets}
    (folder / "profile.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    (folder / "config.json").write_text(json.dumps(WORKER_CONFIG, indent=2) + "\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "environments")
    return root


def plan_of(cli: Callable, root: Path, profile: str, exit_code: int = 0) -> dict[str, Any]:
    released = cli("--repo", str(root), "release", profile, "1.0.0", "-m", "first")
    assert released.exit_code == 0, released
    result = cli("--repo", str(root), "deploy", profile, "--dry-run", "--json")
    assert result.exit_code == exit_code, result
    plan: dict[str, Any] = json.loads(result.stdout.splitlines()[0])
    assert plan["event"] == "plan"
    return plan


# -- hotswap.yaml `environments:` --------------------------------------------------------------

@pytest.mark.parametrize(("environments", "expected"), [
    # (what hotswap.yaml says, [(name, approvals, strategy, production)] in promotion order)
    (None, [("Development", 0, "direct", False), ("Staging", 1, "rolling", False),
            ("Production", 2, "canary", True)]),
    ({}, [("Development", 0, "direct", False), ("Staging", 1, "rolling", False),
          ("Production", 2, "canary", True)]),
    # only seed names, some of them, in another order: still the seed's three, in the seed's order
    ({"Production": {"approvals": 3}, "Development": {}},
     [("Development", 0, "direct", False), ("Staging", 1, "rolling", False), ("Production", 3, "canary", True)]),
    # the team's names, in the order written; the last is production
    (TEAM, [("dev", 0, "canary", False), ("qa", 1, "canary", False), ("prod-eu", 2, "canary", True)]),
    # the list form, bare names take the defaults for a name the seed does not know: 1, canary
    ([{"name": "qa", "approvals": 0, "strategy": "direct"}, "perf", {"name": "live", "approvals": 2}],
     [("qa", 0, "direct", False), ("perf", 1, "canary", False), ("live", 2, "canary", True)]),
    # a seed name among the team's: it keeps the seed's defaults, and Production is production
    ({"Development": {}, "qa": {}, "Production": {}, "dr": {"approvals": 2}},
     [("Development", 0, "direct", False), ("qa", 1, "canary", False), ("Production", 2, "canary", True),
      ("dr", 2, "canary", False)]),
    # production: true names them (several may); then the last is not production by position
    ({"qa": {}, "prod-eu": {"production": True}, "prod-us": {"production": True}, "sandbox": {}},
     [("qa", 1, "canary", False), ("prod-eu", 1, "canary", True), ("prod-us", 1, "canary", True),
      ("sandbox", 1, "canary", False)]),
    # production: false opts the last one out
    ({"qa": {}, "lab": {"production": False}}, [("qa", 1, "canary", False), ("lab", 1, "canary", False)]),
])
def test_environments_in_promotion_order(environments: Any, expected: list[tuple[str, int, str, bool]]) -> None:
    settings = settings_from({} if environments is None else {"environments": environments})
    got = [(p.name, p.approvals, p.strategy, p.production) for p in settings.environments.values()]
    assert got == expected
    assert [p.order for p in settings.environments.values()] == list(range(len(expected)))


def test_an_environments_policy_is_parsed() -> None:
    settings = settings_from({"environments": {
        "qa": {"approvals": 1, "roles": ["qa-lead"], "strategy": "rolling", "bake": "2m",
               "health": {"interval": "5s", "error_rate_pp": 2}, "min_bake": "10s", "min_interval": "500ms"},
        "prod": {"approvals": 2}}})
    qa, prod = settings.environments["qa"], settings.environments["prod"]
    assert (qa.roles, qa.strategy, qa.bake, qa.health) == (("qa-lead",), "rolling", 120.0,
                                                           {"interval": "5s", "error_rate_pp": 2})
    assert (qa.min_bake, qa.min_interval) == (10.0, 0.5)
    assert (prod.bake, prod.health, prod.min_bake, prod.min_interval) == (None, {}, 30.0, 1.0)  # production's


@pytest.mark.parametrize(("environments", "message"), [
    ([{"name": "qa"}, {"name": "qa"}], "hotswap.yaml: environments: 'qa' is listed twice"),
    ([{"approvals": 1}], "hotswap.yaml: environments: {'approvals': 1} has no name"),
    ("qa", "hotswap.yaml: environments: a mapping or a list, in promotion order"),
    ({"qa": 1}, "hotswap.yaml: environments.qa: a mapping of its policy, not 1"),
    ({"qa": {"strategy": "yolo"}}, "hotswap.yaml: environments.qa.strategy: 'yolo' is not one of canary, rolling, "
                                   "blue-green, direct"),
    ({"qa": {"health": {"intervall": "5s"}}}, "hotswap.yaml: environments.qa.health: unknown key 'intervall'"),
    ({"qa": {"bake": "soon"}}, "hotswap.yaml: environments.qa: not a duration: 'soon'"),
    ({"qa": {"production": "yes please"}}, "hotswap.yaml: environments.qa.production: true or false"),
    ({"qa": {}, "prod": {"requires": {"environment": "staging"}}},
     "hotswap.yaml: environments.prod.requires: 'staging' is not one of the environments: qa, prod"),
])
def test_a_broken_environments_list_is_refused(environments: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from({"environments": environments})
    assert message in caught.value.message


@pytest.mark.parametrize(("a", "b", "stricter"), [
    ({"approvals": 1}, {"approvals": 2}, "b"),  # more approvals
    ({"approvals": 2}, {"approvals": 2}, "b"),  # as many: later in the promotion order
    ({"approvals": 3}, {"approvals": 2}, "a"),  # approvals first, whatever the order
    ({"approvals": 1, "require_signed_commits": True}, {"approvals": 1}, "a"),
    ({"approvals": 1, "production": True}, {"approvals": 1, "production": False}, "a"),
])
def test_the_stricter_environment(a: dict[str, Any], b: dict[str, Any], stricter: str) -> None:
    envs = settings_from({"environments": {"a": a, "b": b}}).environments
    assert max(envs.values(), key=_strictness).name == stricter


def test_the_example_repo_declares_the_seeds_three() -> None:
    raw = yaml.safe_load((EXAMPLE_REPO / "hotswap.yaml").read_text())
    assert list(raw["environments"]) == ["Development", "Staging", "Production"]
    envs = ConfigRepo.open(EXAMPLE_REPO).settings.environments
    assert envs == settings_from({"environments": {"Staging": {"roles": ["lead", "sre"]},
                                                   "Production": {"roles": ["lead", "sre"], "max_age": "7d"}}
                                  }).environments  # as the seed's defaults would have it


# -- profiles in the team's environments --------------------------------------------------------

def test_a_profile_in_a_custom_environment_validates(tmp_path: Path, cli: Callable) -> None:
    root = make_repo(tmp_path / "repo", TEAM, "qa")
    result = cli("--repo", str(root), "validate")
    assert result.exit_code == 0, result
    profile = load_profile(ConfigRepo.open(root), "web.qa")
    assert (profile.environment, profile.is_production, profile.strategy.type) == ("qa", False, "canary")


def test_an_unknown_environment_is_an_error_at_its_line(tmp_path: Path, cli: Callable) -> None:
    root = make_repo(tmp_path / "repo", TEAM, "QA2")
    result = cli("--repo", str(root), "validate")
    assert result.exit_code == 3, result
    assert result.stdout == ("profiles/web.qa2/profile.yaml:1:1  $.environment  'QA2' is not one of "
                             "hotswap.yaml's environments: dev, qa, prod-eu\n")


def test_without_environments_the_seeds_three(tmp_path: Path, cli: Callable) -> None:
    root = make_repo(tmp_path / "repo", None, "Staging")
    assert cli("--repo", str(root), "validate").exit_code == 0
    plan = plan_of(cli, root, "web.staging", exit_code=4)  # Staging's default quorum of 1 ...
    assert plan["approval_error"].startswith("web.staging 1.0.0 is short of its quorum (1 required)")
    assert plan["strategy"] == "rolling"  # ... and its default strategy
    other = make_repo(tmp_path / "other", None, "QA")
    refused = cli("--repo", str(other), "validate")
    assert refused.exit_code == 3, refused
    assert "$.environment  'QA' is not one of hotswap.yaml's environments: Development, Staging, Production" \
        in refused.stdout


def test_the_environments_strategy_bake_and_health_reach_the_plan(tmp_path: Path, cli: Callable) -> None:
    team = {**TEAM, "qa": {"approvals": 0, "strategy": "rolling", "bake": "2s",
                           "health": {"interval": "500ms", "error_rate_pp": 2}}}
    root = make_repo(tmp_path / "repo", team, "qa")
    plan = plan_of(cli, root, "web.qa")
    assert (plan["environment"], plan["strategy"]) == ("qa", "rolling")
    assert [(p["name"], p["bake_s"]) for p in plan["phases"]] == [("batch 1/2", 2.0), ("batch 2/2", 2.0)]
    health = plan["health"]
    assert (health["interval"], health["error_rate_pp"], health["p99_increase_pct"]) == (0.5, 2.0, 50.0)


def test_the_profiles_own_settings_win_over_its_environments(tmp_path: Path, cli: Callable) -> None:
    team = {**TEAM, "qa": {"approvals": 0, "strategy": "rolling", "bake": "2s",
                           "health": {"interval": "500ms", "error_rate_pp": 2}}}
    own = {"strategy": {"type": "direct", "bake": "1s"}, "health": {"interval": "250ms"}}
    root = make_repo(tmp_path / "repo", team, "qa", profile=own)
    plan = plan_of(cli, root, "web.qa")
    assert plan["strategy"] == "direct"
    assert [p["bake_s"] for p in plan["phases"]] == [1.0]
    assert (plan["health"]["interval"], plan["health"]["error_rate_pp"]) == (0.25, 2.0)  # the rest: qa's


def test_an_environments_bake_applies_to_direct_too(tmp_path: Path, cli: Callable) -> None:
    """hotswap.yaml's `defaults` bake does not reach a direct deploy (the spec's rule); an
    environment's own bake does: the team asked for it there."""
    root = make_repo(tmp_path / "repo", {"dev": {"approvals": 0, "strategy": "direct", "bake": "1s"}}, "dev")
    assert [p["bake_s"] for p in plan_of(cli, root, "web.dev")["phases"]] == [1.0]
    plain = make_repo(tmp_path / "plain", {"dev": {"approvals": 0, "strategy": "direct"}}, "dev")
    assert [p["bake_s"] for p in plan_of(cli, plain, "web.dev")["phases"]] == [0.0]


def test_a_custom_production_environment_gets_the_production_rules(tmp_path: Path, cli: Callable) -> None:
    """prod-eu is last in the promotion order: production. So a --bake 0 override is refused there
    (the 30s minimum), and an unreleased revision is never deployed to it."""
    team = {**TEAM, "prod-eu": {"approvals": 0}}
    root = make_repo(tmp_path / "repo", team, "prod-eu")
    assert cli("--repo", str(root), "release", "web.prod-eu", "1.0.0", "-m", "first").exit_code == 0
    fast = cli("--repo", str(root), "deploy", "web.prod-eu", "--bake", "0", "--dry-run")
    assert fast.exit_code == 2, fast
    assert "30s" in fast.stderr, fast.stderr
    unreleased = cli("--repo", str(root), "deploy", "web.prod-eu", "--rev", "HEAD", "--dry-run")
    assert unreleased.exit_code == 4, unreleased  # the plan, then the refusal
    assert "answers to prod-eu, a production environment" in unreleased.stderr
