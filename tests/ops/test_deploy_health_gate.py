"""The health gate end to end on demo instances: an instance with too little traffic to tell gives an
inconclusive gate, which bakes on and is then failed, passed, or paused for a person at a terminal."""

from __future__ import annotations

import os
import pty
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from deploy_support import (
    DemoRepo,
    EventStream,
    hotswap_cmd,
    make_demo_repo,
    running_hash,
    subprocess_env,
)

from hotswap_cli.core.deploy.ledger import read_records
from hotswap_cli.core.versions.git import GitRepo
from hotswap_cli.demo.instances import DemoInstance, start_instances, stop_instances


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[list[DemoInstance]]:
    instances = start_instances(2, tmp_path / "demo")
    try:
        yield instances
    finally:
        stop_instances(tmp_path / "demo")


def quiet_fleet(demo: list[DemoInstance], root: Path, cli: Callable[..., Any], **health: Any) -> DemoRepo:
    """1.0.0 is deployed; 1.1.0 serves 20 requests/s: a few requests a look, never enough to show
    its error rate is within 5pp of the baseline's."""
    targets = [{"name": i.name,
                "transport": {"type": "http", "url": f"{i.url}/config", "confirm_url": f"{i.url}/config"},
                "health": [{"type": "metrics", "url": f"{i.url}/metrics"}]} for i in demo]
    fleet = make_demo_repo(root, targets, strategy={"type": "canary", "steps": [50, 100], "bake": "0.6s"},
                           health={"interval": "0.2s", "max_bake": "1.2s", **health})
    fleet.release(cli, "1.0.0")
    assert cli("--repo", str(root), "deploy", fleet.profile, "--yes").exit_code == 0
    fleet.set_simulate(rps=20)
    fleet.release(cli, "1.1.0", "a quiet config")
    return fleet


def test_inconclusive_bakes_on_then_fails_by_default(demo: list[DemoInstance], tmp_path: Path,
                                                     cli: Callable[..., Any]) -> None:
    fleet = quiet_fleet(demo, tmp_path / "repo", cli)
    before = {i.name: running_hash(i.url) for i in demo}
    result = cli("--repo", str(fleet.root), "deploy", fleet.profile, "1.1.0", "--yes")
    assert result.exit_code == 6, result
    assert re.search(r"phase 1: the evidence is inconclusive, baking up to \d+ms more: inconclusive: demo-1: "
                     r"error rate \d+\.\d% \(\d+/\d+ requests\) vs baseline", result.stderr), result.stderr
    assert "undecided at 5pp [inconclusive after 1.2s: on_inconclusive: fail]" in result.stderr
    assert {i.name: running_hash(i.url) for i in demo} == before  # reverted
    [verdict] = read_records(GitRepo(fleet.root), fleet.profile)[0]["verdicts"]
    assert (verdict["outcome"], verdict["ok"]) == ("inconclusive", False)
    assert verdict["decided_by"] == "inconclusive after 1.2s: on_inconclusive: fail"


def test_inconclusive_passes_when_the_policy_says_so(demo: list[DemoInstance], tmp_path: Path,
                                                     cli: Callable[..., Any]) -> None:
    fleet = quiet_fleet(demo, tmp_path / "repo", cli, on_inconclusive="pass")
    result = cli("--repo", str(fleet.root), "deploy", fleet.profile, "1.1.0", "--yes")
    assert result.exit_code == 0, result
    verdicts = read_records(GitRepo(fleet.root), fleet.profile)[0]["verdicts"]
    assert [v["decided_by"] for v in verdicts] == ["inconclusive after 1.2s: passed by on_inconclusive: pass"] * 2


def test_pause_without_a_terminal_waits_for_an_order_from_elsewhere(demo: list[DemoInstance], tmp_path: Path,
                                                                    cli: Callable[..., Any]) -> None:
    """No terminal (a CI job): the paused gate waits for `hotswap promote|abort` from any machine."""
    fleet = quiet_fleet(demo, tmp_path / "repo", cli, on_inconclusive="pause")
    proc = subprocess.Popen(hotswap_cmd(fleet.root, "deploy", fleet.profile, "1.1.0", "--yes", "--json"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**subprocess_env(), "HOTSWAP_CONTROL_POLL": "0.2"})
    try:
        stream = EventStream(proc)
        stream.wait_for(lambda e: e["event"] == "gate_paused", timeout=60)
        promoted = cli("--repo", str(fleet.root), "promote", fleet.profile, "--full")
        assert promoted.exit_code == 0, promoted
        proc.wait(timeout=60)
        events = stream.drain()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    first = next(e for e in events if e["event"] == "verdict")
    assert first["verdict"]["decided_by"].startswith("inconclusive after 1.2s: paused, then promoted by ")
    assert [e["number"] for e in events if e["event"] == "phase_started"] == [1, 2]


@pytest.mark.parametrize(("answer", "code", "how"), [("p", 0, "promoted by the terminal"),
                                                      ("a", 9, "aborted by the terminal")])
def test_pause_on_a_terminal_asks_and_follows_the_answer(demo: list[DemoInstance], tmp_path: Path,
                                                         cli: Callable[..., Any], answer: str, code: int,
                                                         how: str) -> None:
    fleet = quiet_fleet(demo, tmp_path / "repo", cli, on_inconclusive="pause")
    master, slave = pty.openpty()  # stdin is a terminal: there is someone to ask
    proc = subprocess.Popen(hotswap_cmd(fleet.root, "deploy", fleet.profile, "1.1.0", "--yes", "--json"),
                            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=subprocess_env())
    os.close(slave)
    try:
        stream = EventStream(proc)
        for phase in (1, 2) if answer == "p" else (1,):  # promoted, phase 2 is just as quiet
            paused = stream.wait_for(lambda e: e["event"] == "gate_paused", timeout=60)
            assert paused["phase"] == phase and paused["reason"].startswith("inconclusive: demo-")
            os.write(master, f"{answer}\n".encode())
        proc.wait(timeout=60)
        events = stream.drain()
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert proc.returncode == code, proc.stderr.read() if proc.stderr else ""
    stderr = proc.stderr.read() if proc.stderr else ""
    assert "phase 1 is paused, the evidence is inconclusive: inconclusive: demo-1:" in stderr
    assert "promote phase 1 (go on) or abort (revert)? [p/a]" in stderr
    first = next(e for e in events if e["event"] == "verdict")
    # the bake (1.2 s) and its last look: a loaded machine adds a tenth or two
    assert re.fullmatch(rf"inconclusive after 1\.[2-9]s: paused, then {how}", first["verdict"]["decided_by"]), first
