"""`hotswap deploy` end to end over HTTP: real demo service instances (PUT /config, /health,
Prometheus /metrics) as targets, canary success and a health-gate failure on the measured error
rate, the `--json` event stream, and `hotswap status` / `rollback` after a hand-made change."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from deploy_support import DemoRepo, http_get, http_put, make_demo_repo, parse_json_lines, running_hash

from hotswap_cli.core.deploy.ledger import read_records
from hotswap_cli.core.versions.git import GitRepo
from hotswap_cli.demo.instances import DemoInstance, start_instances, stop_instances
from hotswap_cli.model import config_hash

N = 4  # canary 25, 50, 100 -> phases of 1, +1, +2 instances


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[list[DemoInstance]]:
    directory = tmp_path / "demo"
    instances = start_instances(N, directory)
    try:
        yield instances
    finally:
        stop_instances(directory)


def http_targets(instances: list[DemoInstance]) -> list[dict[str, Any]]:
    return [{"name": i.name,
             "transport": {"type": "http", "url": f"{i.url}/config", "confirm_url": f"{i.url}/config",
                           "timeout": "3s", "confirm_timeout": "3s"},
             "health": [{"type": "http", "url": f"{i.url}/health", "timeout": "2s"},
                        {"type": "metrics", "url": f"{i.url}/metrics", "timeout": "2s"}]}
            for i in instances]


@pytest.fixture
def fleet(demo: list[DemoInstance], tmp_path: Path) -> DemoRepo:
    return make_demo_repo(tmp_path / "repo", http_targets(demo))


def deploy(cli: Callable[..., Any], repo: DemoRepo, *args: str) -> Any:
    return cli("--repo", str(repo.root), "deploy", repo.profile, *args, "--yes")


def test_canary_success_every_instance_runs_the_new_hash_and_json_events_are_one_per_line(
        demo: list[DemoInstance], fleet: DemoRepo, cli: Callable[..., Any]) -> None:
    old = {i.name: running_hash(i.url) for i in demo}
    fleet.release(cli, "1.0.0")
    expected = config_hash(fleet.config())
    assert set(old.values()) != {expected}

    result = deploy(cli, fleet, "--json")
    assert result.exit_code == 0, result
    for inst in demo:
        assert running_hash(inst.url) == expected, inst.name
        status, _, body = http_get(inst.url + "/config")
        assert status == 200 and json.loads(body) == fleet.config()

    events = parse_json_lines(result.stdout)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "plan" and kinds[1] == "deploy_started"
    assert kinds[-2:] == ["deploy_finished", "result"]
    assert kinds.count("plan") == kinds.count("result") == kinds.count("deploy_finished") == 1
    assert kinds.index("phase_started") < kinds.index("instance_state") < kinds.index("verdict")
    assert events[0]["strategy"] == "canary"
    phases = [e for e in events if e["event"] == "phase_started"]
    assert [p["instances"] for p in phases] == [["demo-1"], ["demo-2"], ["demo-3", "demo-4"]]
    verdicts = [e for e in events if e["event"] == "verdict"]
    assert [v["phase"] for v in verdicts] == [1, 2, 3] and all(v["ok"] for v in verdicts)
    # the verdict carries the counts it used: no errors against a real baseline of 0.5%
    last = {i["instance"]: i for i in verdicts[-1]["verdict"]["instances"]}
    assert set(last) == {i.name for i in demo}
    for v in last.values():
        errors = {f["rule"]: f for f in v["findings"]}["error_rate"]
        assert errors["outcome"] == "pass" and errors["errors"] == 0 and errors["requests"] > 500
        assert errors["baseline_requests"] > 500 and errors["baseline_rate"] == pytest.approx(0.005, abs=0.01)
        assert errors["rise_high_pp"] < 5
    states: dict[str, list[str]] = {}
    for e in events:
        if e["event"] == "instance_state":
            states.setdefault(e["instance"], []).append(e["state"])
    assert {name: s[-1] for name, s in states.items()} == {i.name: "healthy" for i in demo}
    assert all(s.index("live") < s.index("healthy") for s in states.values())
    samples = [e for e in events if e["event"] == "health_sample" and e["probe"] == "metrics" and not e["no_data"]]
    assert samples and all(s["error_rate"] is not None for s in samples)
    final = events[-1]
    assert (final["status"], final["exit_code"], final["version"]) == ("completed", 0, "1.0.0")
    assert final["id"].startswith("deploy-")
    record = read_records(GitRepo(fleet.root), fleet.profile)[0]
    assert (record["id"], record["status"], record["sha256"]) == (final["id"], "completed", expected)


def test_canary_failure_on_the_measured_error_rate_is_reverted_everywhere(
        demo: list[DemoInstance], fleet: DemoRepo, cli: Callable[..., Any]) -> None:
    fleet.release(cli, "1.0.0")
    assert deploy(cli, fleet).exit_code == 0
    good = config_hash(fleet.config())
    before = {i.name: http_get(i.url + "/config")[2] for i in demo}
    assert {running_hash(i.url) for i in demo} == {good}

    fleet.set_simulate(errorRate=0.5)
    fleet.release(cli, "1.1.0", "a config that breaks the service")
    bad = config_hash(fleet.config())
    result = deploy(cli, fleet, "1.1.0")

    assert result.exit_code == 6, result
    assert "health gate failed after phase 1 (canary 25%)" in result.stderr
    assert "error rate" in result.stderr and "failed and was reverted" in result.stderr
    for inst in demo:
        assert running_hash(inst.url) == good != bad, inst.name
        assert http_get(inst.url + "/config")[2] == before[inst.name]
    record = read_records(GitRepo(fleet.root), fleet.profile)[0]
    assert (record["version"], record["status"], record["exit_code"], record["failed_phase"]) == \
           ("1.1.0", "reverted", 6, 1)
    assert "error rate" in record["reason"]
    touched = [i for i in record["instances"] if i["touched"]]
    assert [i["instance"] for i in touched] == ["demo-1"]  # the gate stopped it at the first phase
    assert touched[0]["state"] == "reverted" and touched[0]["reverted_at"]
    assert all(i["state"] == "pending" for i in record["instances"] if not i["touched"])
    [verdict] = record["verdicts"]
    assert verdict["phase"] == 1 and verdict["ok"] is False
    [figures] = verdict["instances"]
    assert figures["instance"] == "demo-1" and figures["ok"] is False and figures["outcome"] == "fail"
    errors = {f["rule"]: f for f in figures["findings"]}["error_rate"]
    assert errors["outcome"] == "fail" and errors["text"].startswith("error rate ")
    assert errors["baseline_rate"] == pytest.approx(0.0, abs=0.01)  # 1.0.0 serves no errors
    assert errors["rate"] > 0.3 and errors["rise_low_pp"] > 5  # the service serves 50% errors under 1.1.0


def test_status_after_a_hand_made_change_then_rollback_restores_it(
        demo: list[DemoInstance], fleet: DemoRepo, cli: Callable[..., Any]) -> None:
    fleet.release(cli, "1.0.0")
    assert deploy(cli, fleet).exit_code == 0
    good = config_hash(fleet.config())
    clean = cli("--repo", str(fleet.root), "status", fleet.profile, "--json")
    assert clean.exit_code == 0, clean
    report = json.loads(clean.stdout)
    assert [(r["instance"], r["running"], r["drifted"], r["healthy"]) for r in report["instances"]] == \
           [(i.name, "1.0.0", False, True) for i in demo]
    assert report["last_deployment"]["status"] == "completed"

    # someone PUTs a bad config to demo-2 by hand
    hand = {"service": "demo", "simulate": {"errorRate": 0.5, "latencyMs": 20, "rps": 200, "healthStatus": 503}}
    assert http_put(demo[1].url + "/config", json.dumps(hand).encode()) == 200
    drift = cli("--repo", str(fleet.root), "status", fleet.profile, "--json")
    assert drift.exit_code == 1, drift
    rows = {r["instance"]: r for r in json.loads(drift.stdout)["instances"]}
    assert rows["demo-2"]["running"] == "unknown: drifted"
    assert rows["demo-2"]["drifted"] is True and rows["demo-2"]["sha256"] == config_hash(hand)
    assert rows["demo-2"]["healthy"] is False
    health = rows["demo-2"]["health"]
    assert health["state"] == "failing" and 0.3 <= health["error_rate"] < 0.7, health  # 50%, with noise
    assert re.search(r"errors [3-6]\d\.\d%", health["summary"]), health
    for name in ("demo-1", "demo-3", "demo-4"):
        assert (rows[name]["running"], rows[name]["drifted"], rows[name]["healthy"]) == ("1.0.0", False, True)

    back = cli("--repo", str(fleet.root), "rollback", fleet.profile, "--to", "1.0.0", "--yes")
    assert back.exit_code == 0, back
    assert {running_hash(i.url) for i in demo} == {good}
    after = cli("--repo", str(fleet.root), "status", fleet.profile, "--json")
    assert after.exit_code == 0, after
    assert [r["running"] for r in json.loads(after.stdout)["instances"]] == ["1.0.0"] * N
    records = read_records(GitRepo(fleet.root), fleet.profile)
    assert (records[0]["kind"], records[0]["version"], records[0]["status"]) == ("rollback", "1.0.0", "completed")


def test_direct_partial_failure_over_http_reverts_the_pushed_and_names_the_failed(
        demo: list[DemoInstance], tmp_path: Path, cli: Callable[..., Any]) -> None:
    targets = http_targets(demo)
    # demo-3's push goes to a path the service does not serve (404); its current config reads fine
    targets[2]["transport"].update(url=f"{demo[2].url}/no-such-endpoint", current_url=f"{demo[2].url}/config")
    fleet = make_demo_repo(tmp_path / "repo", targets, environment="Development",
                           strategy={"type": "direct", "bake": "0.2s"})
    before = {i.name: http_get(i.url + "/config")[2] for i in demo}
    fleet.release(cli, "1.0.0")
    result = deploy(cli, fleet, "--json")
    assert result.exit_code == 6, result
    final = parse_json_lines(result.stdout)[-1]
    assert final["event"] == "result" and final["status"] == "reverted"
    assert [i["instance"] for i in final["instances"] if i["error"]] == ["demo-3"]
    assert "404" in final["reason"] and "demo-3" in final["reason"]
    assert all(i["state"] in ("reverted", "pending") for i in final["instances"] if i["instance"] != "demo-3")
    assert {i.name: http_get(i.url + "/config")[2] for i in demo} == before
