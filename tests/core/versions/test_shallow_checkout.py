"""A CI checkout (`git clone --depth 1 --no-tags`, actions/checkout's default) has no version tags
and a cut history: commands fetch what they read from origin, say so on stderr, and when origin
cannot be read they name the git command that fixes it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.example import PROFILE, commit, edit, git
from support.repo import EXAMPLE_REPO

from hotswap_cli.core.approvals.quorum import resolve_version as approval_commit
from hotswap_cli.core.versions.git import GitRepo
from hotswap_cli.core.versions.release import list_versions

FETCHED = f"hotswap: fetched 1 version tag of {PROFILE} from origin (a shallow/tagless checkout)\n"
FETCH_COMMAND = f"git fetch origin 'refs/tags/{PROFILE}/*:refs/tags/{PROFILE}/*'"


class Origin:
    """A work repo that releases and pushes to a bare origin; `clone()` makes a CI checkout of it."""

    def __init__(self, tmp_path: Path, cli: Callable[..., Any]) -> None:
        self.tmp, self.cli = tmp_path, cli
        self.work, self.bare = tmp_path / "work", tmp_path / "origin.git"
        self.clones = 0

    def release(self, version: str) -> str:
        result = self.cli("--repo", str(self.work), "release", PROFILE, version, "--push")
        assert result.exit_code == 0, result
        git(self.work, "push", "-q", "origin", "main")
        return git(self.work, "rev-parse", f"{PROFILE}/{version}^{{commit}}").strip()

    def change(self, old: str, new: str, message: str) -> None:
        edit(self.work / f"profiles/{PROFILE}/config.yaml", old, new)
        commit(self.work, message)

    def clone(self) -> Path:
        self.clones += 1
        path = self.tmp / f"ci-{self.clones}"
        git(self.tmp, "clone", "-q", "--depth", "1", "--no-tags", f"file://{self.bare}", str(path))
        assert git(path, "tag", "--list") == "" and (path / ".git" / "shallow").exists()
        return path


def local_targets(root: Path, instances: Path) -> None:
    """payment-service.production on local files: reading what runs there costs nothing."""
    profile = root / f"profiles/{PROFILE}/profile.yaml"
    text = profile.read_text()
    lines = [f"  - name: pay-prod-{i}\n    transport: {{type: local, path: {instances}/pay-prod-{i}/config.json}}\n"
             for i in (1, 2)]
    profile.write_text(text[:text.index("targets:")] + "targets:\n" + "".join(lines))
    for i in (1, 2):
        (instances / f"pay-prod-{i}").mkdir(parents=True)


@pytest.fixture
def origin(tmp_path: Path, cli: Callable[..., Any], demo_key: str) -> Origin:
    """main: initial config, 1.0.0 on the second commit, one more commit after it; all on origin."""
    o = Origin(tmp_path, cli)
    shutil.copytree(EXAMPLE_REPO, o.work)
    local_targets(o.work, tmp_path / "instances")
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(o.bare))
    git(o.work, "init", "-q", "-b", "main")
    commit(o.work, "initial config")
    git(o.work, "remote", "add", "origin", str(o.bare))
    o.change("max: 80", "max: 90", "pool 90")
    o.release("1.0.0")
    o.change("max: 90", "max: 95", "pool 95")
    git(o.work, "push", "-q", "origin", "main")
    return o


def hotswap(repo: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """The real command line, as a CI step runs it: its own process, stdin closed."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    return subprocess.run([sys.executable, "-m", "hotswap_cli", "--repo", str(repo), *args], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, env=env, timeout=timeout, check=False)


def test_deploy_dry_run_fetches_the_released_version_and_says_so(origin: Origin) -> None:
    ci = origin.clone()
    result = hotswap(ci, "deploy", PROFILE, "--dry-run")
    # Production needs 2 approvals: the plan is shown, then exit 4 (not "has no released version")
    assert result.returncode == 4, result
    assert f"deploy {PROFILE} 1.0.0 (Production)" in result.stdout
    assert result.stderr.startswith(FETCHED), result.stderr
    assert "dry run: nothing was changed" in result.stderr
    assert result.stderr.endswith(f"{PROFILE} 1.0.0 is short of its quorum (2 required): approved by: nobody; "
                                  "missing: 2 more approvals from roles lead, sre\n")
    assert git(ci, "tag", "--list") == f"{PROFILE}/1.0.0\n"
    again = hotswap(ci, "deploy", PROFILE, "--dry-run")
    assert again.returncode == 4 and "fetched" not in again.stderr  # nothing new: nothing said


def test_versions_and_show_in_a_shallow_clone(origin: Origin, cli: Callable[..., Any]) -> None:
    ci = origin.clone()
    listed = cli("--repo", str(ci), "versions", PROFILE, "--json")
    assert listed.exit_code == 0, listed
    assert [v["version"] for v in json.loads(listed.stdout)] == ["1.0.0"]
    assert listed.stderr == FETCHED
    shown = cli("--repo", str(ci), "show", PROFILE, "1.0.0", "--format", "json")
    assert shown.exit_code == 0, shown
    assert json.loads(shown.stdout)["database"]["pool"]["max"] == 90  # the version, not HEAD's 95
    fresh = cli("--repo", str(origin.clone()), "show", PROFILE, "1.0.0", "--format", "json")
    assert (fresh.exit_code, fresh.stderr) == (0, FETCHED)


def test_history_deepens_the_clone_once_and_names_the_version(origin: Origin, cli: Callable[..., Any]) -> None:
    ci = origin.clone()
    result = cli("--repo", str(ci), "history", PROFILE, "--json")
    assert result.exit_code == 0, result
    entries = json.loads(result.stdout)
    assert [e["message"] for e in entries] == ["pool 95", "pool 90", "initial config"]
    assert entries[1]["versions"] == ["1.0.0"]
    assert result.stderr == FETCHED + ("hotswap: fetched the history of this shallow checkout from origin "
                                       f"(git fetch --unshallow) for the history of {PROFILE}\n")
    assert not (ci / ".git" / "shallow").exists()
    again = cli("--repo", str(ci), "history", PROFILE, "--json")
    assert (again.exit_code, again.stderr) == (0, "")


def test_approvals_of_a_version_in_a_shallow_clone(origin: Origin, cli: Callable[..., Any]) -> None:
    ci = origin.clone()
    result = cli("--repo", str(ci), "approvals", PROFILE, "1.0.0", "--json")
    assert result.exit_code == 0, result
    report = json.loads(result.stdout)
    assert (report["version"], report["required"], report["approvals"]) == ("1.0.0", 2, [])
    assert report["commit"] == git(origin.work, "rev-parse", f"{PROFILE}/1.0.0^{{commit}}").strip()
    assert result.stderr.startswith(FETCHED)


def test_without_a_remote_the_error_names_the_git_command(origin: Origin, cli: Callable[..., Any]) -> None:
    ci = origin.clone()
    git(ci, "remote", "remove", "origin")
    result = hotswap(ci, "deploy", PROFILE, "--dry-run")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (f"hotswap: error: {PROFILE} has no released version in this clone, which is shallow "
                             f"and has no remote named origin: run `git remote add origin URL && {FETCH_COMMAND}`\n")
    listed = cli("--repo", str(ci), "versions", PROFILE)
    assert listed.exit_code == 1 and FETCH_COMMAND in listed.stderr
    git(ci, "fetch", "-q", str(origin.bare), f"refs/tags/{PROFILE}/*:refs/tags/{PROFILE}/*")  # the tags by hand
    history = cli("--repo", str(ci), "history", PROFILE)
    assert (history.exit_code, history.stderr) == (
        1, f"hotswap: error: this clone is shallow: the history of {PROFILE} needs commits it does not have, and "
           "there is no remote named origin: run `git remote add origin URL && git fetch --unshallow origin`\n")


def test_an_unreachable_origin_is_named_with_the_fix_within_the_git_timeout(origin: Origin,
                                                                             cli: Callable[..., Any]) -> None:
    ci = origin.clone()
    gone = origin.tmp / "moved-away.git"
    git(ci, "remote", "set-url", "origin", str(gone))
    started = time.monotonic()
    result = hotswap(ci, "deploy", PROFILE, "--dry-run")
    assert time.monotonic() - started < 10  # HOTSWAP_GIT_TIMEOUT's default is 60s
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (f"hotswap: error: {PROFILE} has no released version in this clone and origin could "
                             f"not be read ('{gone}' does not appear to be a git repository): "
                             f"run `{FETCH_COMMAND}`\n")
    for args in (("versions", PROFILE), ("show", PROFILE, "1.0.0"), ("approvals", PROFILE, "1.0.0")):
        other = cli("--repo", str(ci), *args)
        assert other.exit_code == 1 and f"origin could not be read ('{gone}'" in other.stderr, (args, other)
        assert other.stderr.rstrip().endswith(f"run `{FETCH_COMMAND}`"), (args, other)


def test_a_stalled_origin_gives_up_within_hotswap_git_timeout(origin: Origin, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    ci = origin.clone()
    stall = tmp_path / "stall"
    stall.write_text("#!/bin/sh\nexec sleep 5\n")  # an ssh that connects and never answers
    stall.chmod(0o755)
    git(ci, "config", "core.sshCommand", str(stall))
    git(ci, "remote", "set-url", "origin", "ssh://git@example.invalid/config.git")
    monkeypatch.setenv("HOTSWAP_GIT_TIMEOUT", "1")
    started = time.monotonic()
    result = hotswap(ci, "versions", PROFILE)
    assert time.monotonic() - started < 4
    assert result.returncode == 1, result
    assert result.stderr == (f"hotswap: error: {PROFILE} has no released version in this clone and origin could not "
                             "be read (git fetch: no answer within 1s (is the remote reachable?)): "
                             f"run `{FETCH_COMMAND}` (set HOTSWAP_GIT_TIMEOUT=SECONDS for a slow remote)\n")


def test_a_version_missing_everywhere_keeps_the_release_hint(tmp_path: Path, cli: Callable[..., Any]) -> None:
    o = Origin(tmp_path, cli)
    shutil.copytree(EXAMPLE_REPO, o.work)
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(o.bare))
    git(o.work, "init", "-q", "-b", "main")
    commit(o.work, "initial config")
    git(o.work, "remote", "add", "origin", str(o.bare))
    git(o.work, "push", "-q", "origin", "main")
    result = cli("--repo", str(o.clone()), "deploy", PROFILE, "--dry-run")
    assert (result.exit_code, result.stderr) == (
        1, f"hotswap: error: {PROFILE} has no released version (release one with `hotswap release {PROFILE} 1.0.0`)\n")


def test_a_version_pushed_after_this_process_fetched_is_looked_for_again(origin: Origin) -> None:
    ci = origin.clone()
    git_repo = GitRepo(ci)
    assert [v.version for v in list_versions(git_repo, PROFILE)] == ["1.0.0"]
    origin.change("max: 95", "max: 96", "pool 96")
    commit_110 = origin.release("1.1.0")
    assert approval_commit(git_repo, PROFILE, "1.1.0") == commit_110  # the same GitRepo: fetched once more


def test_approve_a_version_released_after_the_clone_was_made(origin: Origin, cli: Callable[..., Any],
                                                             tmp_path: Path) -> None:
    key = tmp_path / "alice"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", str(key)], check=True)
    public = " ".join(key.with_suffix(".pub").read_text().split()[:2])
    (origin.work / "approvers").write_text(f'alice@example.com namespaces="git" roles="lead" {public}\n')
    commit(origin.work, "alice approves")
    git(origin.work, "push", "-q", "origin", "main")
    ci = origin.clone()  # made before 1.1.0 exists
    origin.change("max: 95", "max: 96", "pool 96")
    origin.release("1.1.0")
    pairs = [("user.name", "Alice"), ("user.email", "alice@example.com"), ("gpg.format", "ssh"),
             ("user.signingkey", str(key))]
    env = {"GIT_CONFIG_COUNT": str(len(pairs)), "GIT_COMMITTER_NAME": "Alice",
           "GIT_COMMITTER_EMAIL": "alice@example.com"}
    for i, (k, v) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = k, v
    result = cli("--repo", str(ci), "approve", PROFILE, "1.1.0", env=env)
    assert result.exit_code == 0, result
    assert result.stdout == f"approvals/{PROFILE}/1.1.0/alice@example.com\n"
    assert result.stderr.startswith(f"hotswap: fetched 2 version tags of {PROFILE} from origin "
                                    "(a shallow/tagless checkout)\n")
    missing = cli("--repo", str(ci), "approve", PROFILE, "1.2.0", env=env)
    assert (missing.exit_code, missing.stderr) == (
        4, f"hotswap: error: version 1.2.0 of {PROFILE} does not exist in this clone or on origin "
           f"(`hotswap versions {PROFILE}` lists them; `git fetch --tags origin` brings every tag)\n")


def test_a_full_clone_fetches_a_version_released_elsewhere(origin: Origin, cli: Callable[..., Any]) -> None:
    full = origin.tmp / "full"
    git(origin.tmp, "clone", "-q", f"file://{origin.bare}", str(full))
    origin.change("max: 95", "max: 97", "pool 97")
    origin.release("1.1.0")
    listed = cli("--repo", str(full), "versions", PROFILE, "--json")
    assert listed.exit_code == 0, listed
    assert [v["version"] for v in json.loads(listed.stdout)] == ["1.1.0", "1.0.0"]
    assert listed.stderr == f"hotswap: fetched 1 version tag of {PROFILE} from origin\n"  # not a CI checkout


def test_validate_fetches_every_profiles_versions_at_once_and_nothing_under_pre_commit(origin: Origin) -> None:
    # validate checks the released configs against changed schemas: in a CI checkout it brings
    # every profile's versions in one fetch; as a pre-commit hook it stays offline and quick
    hook = origin.clone()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3]), "PRE_COMMIT": "1"}
    schema = "schemas/worker-config/2.0.json"  # a schema file changed: released configs are checked too
    offline = subprocess.run([sys.executable, "-m", "hotswap_cli", "validate", schema], cwd=hook,
                             capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env, timeout=30)
    assert offline.returncode == 0, offline.stderr
    assert "fetched" not in offline.stderr and git(hook, "tag", "--list") == ""
    ci = origin.clone()
    validated = subprocess.run([sys.executable, "-m", "hotswap_cli", "validate", schema], cwd=ci,
                               capture_output=True, text=True, stdin=subprocess.DEVNULL,
                               env={**env, "PRE_COMMIT": ""}, timeout=30)
    assert validated.returncode == 0, validated.stderr
    assert validated.stderr.count("fetched") == 1, validated.stderr
    assert "fetched 1 version tag of 6 profile(s) from origin" in validated.stderr
    assert git(ci, "tag", "--list") == f"{PROFILE}/1.0.0\n"


def test_an_unreachable_origin_names_the_fetch_for_the_ledger_and_the_lock(origin: Origin) -> None:
    ci = origin.clone()
    gone = origin.tmp / "moved-away.git"
    git(ci, "remote", "set-url", "origin", str(gone))
    listed = hotswap(ci, "deployments", PROFILE)  # the local ledger still answers
    assert listed.returncode == 0, listed
    assert listed.stderr.startswith(f"hotswap: warning: cannot fetch the deployment ledger from origin: '{gone}' "
                                    "does not appear to be a git repository (run git fetch origin "
                                    "'+refs/hotswap/ledger/*:refs/hotswap/remote/ledger/*' "
                                    "'+refs/hotswap/deployment*:refs/hotswap/remote/deployment*' to see why); "
                                    "showing the local ledger\n"), listed.stderr
    lock_fetch = (f"run git fetch origin '+refs/hotswap/locks/{PROFILE}:refs/hotswap/remote/locks/{PROFILE}' "
                  "to see why")
    for command in ("status", "unlock"):  # whether a run holds the lock cannot be known: they stop
        result = hotswap(ci, command, PROFILE)
        assert (result.returncode, result.stdout) == (1, ""), result
        assert result.stderr == (f"hotswap: error: cannot read the deploy lock on origin: '{gone}' does not "
                                 f"appear to be a git repository ({lock_fetch})\n"), result.stderr


def test_the_ledger_fetched_into_a_shallow_clone_is_said_once(origin: Origin) -> None:
    from hotswap_cli.core.deploy import ledger

    work = GitRepo(origin.work)
    ledger.append_record(work, {"kind": "deploy", "profile": PROFILE, "version": "1.0.0", "status": "completed"})
    assert ledger.push_ledger(work)
    ci = origin.clone()
    listed = hotswap(ci, "deployments", PROFILE)
    assert listed.returncode == 0 and "1.0.0" in listed.stdout, listed
    assert listed.stderr == f"hotswap: fetched 1 deployment record from origin's ledger ({PROFILE})\n"
    again = hotswap(ci, "deployments", PROFILE)
    assert (again.returncode, again.stderr) == (0, "")
