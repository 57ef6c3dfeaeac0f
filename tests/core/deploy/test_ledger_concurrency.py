"""Eight deploy processes against one bare origin: one at a time, and the ledger keeps every run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ledger_support import PROFILE, git

from hotswap_cli.core.deploy import ledger
from hotswap_cli.core.versions.git import GitRepo

WORKER = Path(__file__).resolve().parent / "deploy_worker.py"


@pytest.mark.slow
def test_eight_concurrent_deploys_run_one_at_a_time(origin: Path, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    clones = []
    for i in range(8):
        git(tmp_path, "clone", "-q", str(origin), str(tmp_path / f"clone{i}"))
        clones.append(tmp_path / f"clone{i}")

    procs = [subprocess.Popen([sys.executable, str(WORKER), str(c), str(markers), str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, c in enumerate(clones)]
    outcomes = [(p.wait(timeout=90), p.stderr.read() if p.stderr else "") for p in procs]

    assert [code for code, _ in outcomes] == [0] * 8, outcomes
    spans = sorted((json.loads(f.read_text())["start"], json.loads(f.read_text())["end"])
                   for f in markers.iterdir())
    assert len(spans) == 8
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end, f"critical sections overlap: {spans}"
    git(tmp_path, "clone", "-q", str(origin), str(tmp_path / "reader"))
    reader = GitRepo(tmp_path / "reader")
    ledger.fetch_ledger(reader)
    ids = sorted(r["id"] for r in ledger.read_records(reader, PROFILE))
    assert ids == sorted(f"deploy-worker-{i}" for i in range(8))
    assert git(tmp_path, "ls-remote", str(origin), "refs/hotswap/locks/*") == ""
