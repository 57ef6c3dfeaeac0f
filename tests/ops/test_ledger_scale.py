"""A monorepo pipeline after a merge: one job per service, each in a fresh clone, all deploying at
the same moment. Every record reaches origin (one ledger ref per profile: no job races another),
no lock or journal is left, the old single-ref ledger of an existing repo is still listed, and a
record origin refuses past the deadline is exit 8 until `hotswap deployments --push` sends it."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from deploy_fleet import WORKER_CONFIG, git
from deploy_support import clone_jobs, hotswap_cmd, subprocess_env
from support.repo import EXAMPLE_REPO

from hotswap_cli.core.deploy import ledger
from hotswap_cli.core.versions.git import GitRepo

N = 40


def monorepo(root: Path, files: Path, n: int) -> list[str]:
    """A config repo with `n` Development profiles `svc-<i>.development`, each one local target, released 1.0.0."""
    (root / "schemas/worker-config").mkdir(parents=True)
    (root / "schemas/worker-config/1.0.json").write_text((EXAMPLE_REPO / "schemas/worker-config/1.0.json").read_text())
    (root / "hotswap.yaml").write_text(yaml.safe_dump({"environments": {"Development": {"approvals": 0}}}))
    names = [f"svc-{i:02d}.development" for i in range(n)]
    for name in names:
        folder = root / "profiles" / name
        folder.mkdir(parents=True)
        (files / name).mkdir(parents=True)
        (folder / "profile.yaml").write_text(yaml.safe_dump({
            "environment": "Development", "schema": "worker-config/1.0", "strategy": {"type": "direct"},
            "targets": [{"name": "w-1", "transport": {"type": "local", "path": str(files / name / "worker.json")}}],
        }, sort_keys=False))
        (folder / "config.json").write_text(json.dumps(WORKER_CONFIG))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "monorepo")
    for name in names:
        git(root, "tag", "-a", f"{name}/1.0.0", "-m", "release")
    return names


def with_origin(root: Path, tmp_path: Path) -> Path:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(root, "remote", "add", "origin", str(origin))
    git(root, "push", "-q", "origin", "main", "--tags")
    return origin


def test_forty_pipelines_deploying_at_once_all_reach_the_remote_ledger(tmp_path: Path) -> None:
    root, files = tmp_path / "repo", tmp_path / "instances"
    names = monorepo(root, files, N)
    origin = with_origin(root, tmp_path)
    clones = clone_jobs(origin, tmp_path, N)
    env = subprocess_env()
    procs = [subprocess.Popen(hotswap_cmd(clone, "deploy", name, "1.0.0", "--yes"), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for clone, name in zip(clones, names, strict=True)]
    outcomes = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=240)
            outcomes.append((p.returncode, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [code for code, _ in outcomes] == [0] * N, [(c, e[-400:]) for c, e in outcomes if c]
    warned = [line for _, err in outcomes for line in err.splitlines() if "warning" in line]
    assert not warned, warned[:4]

    remote = git(tmp_path, "ls-remote", str(origin), "refs/hotswap/*").split("\n")
    ledger_refs = sorted(line.split("\t")[1] for line in remote if "\trefs/hotswap/ledger/" in line)
    assert ledger_refs == sorted(f"refs/hotswap/ledger/{n}" for n in names)
    left = [line for line in remote if "/locks/" in line or "/journal/" in line]
    assert not left, left

    reader = tmp_path / "reader"
    git(tmp_path, "clone", "-q", str(origin), str(reader))
    assert ledger.fetch_ledger(GitRepo(reader))
    records = ledger.read_records(GitRepo(reader))
    assert sorted(r["profile"] for r in records) == names and {r["status"] for r in records} == {"completed"}


def legacy_record(root: Path, profile: str, version: str, record_id: str) -> None:
    """A record as hotswap wrote it before ledgers were per profile: on refs/hotswap/deployments."""
    body = json.dumps({"id": record_id, "kind": "deploy", "profile": profile, "version": version, "sha256": "",
                       "status": "completed", "started_at": "2026-01-01T00:00:00Z"}) + "\n"
    blob = git(root, "hash-object", "-w", "--stdin", input=body).strip()
    tree = git(root, "mktree", input=f"100644 blob {blob}\trecord.json\n").strip()
    parent = subprocess.run(["git", "rev-parse", "--verify", "-q", "refs/hotswap/deployments"], cwd=root,
                            capture_output=True, text=True).stdout.strip()
    commit = git(root, "commit-tree", tree, *(["-p", parent] if parent else []), "-m",
                 f"deploy {profile} {version}: completed ({record_id})").strip()
    git(root, "update-ref", "refs/hotswap/deployments", commit)


def test_the_single_ref_ledger_of_an_existing_repo_is_still_listed(tmp_path: Path, cli: Callable[..., Any]) -> None:
    root, files = tmp_path / "repo", tmp_path / "instances"
    names = monorepo(root, files, 2)
    legacy_record(root, names[0], "0.9.0", "deploy-from-the-old-days")
    origin = with_origin(root, tmp_path)
    git(root, "push", "-q", "origin", "refs/hotswap/deployments")
    job = tmp_path / "job"
    git(tmp_path, "clone", "-q", str(origin), str(job))
    assert cli("--repo", str(job), "deploy", names[0], "1.0.0", "--yes").exit_code == 0
    listed = cli("--repo", str(job), "deployments", names[0], "--json")
    assert [(r["version"], r["id"]) for r in json.loads(listed.stdout)][1:] == [("0.9.0", "deploy-from-the-old-days")]
    everything = cli("--repo", str(job), "deployments", "--json")
    assert len(json.loads(everything.stdout)) == 2
    # the old ref is read, never written
    assert git(tmp_path, "ls-remote", str(origin), "refs/hotswap/deployments").split()[0] == \
        git(root, "rev-parse", "refs/hotswap/deployments").strip()


def test_a_remote_that_refuses_the_record_past_the_deadline_is_exit_8_until_it_is_pushed(
        tmp_path: Path, cli: Callable[..., Any], monkeypatch: Any) -> None:
    root, files = tmp_path / "repo", tmp_path / "instances"
    names = monorepo(root, files, 1)
    origin = with_origin(root, tmp_path)
    gate = tmp_path / "refuse-ledger"
    hook = origin / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\nif [ -e {gate} ] && grep -q ' refs/hotswap/ledger/'; then\n"
                    "  echo 'ledger writes are frozen' >&2; exit 1\nfi\nexit 0\n")
    hook.chmod(0o755)
    gate.touch()
    monkeypatch.setenv("HOTSWAP_LEDGER_PUSH_DEADLINE", "1.5")
    started = time.monotonic()
    deployed = cli("--repo", str(root), "deploy", names[0], "1.0.0", "--yes")
    assert deployed.exit_code == 8, deployed
    assert time.monotonic() - started < 30
    last = deployed.stderr.strip().splitlines()[-1]
    assert "completed, but its ledger record is not on origin (the audit trail is incomplete)" in last
    assert "did not reach origin within 1.5s" in last and "hotswap deployments --push" in last
    assert (files / names[0] / "worker.json").exists()  # the instance is as the summary says
    assert git(tmp_path, "ls-remote", str(origin), "refs/hotswap/ledger/*") == ""

    still = cli("--repo", str(root), "deployments", "--push")
    assert still.exit_code == 8 and "ledger writes are frozen" in still.stderr
    gate.unlink()
    sent = cli("--repo", str(root), "deployments", "--push")
    assert sent.exit_code == 0 and f"sent the pending ledger records of {names[0]}" in sent.stderr
    assert git(tmp_path, "ls-remote", str(origin), "refs/hotswap/ledger/*").count("\n") == 1
    assert cli("--repo", str(root), "deployments", "--push").exit_code == 0  # nothing left: still 0

    monkeypatch.setenv("HOTSWAP_LEDGER_PUSH", "warn")  # the policy switch: a warning, exit 0
    gate.touch()
    assert cli("--repo", str(root), "rollback", names[0], "--to", "1.0.0", "--yes").exit_code == 0
