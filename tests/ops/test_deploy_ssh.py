"""`hotswap deploy` end to end over SSH against a real OpenSSH sshd on 127.0.0.1: the target's
`check` runs on the staged file and its `reload` after the swap; a failure of either reverts
every instance touched to its exact previous bytes (or removes a file that was not there)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deploy_fleet import Fleet

from hotswap_cli.core.deploy.ledger import read_records
from hotswap_cli.core.versions.git import GitRepo

# valid JSON, but not as hotswap would write it: a revert must restore these exact bytes
SEED = b'{"queue": {"url": "amqps://old:5671", "name": "orders", "prefetch": 5,  "visibilityTimeoutS": 9},' \
       b'\n "concurrency":   2}\n'
CHECK = "python3 -m json.tool {path} > /dev/null"


def ssh_target(sshd: Any, files: Path, name: str, **extra: Any) -> dict[str, Any]:
    (files / name).mkdir(parents=True, exist_ok=True)
    return {"name": name, "transport": sshd.spec(files / name / "worker.json", **extra),
            "health": [{"type": "command", "command": ["true"]}]}


def deploy(cli: Callable[..., Any], fleet: Fleet, *args: str) -> Any:
    return cli("--repo", str(fleet.root), "deploy", fleet.profile, *args, "--yes")


def leftovers(files: Path) -> list[Path]:
    """Anything on the instances besides the config and the kept previous config."""
    return sorted(p for p in files.rglob("*") if p.is_file()
                  and not p.name.endswith(("worker.json", "worker.json.hotswap-prev", ".log")))


def test_canary_over_ssh_checks_swaps_and_reloads_every_instance(
        make_fleet: Callable[..., Fleet], sshd: Any, tmp_path: Path, cli: Callable[..., Any]) -> None:
    files = tmp_path / "instances"
    log = tmp_path / "reloads.log"
    targets = [ssh_target(sshd, files, f"web-{i}", check=CHECK,
                          reload=f"echo web-{i} >> {shlex.quote(str(log))}") for i in range(1, 5)]
    fleet = make_fleet(targets, strategy={"type": "canary", "steps": [25, 50, 100], "bake": "0.2s"})
    fleet.path("web-1").write_bytes(SEED)
    fleet.release(cli, "1.0.0")
    result = deploy(cli, fleet)
    assert result.exit_code == 0, result
    for i in range(1, 5):
        assert fleet.running(f"web-{i}")["concurrency"] == 8
    assert sorted(log.read_text().split()) == [f"web-{i}" for i in range(1, 5)]  # one reload each
    assert fleet.path("web-1").with_name("worker.json.hotswap-prev").read_bytes() == SEED
    assert leftovers(files) == []
    record = read_records(GitRepo(fleet.root), fleet.profile)[0]
    assert (record["status"], [i["state"] for i in record["instances"]]) == ("completed", ["healthy"] * 4)


def test_a_failing_check_in_phase_2_reverts_the_three_touched_of_ten(
        make_fleet: Callable[..., Fleet], sshd: Any, tmp_path: Path, cli: Callable[..., Any]) -> None:
    files = tmp_path / "instances"
    targets = [ssh_target(sshd, files, f"web-{i}", check=CHECK) for i in range(1, 11)]
    # web-3 refuses a config with concurrency 99 (its check runs on the staged file, over ssh)
    targets[2]["transport"]["check"] = CHECK + " && ! grep -q '\"concurrency\": 99' {path}"
    fleet = make_fleet(targets)  # canary 10, 30, 50, 100: web-1, then web-2 and web-3, ...
    for i in range(1, 11):
        if i != 2:  # web-2 has no config yet: revert must remove the file again
            fleet.path(f"web-{i}").write_bytes(SEED)
    before = {i: (fleet.path(f"web-{i}").read_bytes() if i != 2 else None) for i in range(1, 11)}
    fleet.set_config(concurrency=99)
    fleet.release(cli, "1.0.0")

    result = deploy(cli, fleet)
    assert result.exit_code == 6, result
    assert "web-3: failed (check: failed (exit 1)" in result.stderr  # its progress line says why
    assert "failed on web-3 (error above)" in result.stderr  # the summary does not say it again
    assert "failed and was reverted" in result.stderr
    after = {i: (fleet.path(f"web-{i}").read_bytes() if fleet.path(f"web-{i}").exists() else None)
             for i in range(1, 11)}
    assert after == before  # exact previous bytes, and no file where there was none
    assert leftovers(files) == []
    record = read_records(GitRepo(fleet.root), fleet.profile)[0]
    touched = [i["instance"] for i in record["instances"] if i["touched"]]
    assert touched == ["web-1", "web-2", "web-3"]  # at most 1 + 3 ever touched
    states = {i["instance"]: i["state"] for i in record["instances"]}
    assert [states[n] for n in touched] == ["reverted"] * 3
    assert all(states[f"web-{i}"] == "pending" for i in range(4, 11))
    web3 = next(i for i in record["instances"] if i["instance"] == "web-3")
    assert web3["error"].startswith("check")
    assert (record["status"], record["failed_phase"]) == ("reverted", 2)


def test_a_failing_reload_is_reverted_to_the_previous_bytes(
        make_fleet: Callable[..., Fleet], sshd: Any, tmp_path: Path, cli: Callable[..., Any]) -> None:
    files = tmp_path / "instances"
    targets = [ssh_target(sshd, files, f"web-{i}", check=CHECK) for i in range(1, 4)]
    live2 = shlex.quote(str(files / "web-2" / "worker.json"))
    # web-2's service refuses to reload with concurrency 99 live (and reloads fine on the old config)
    targets[1]["transport"]["reload"] = (f"if grep -q '\"concurrency\": 99' {live2}; "
                                         f"then echo 'reload refused' >&2; exit 3; fi")
    fleet = make_fleet(targets, strategy={"type": "rolling", "batch": 1, "bake": "0.1s"})
    for i in range(1, 4):
        fleet.path(f"web-{i}").write_bytes(SEED)
    fleet.set_config(concurrency=99)
    fleet.release(cli, "1.0.0")

    result = deploy(cli, fleet)
    assert result.exit_code == 6, result
    assert "reload failed on web-2" in result.stderr or "reload: " in result.stderr
    assert "reload refused" in result.stderr
    assert all(fleet.path(f"web-{i}").read_bytes() == SEED for i in range(1, 4))
    assert leftovers(files) == []
    record = read_records(GitRepo(fleet.root), fleet.profile)[0]
    assert record["status"] == "reverted" and "reload" in record["reason"]
    assert [(i["instance"], i["state"]) for i in record["instances"]] == \
           [("web-1", "reverted"), ("web-2", "reverted"), ("web-3", "pending")]


def test_blue_green_over_ssh_switches_nothing_when_one_check_fails(
        make_fleet: Callable[..., Fleet], sshd: Any, tmp_path: Path, cli: Callable[..., Any]) -> None:
    files = tmp_path / "instances"
    targets = [ssh_target(sshd, files, f"web-{i}", check=CHECK) for i in range(1, 5)]
    targets[3]["transport"]["check"] = "echo 'web-4 says no' >&2; exit 1"
    fleet = make_fleet(targets, strategy={"type": "blue-green", "bake": "0.1s"})
    for i in range(1, 5):
        fleet.path(f"web-{i}").write_bytes(SEED)
    fleet.release(cli, "1.0.0")
    result = deploy(cli, fleet)
    assert result.exit_code == 6, result
    assert "stage failed on web-4" in result.stderr and "web-4 says no" in result.stderr
    assert all(fleet.path(f"web-{i}").read_bytes() == SEED for i in range(1, 5))
    assert leftovers(files) == []  # staged files removed from every instance
    assert not list(files.rglob("*.hotswap-prev"))  # nothing was swapped, so nothing was kept
    record = read_records(GitRepo(fleet.root), fleet.profile)[0]
    assert record["status"] == "reverted" and record["failed_phase"] == 1


def test_targets_named_by_ssh_config_alias_deploy_and_the_dry_run_shows_where_settings_came_from(
        make_fleet: Callable[..., Fleet], sshd: Any, tmp_path: Path, cli: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSWAP_SSH_CONFIG", "none")  # restored after the test: --ssh-config sets it in-process
    config = tmp_path / "ssh_config"
    config.write_text(f"Host web-*.fleet\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {sshd.user}\n"
                      f"  IdentityFile {sshd.user_key}\n  UserKnownHostsFile {sshd.known_hosts}\n")
    files = tmp_path / "instances"
    targets = []
    for i in (1, 2):
        (files / f"web-{i}").mkdir(parents=True)
        targets.append({"name": f"web-{i}", "transport": {"type": "ssh", "host": f"web-{i}.fleet", "timeout": "5s",
                                                          "path": str(files / f"web-{i}" / "worker.json")},
                        "health": [{"type": "command", "command": ["true"]}]})
    fleet = make_fleet(targets, strategy={"type": "direct"})
    fleet.release(cli, "1.0.0")

    planned = cli("--ssh-config", str(config), "--repo", str(fleet.root), "deploy", fleet.profile, "--dry-run")
    assert planned.exit_code == 0, planned
    assert f"web-1: {sshd.user}@127.0.0.1:{sshd.port}" in planned.stdout
    assert f"port {sshd.port}  (ssh config {config})" in planned.stdout
    assert "timeout 5.0  (profile)" in planned.stdout
    result = cli("--ssh-config", str(config), "--repo", str(fleet.root), "deploy", fleet.profile, "--yes")
    assert result.exit_code == 0, result
    assert fleet.running("web-2")["concurrency"] == 8
