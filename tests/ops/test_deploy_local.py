"""`hotswap deploy` end to end on local-file instances: strategies, gates, revert, exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from deploy_fleet import Fleet, git, local_target

from hotswap_cli.core.deploy.ledger import read_records
from hotswap_cli.core.versions.git import GitRepo


def deploy(cli: Callable, fleet: Fleet, *args: str):  # type: ignore[no-untyped-def]
    return cli("--repo", str(fleet.root), "deploy", fleet.profile, *args, "--yes")


def test_canary_success_pushes_every_instance_and_records_it(make_fleet: Callable, cli: Callable) -> None:
    fleet = make_fleet(4)
    fleet.release(cli, "1.0.0")
    result = deploy(cli, fleet)
    assert result.exit_code == 0, result
    for i in range(1, 5):
        assert fleet.running(f"web-{i}")["concurrency"] == 8
    assert "phase 1: canary 10% (deploy) -> web-1" in result.stderr
    assert "phase 2: canary 30% (deploy) -> web-2" in result.stderr
    assert "payment" not in result.stdout
    record = read_records(GitRepo(fleet.root), fleet.profile)[0]
    assert (record["version"], record["status"], record["strategy"]) == ("1.0.0", "completed", "canary")
    assert [i["state"] for i in record["instances"]] == ["healthy"] * 4


def test_canary_failure_in_phase_2_touches_three_of_ten_and_reverts_them(make_fleet: Callable, tmp_path: Path,
                                                                         cli: Callable) -> None:
    files = tmp_path / "instances"
    # web-2 and web-3 report unhealthy once they run a config with concurrency 99
    # (sh and grep: a look costs milliseconds, so a loaded CI machine still gets its looks in)
    sick = ["sh", "-c", """! grep -Eq '"concurrency": *99([^0-9]|$)' "$0" """]
    targets = []
    for i in range(1, 11):
        t = local_target(files, f"web-{i}")
        if i in (2, 3):
            t["health"] = [{"type": "command", "command": [*sick, str(files / f"web-{i}" / "worker.json")]}]
        targets.append(t)
    # enough looks (0.1 s apart, plus the checks' own time) that a check failing every time is
    # conclusive within phase 2's bake: 5 looks for a fleet of 10
    fleet = make_fleet(targets, strategy={"type": "canary", "bake": "3s"})
    fleet.release(cli, "1.0.0")
    assert deploy(cli, fleet).exit_code == 0
    before = {f"web-{i}": fleet.path(f"web-{i}").read_bytes() for i in range(1, 11)}
    fleet.set_config(concurrency=99)
    fleet.release(cli, "1.1.0")
    result = deploy(cli, fleet, "1.1.0")
    assert result.exit_code == 6, result.stderr
    assert "health gate failed after phase 2 (canary 30%)" in result.stderr, result.stderr
    assert "failed and was reverted" in result.stderr, result.stderr
    record = read_records(GitRepo(fleet.root), fleet.profile)[0]
    touched = [i["instance"] for i in record["instances"] if i["touched"]]
    assert touched == ["web-1", "web-2", "web-3"]
    assert all(i["state"] == "reverted" for i in record["instances"] if i["touched"])
    after = {f"web-{i}": fleet.path(f"web-{i}").read_bytes() for i in range(1, 11)}
    assert after == before  # exact previous bytes everywhere


def test_rolling_stops_at_the_first_failing_batch(make_fleet: Callable, tmp_path: Path, cli: Callable) -> None:
    files = tmp_path / "instances"
    targets = [local_target(files, f"web-{i}") for i in range(1, 7)]
    targets[2]["transport"]["check"] = ["sh", "-c", "echo 'config rejected' >&2; exit 1"]
    fleet = make_fleet(targets, strategy={"type": "rolling", "batch": 2, "bake": "0.2s"})
    fleet.release(cli, "1.0.0")
    result = deploy(cli, fleet)
    assert result.exit_code == 6, result
    assert "check failed on web-3" in result.stderr or "check: " in result.stderr
    assert "config rejected" in result.stderr
    for i in range(1, 7):
        assert fleet.running(f"web-{i}") is None  # batch 1 reverted (files removed), later batches untouched
    assert "web-5" not in [line.split(":")[0].split()[-1] for line in result.stderr.splitlines() if "staged" in line]


def test_blue_green_switches_nothing_when_one_check_fails(make_fleet: Callable, tmp_path: Path,
                                                          cli: Callable) -> None:
    files = tmp_path / "instances"
    targets = [local_target(files, f"web-{i}") for i in range(1, 4)]
    fleet = make_fleet(targets, strategy={"type": "blue-green", "bake": "0.2s"})
    fleet.release(cli, "1.0.0")
    assert deploy(cli, fleet).exit_code == 0
    before = [fleet.path(f"web-{i}").read_bytes() for i in range(1, 4)]
    # web-2's check now refuses everything
    profile_file = fleet.root / "profiles" / fleet.profile / "profile.yaml"
    profile_file.write_text(profile_file.read_text().replace(
        f"path: {files}/web-2/worker.json", f"path: {files}/web-2/worker.json\n    check: [\"false\"]"))
    fleet.set_config(concurrency=16)
    fleet.release(cli, "1.1.0")
    result = deploy(cli, fleet, "1.1.0")
    assert result.exit_code == 6, result
    assert "stage failed on web-2" in result.stderr
    assert [fleet.path(f"web-{i}").read_bytes() for i in range(1, 4)] == before
    assert not list(files.rglob("*.hotswap-*"))  # staged files discarded


def test_direct_partial_failure_reports_and_reverts(make_fleet: Callable, tmp_path: Path, cli: Callable) -> None:
    files = tmp_path / "instances"
    targets = [local_target(files, f"web-{i}") for i in range(1, 6)]
    targets[3]["transport"]["check"] = ["false"]
    fleet = make_fleet(targets, environment="Development", strategy={"type": "direct"})
    fleet.release(cli, "1.0.0")
    result = deploy(cli, fleet, "--json")
    assert result.exit_code == 6, result
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0]["event"] == "plan" and events[0]["strategy"] == "direct"
    final = events[-1]
    assert final["event"] == "result" and final["status"] == "reverted"
    failed = [i for i in final["instances"] if i["error"]]
    assert [i["instance"] for i in failed] == ["web-4"]
    assert all(fleet.running(f"web-{i}") is None for i in range(1, 6))


def test_dry_run_changes_nothing_and_shows_the_plan(make_fleet: Callable, cli: Callable) -> None:
    fleet = make_fleet(10)
    fleet.release(cli, "1.0.0")
    result = cli("--repo", str(fleet.root), "deploy", fleet.profile, "--canary", "25", "--dry-run")
    assert result.exit_code == 0, result
    assert "1. canary 25% [deploy, bake 300ms]: web-1, web-2, web-3" in result.stdout
    # 30% of 10 is 3 instances, as many as 25%: that phase adds nobody and is skipped
    assert "canary 30%" not in result.stdout
    assert "2. canary 50% [deploy, bake 300ms]: web-4, web-5" in result.stdout
    assert "3. canary 100% [deploy, bake 300ms]: web-6, web-7, web-8, web-9, web-10" in result.stdout
    assert "no config yet" in result.stdout
    assert all(fleet.running(f"web-{i}") is None for i in range(1, 11))
    assert read_records(GitRepo(fleet.root), fleet.profile) == []


def test_without_yes_and_without_a_terminal_nothing_happens(make_fleet: Callable, cli: Callable) -> None:
    fleet = make_fleet(2)
    fleet.release(cli, "1.0.0")
    result = cli("--repo", str(fleet.root), "deploy", fleet.profile)
    assert result.exit_code == 2
    assert "pass --yes" in result.stderr
    assert fleet.running("web-1") is None


def test_production_needs_a_released_version_and_its_approvals(make_fleet: Callable, cli: Callable) -> None:
    fleet = make_fleet(2, environment="Production", approvals=2)
    unreleased = cli("--repo", str(fleet.root), "deploy", fleet.profile, "--rev", "HEAD", "--yes")
    assert unreleased.exit_code == 4
    assert "only released versions are deployed" in unreleased.stderr
    planned = cli("--repo", str(fleet.root), "deploy", fleet.profile, "--rev", "HEAD", "--dry-run")
    assert planned.exit_code == 4 and "dry run: nothing was changed" in planned.stderr  # the plan, then the refusal
    assert "only released versions are deployed" in planned.stderr and fleet.running("web-1") is None
    fleet.release(cli, "1.0.0")
    result = deploy(cli, fleet)
    assert result.exit_code == 4, result
    assert "short of its quorum (2 required)" in result.stderr
    assert fleet.running("web-1") is None


def test_staging_may_deploy_a_revision(make_fleet: Callable, cli: Callable) -> None:
    fleet = make_fleet(2)
    result = cli("--repo", str(fleet.root), "deploy", fleet.profile, "--rev", "HEAD", "--yes")
    assert result.exit_code == 0, result
    assert fleet.running("web-2")["queue"]["name"] == "orders"


def test_rollback_returns_to_the_previous_good_version(make_fleet: Callable, cli: Callable) -> None:
    fleet = make_fleet(3)
    fleet.release(cli, "1.0.0")
    assert deploy(cli, fleet).exit_code == 0
    v1 = fleet.path("web-1").read_bytes()
    fleet.set_config(concurrency=32)
    fleet.release(cli, "1.1.0")
    assert deploy(cli, fleet, "1.1.0").exit_code == 0
    assert fleet.running("web-3")["concurrency"] == 32
    result = cli("--repo", str(fleet.root), "rollback", fleet.profile, "--yes")
    assert result.exit_code == 0, result
    assert "rollback web.staging 1.0.0" in result.stdout
    assert all(fleet.running(f"web-{i}")["concurrency"] == 8 for i in range(1, 4))
    assert fleet.path("web-1").read_bytes() == v1
    records = read_records(GitRepo(fleet.root), fleet.profile)
    assert (records[0]["kind"], records[0]["version"], records[0]["status"]) == ("rollback", "1.0.0", "completed")


def test_status_names_versions_and_flags_drift(make_fleet: Callable, cli: Callable) -> None:
    fleet = make_fleet(3)
    fleet.release(cli, "1.0.0")
    assert deploy(cli, fleet).exit_code == 0
    clean = cli("--repo", str(fleet.root), "status", fleet.profile, "--json")
    assert clean.exit_code == 0, clean
    rows = json.loads(clean.stdout)["instances"]
    assert [r["running"] for r in rows] == ["1.0.0"] * 3
    # someone edits web-2 by hand
    data = fleet.running("web-2")
    data["concurrency"] = 1
    fleet.path("web-2").write_text(json.dumps(data))
    drift = cli("--repo", str(fleet.root), "status", fleet.profile)
    assert drift.exit_code == 1
    line = next(line for line in drift.stdout.splitlines() if line.startswith("web-2"))
    assert "unknown: drifted" in line and "yes" in line
    assert "last deployment: deploy-" in drift.stderr


def test_a_held_lock_is_exit_5_naming_the_holder(make_fleet: Callable, cli: Callable) -> None:
    from hotswap_cli.core.deploy.lock import acquire

    fleet = make_fleet(2)
    fleet.release(cli, "1.0.0")
    with acquire(GitRepo(fleet.root), fleet.profile, purpose="deploy 0.9.0"):
        result = deploy(cli, fleet)
    assert result.exit_code == 5, result
    assert "deploy 0.9.0" in result.stderr or "held by" in result.stderr
    assert fleet.running("web-1") is None
    git(fleet.root, "status")  # the repo is intact


def test_diff_against_a_live_instance(make_fleet: Callable, cli: Callable) -> None:
    fleet = make_fleet(2)
    fleet.release(cli, "1.0.0")
    assert deploy(cli, fleet).exit_code == 0
    same = cli("--repo", str(fleet.root), "diff", fleet.profile, "1.0.0", "live:web-1", "--exit-code")
    assert same.exit_code == 0, same
    data = fleet.running("web-1")
    data["queue"]["prefetch"] = 7
    fleet.path("web-1").write_text(json.dumps(data))
    drift = cli("--repo", str(fleet.root), "diff", fleet.profile, "1.0.0", "live:web-1", "--json")
    assert json.loads(drift.stdout)["changed"] == [
        {"path": "$.queue.prefetch", "old": 50, "new": 7, "breaking": False}]


def test_each_failure_says_its_step_and_its_instance_once(make_fleet: Callable, tmp_path: Path,
                                                          cli: Callable) -> None:
    files = tmp_path / "instances"
    target = local_target(files, "web-1")
    target["transport"]["reload"] = ["sh", "-c", "echo refused >&2; exit 3"]
    fleet = make_fleet([target], strategy={"type": "direct"})
    fleet.release(cli, "1.0.0")
    result = deploy(cli, fleet)
    assert result.exit_code in (6, 7), result
    assert "web-1: failed (reload: failed (exit 3): refused)" in result.stderr, result.stderr
    assert "reload: reload" not in result.stderr
    # an instance whose directory is gone: its name once, the reason and the hint once
    missing = tmp_path / "gone"
    profile_file = fleet.root / "profiles" / fleet.profile / "profile.yaml"
    profile_file.write_text(profile_file.read_text().replace(f"{files}/web-1", str(missing)))
    status = cli("--repo", str(fleet.root), "status", fleet.profile, "--json")
    error = f"directory {missing} does not exist (create it or fix the target's path)"
    assert json.loads(status.stdout)["instances"][0]["error"] == error, status
    live = cli("--repo", str(fleet.root), "diff", fleet.profile, "1.0.0", "live:web-1")
    assert (live.exit_code, live.stderr) == (1, f"hotswap: error: cannot read what web-1 runs: {error}\n")
