"""`hotswap deployments` and `hotswap unlock` through the real app against the example config repo."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledger_support import PROFILE

from hotswap_cli.core.deploy import ledger, lock
from hotswap_cli.core.versions.git import GitRepo

Cli = Callable[..., Any]


def add(repo: GitRepo, version: str, status: str = "completed", reason: str = "", **extra: Any) -> str:
    return ledger.append_record(repo, {
        "kind": "deploy", "profile": PROFILE, "version": version, "strategy": "canary", "status": status,
        "reason": reason, "who": "Ann <ann@example.com>", "started_at": "2024-05-01T12:00:00Z", **extra})


def test_deployments_table_newest_first(cli: Cli, config_repo: Path) -> None:
    repo = GitRepo(config_repo)
    first = add(repo, "1.3.0")
    second = add(repo, "1.4.0", "reverted", "error rate 4.0% > 1.0% on web-1")
    add(repo, "2.0.0", profile="order-worker.staging")

    result = cli("--repo", str(config_repo), "deployments", PROFILE)

    assert result.exit_code == 0, result
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "WHEN", "WHO", "VERSION", "STRATEGY", "STATUS", "REASON"]
    assert lines[1].split() == [second, "2024-05-01", "12:00:00", "Ann", "<ann@example.com>", "1.4.0", "canary",
                                "reverted", "error", "rate", "4.0%", ">", "1.0%", "on", "web-1"]
    assert lines[2].split()[0] == first and lines[2].split()[-1] == "-"
    assert len(lines) == 3


def test_deployments_json_and_limit(cli: Cli, config_repo: Path) -> None:
    repo = GitRepo(config_repo)
    add(repo, "1.3.0")
    latest = add(repo, "1.4.0")

    result = cli("--repo", str(config_repo), "deployments", PROFILE, "--json", "--limit", "1")

    assert result.exit_code == 0, result
    records = json.loads(result.stdout)
    assert [(r["id"], r["version"], r["who"]) for r in records] == [(latest, "1.4.0", "Ann <ann@example.com>")]


def test_deployments_without_records(cli: Cli, config_repo: Path) -> None:
    result = cli("--repo", str(config_repo), "deployments", PROFILE)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", f"no deployments recorded for {PROFILE}\n")


def test_deployments_fetches_what_other_machines_pushed(cli: Cli, config_repo_with_origin: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    repo, origin = config_repo_with_origin
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(origin), str(other)], check=True)
    pushed = add(GitRepo(other), "1.5.0")
    ledger.push_ledger(GitRepo(other))

    result = cli("--repo", str(repo), "--json", "deployments")

    assert result.exit_code == 0, result
    assert [r["id"] for r in json.loads(result.stdout)] == [pushed]


def test_unlock_shows_the_holder_and_exits_5_without_force(cli: Cli, config_repo: Path) -> None:
    held = lock.acquire(GitRepo(config_repo), PROFILE, purpose="deploy 1.4.0")

    result = cli("--repo", str(config_repo), "unlock", PROFILE)

    assert result.exit_code == 5, result
    assert result.stderr.startswith(
        f"hotswap: error: {PROFILE} is locked by Test Author <author@example.com> on {socket.gethostname()} "
        f"(pid {os.getpid()}) for deploy 1.4.0 since {held.holder.since} (")
    assert result.stderr.endswith(f"(break it with `hotswap unlock {PROFILE} --force`)\n")
    assert len(result.stderr.splitlines()) == 1
    assert lock.read_holder(GitRepo(config_repo), PROFILE) == held.holder


def test_unlock_force_breaks_the_lock(cli: Cli, config_repo_with_origin: tuple[Path, Path]) -> None:
    repo, _ = config_repo_with_origin
    held = lock.acquire(GitRepo(repo), PROFILE)

    result = cli("--repo", str(repo), "unlock", PROFILE, "--force")

    assert result.exit_code == 0, result
    assert result.stderr == (f"broke the deploy lock of {PROFILE} held by Test Author <author@example.com> on "
                             f"{socket.gethostname()} (pid {os.getpid()}) since {held.holder.since}\n")
    assert lock.read_holder(GitRepo(repo), PROFILE) is None
    again = cli("--repo", str(repo), "unlock", PROFILE, "--json")
    assert again.exit_code == 0 and json.loads(again.stdout) == {"profile": PROFILE, "held": False,
                                                                 "broken": False, "holder": None}
    assert again.stderr == f"{PROFILE} is not locked\n"
