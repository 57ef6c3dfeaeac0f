"""Eight real `hotswap deploy` processes, one per clone of one bare remote, deploying the same
profile at once: the remote lock lets exactly one run at a time, all succeed, and the remote
ledger holds every run."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deploy_fleet import Fleet, git
from deploy_support import clone_jobs, hotswap_cmd, parse_json_lines, subprocess_env

from hotswap_cli.core.deploy.ledger import fetch_ledger, read_records
from hotswap_cli.core.versions.git import GitRepo

N = 8


def test_eight_concurrent_deploys_run_one_at_a_time_and_all_are_recorded(
        make_fleet: Callable[..., Fleet], cli: Callable[..., Any], tmp_path: Path) -> None:
    fleet = make_fleet(2, strategy={"type": "canary", "steps": [50, 100], "bake": "0.2s"},
                       health={"interval": "0.1s"})
    fleet.release(cli, "1.0.0")
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(fleet.root, "remote", "add", "origin", str(bare))
    git(fleet.root, "push", "-q", "origin", "main", f"refs/tags/{fleet.profile}/1.0.0")
    clones = clone_jobs(bare, tmp_path, N, "clone")

    env = subprocess_env()
    started = time.monotonic()
    procs = [subprocess.Popen(hotswap_cmd(c, "deploy", fleet.profile, "1.0.0", "--yes", "--redeploy", "--json",
                                          "--wait-for-lock", "60s"),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for c in clones]
    outcomes = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=max(1.0, 60 - (time.monotonic() - started)))
            outcomes.append((p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    assert [code for code, _, _ in outcomes] == [0] * N, [(c, e[-500:]) for c, _, e in outcomes]
    # each event's `at` is wall-clock UTC to the millisecond (the same format: ordered as text): no overlap
    runs = []
    for _, out, _ in outcomes:
        events = parse_json_lines(out)
        start = next(e["at"] for e in events if e["event"] == "deploy_started")
        end = next(e["at"] for e in events if e["event"] == "deploy_finished")
        assert events[-1]["event"] == "result" and events[-1]["status"] == "completed"
        runs.append((start, end, events[-1]["id"]))
    runs.sort()
    for (_, end, a), (start, _, b) in zip(runs, runs[1:], strict=False):
        assert start >= end, f"{a} and {b} ran at the same time: {runs}"
    assert sum(1 for _, _, err in outcomes if "waiting for the deploy lock" in err) >= 1

    reader = tmp_path / "reader"
    git(tmp_path, "clone", "-q", str(bare), str(reader))
    assert fetch_ledger(GitRepo(reader))
    records = read_records(GitRepo(reader), fleet.profile)
    assert sorted(r["id"] for r in records) == sorted(run[2] for run in runs)
    assert [r["status"] for r in records] == ["completed"] * N
    # the ledger's wall-clock intervals (second precision) do not overlap either
    spans = sorted((r["started_at"], r["finished_at"]) for r in records)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end, spans
    assert git(tmp_path, "ls-remote", str(bare), "refs/hotswap/locks/*") == ""  # every lock released
    assert fleet.running("web-1")["concurrency"] == fleet.running("web-2")["concurrency"] == 8
    assert time.monotonic() - started < 90  # a hang guard, not a speed target (about 20 s alone)
