"""`hotswap deployments show ID`: the full record of real deploys to demo instances (a canary
that passes, one whose error rate fails the gate and is reverted) as text, markdown and one HTML
file, the HTML checked in a real headless Chromium."""

from __future__ import annotations

import json
import re
import struct
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ops.deploy_support import DemoRepo, make_demo_repo
from support import browser
from support.repo import git
from typer.testing import CliRunner

from hotswap_cli.core.deploy.ledger import read_records
from hotswap_cli.core.versions.git import GitRepo
from hotswap_cli.demo.instances import start_instances, stop_instances

Run = Callable[..., Any]


class Deploys:
    """The fleet's repo and the ledger ids of its runs: 1.0.0 (first), 1.1.0 (reverted), 1.2.0 (passed)."""

    def __init__(self, fleet: DemoRepo, ids: dict[str, str], run: Run) -> None:
        self.fleet = fleet
        self.ids = ids
        self.run = run

    def show(self, version: str, *args: str) -> Any:
        return self.run("--repo", str(self.fleet.root), "deployments", "show", self.ids[version], *args)


def _runner() -> Run:
    from hotswap_cli.cli.app import build_app

    app = build_app()

    def run(*args: str, env: dict[str, str] | None = None) -> Any:
        return CliRunner().invoke(app, list(args), env=env)

    return run


def _approver(keys: Path) -> tuple[str, dict[str, str]]:
    """Alice: an approvers line and the environment her git signs with (her own ssh key)."""
    key = keys / "alice"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", str(key)], check=True)
    public = " ".join(key.with_suffix(".pub").read_text().split()[:2])
    pairs = [("user.name", "Alice"), ("user.email", "alice@example.com"), ("gpg.format", "ssh"),
             ("user.signingkey", str(key))]
    env = {"GIT_CONFIG_COUNT": str(len(pairs)), "GIT_AUTHOR_NAME": "Alice", "GIT_AUTHOR_EMAIL": "alice@example.com",
           "GIT_COMMITTER_NAME": "Alice", "GIT_COMMITTER_EMAIL": "alice@example.com"}
    for i, (k, v) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = k, v
    return f'alice@example.com namespaces="git" roles="lead" {public}\n', env


@pytest.fixture(scope="module")
def deploys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deploys]:
    base = tmp_path_factory.mktemp("report")
    demo = start_instances(2, base / "demo")
    try:
        run = _runner()
        targets = [{"name": i.name,
                    "transport": {"type": "http", "url": f"{i.url}/config", "confirm_url": f"{i.url}/config"},
                    "health": [{"type": "metrics", "url": f"{i.url}/metrics"}]} for i in demo]
        fleet = make_demo_repo(base / "repo", targets, environment="Staging",
                               strategy={"type": "canary", "steps": [50, 100], "bake": "0.8s"},
                               health={"interval": "0.2s", "baseline": "0.8s"})  # 1,600 requests: p99 judged
        # Staging needs one approval, from the approvers file on main (the trusted ref)
        line, alice = _approver(base)
        (fleet.root / "approvers").write_text(line)
        (fleet.root / "hotswap.yaml").write_text(yaml.safe_dump({"environments": {
            "Development": {"approvals": 0}, "Staging": {"approvals": 1, "roles": ["lead"]},
            "Production": {"approvals": 2}}}))
        git(fleet.root, "add", "-A")
        git(fleet.root, "commit", "-q", "-m", "approvals for staging")
        ids = {}
        changes: list[tuple[str, dict[str, float]]] = [
            ("1.0.0", {}), ("1.1.0", {"errorRate": 0.5}), ("1.2.0", {"errorRate": 0.0, "latencyMs": 30})]
        for version, simulate in changes:
            fleet.set_simulate(**simulate)
            fleet.release(run, version, f"release {version}")
            approved = run("--repo", str(fleet.root), "approve", fleet.profile, version, env=alice)
            assert approved.exit_code == 0, approved.stderr
            result = run("--repo", str(fleet.root), "deploy", fleet.profile, version, "--yes")
            assert result.exit_code == (6 if version == "1.1.0" else 0), result.stderr
            ids[version] = read_records(GitRepo(fleet.root), fleet.profile)[0]["id"]
        yield Deploys(fleet, ids, run)
    finally:
        stop_instances(base / "demo")


def test_text_shows_timeline_verdict_numbers_approvals_and_the_diff(deploys: Deploys) -> None:
    result = deploys.show("1.1.0")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.startswith("deploy demo.staging 1.1.0: reverted\n"), out
    assert f"id           {deploys.ids['1.1.0']}" in out
    assert "status       reverted (exit 6)" in out
    assert "approved by  alice@example.com" in out
    assert "reason       health gate failed after phase 1 (canary 50%): demo-1: error rate" in out
    # each instance's states with their times: demo-1 pushed then reverted, demo-2 never touched
    row = next(line for line in out.splitlines() if line.startswith("  demo-1 "))
    assert re.search(r"staged \+\d+\.\ds → live \+\d+\.\ds → reverted \+\d+\.\ds", row), row
    assert next(line for line in out.splitlines() if line.startswith("  demo-2 ")).split()[1:3] == ["2", "pending"]
    # the verdict with its numbers: ~50% errors against a 0% baseline, over the 5pp threshold
    assert "verdict phase 1: FAIL (fail, confidence 99%)" in out
    figures = next(line for line in out.splitlines() if line.strip().startswith("demo-1") and "error_rate" in line)
    measured = re.search(r"fail\s+(\d+\.\d\d)% \((\d+)/(\d+)\)\s+0\.00% \(0/(\d+)\)\s+rise <= 5pp", figures)
    assert measured, figures
    assert 30 < float(measured[1]) < 70 and int(measured[3]) > 100 and int(measured[4]) > 100
    assert re.search(r"\+\d+\.\ds \d\d:\d\d:\d\d  phase 1 verdict: FAIL: demo-1: error rate", out), out
    assert re.search(r"\+\d+\.\ds \d\d:\d\d:\d\d  revert 1 instance\(s\): demo-1\n", out), out
    # what changed since the run before (1.0.0): the simulated error rate
    assert f"changes: 1.0.0 ({deploys.ids['1.0.0']}) -> 1.1.0: 1 change(s)" in out
    assert "  ~ $.simulate.errorRate: 0.0 → 0.5" in out


def test_a_passing_canary_shows_each_phase_s_numbers(deploys: Deploys) -> None:
    out = deploys.show("1.2.0").stdout
    assert out.startswith("deploy demo.staging 1.2.0: completed\n"), out
    assert re.search(r"  1  canary 50%\s+demo-1\s+0\.8s\s+pass\n  2  canary 100%\s+demo-2\s+0\.8s\s+pass", out), out
    assert out.count("verdict phase ") == 2
    # the error rate passes, and p99 is judged against the baseline's bucket (+50%)
    assert re.search(r"demo-1\s+error_rate\s+pass\s+0\.00% \(0/\d+\)", out), out
    assert re.search(r"demo-2\s+latency\s+pass\s+p99 \d+ms\s+p99 \d+ms \(\d+ requests\)\s+< 1% of requests over "
                     r"\d+ms \(\+50%\)", out), out
    # compared with the last run that completed (1.0.0), not the reverted 1.1.0
    assert f"changes: 1.0.0 ({deploys.ids['1.0.0']}) -> 1.2.0: 1 change(s)\n  ~ $.simulate.latencyMs: 35 → 30" in out
    first = deploys.show("1.0.0").stdout
    assert "changes: no completed deployment of this profile before this one" in first


def test_markdown_for_a_pr_comment(deploys: Deploys, tmp_path: Path) -> None:
    target = tmp_path / "summary.md"
    result = deploys.show("1.1.0", "--format", "markdown", "--output", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and f"wrote {target}" in result.stderr
    md = target.read_text()
    assert md.startswith("## ❌ deploy demo.staging 1.1.0: reverted\n")
    assert "| **approved by** | alice@example.com |" in md
    assert re.search(r"\| `demo-1` \| 1 \| reverted \| staged \+\d+\.\ds → live \+\d+\.\ds → reverted", md), md
    assert "**Phase 1: ❌ FAIL** (fail, confidence 99%)" in md
    assert re.search(r"\| `demo-1` \| error_rate \| ❌ fail \| \d+\.\d\d% \(\d+/\d+\) \| 0\.00% \(0/\d+\) \| "
                     r"rise <= 5pp \(measured \+\d+\.\d\.\.\+\d+\.\dpp\) \|", md), md
    assert "```diff\n- $.simulate.errorRate: 0.0\n+ $.simulate.errorRate: 0.5\n```" in md


def test_json_is_the_ledger_record_and_an_unknown_id_is_one_line(deploys: Deploys) -> None:
    data = json.loads(deploys.show("1.1.0", "--json").stdout)
    assert data == read_records(GitRepo(deploys.fleet.root), deploys.fleet.profile)[1]
    timeline = data["timeline"]
    assert set(timeline["samples"]) == {"demo-1"} and set(timeline["baseline_samples"]) == {"demo-1", "demo-2"}
    assert all(len(p) == 3 and 0.3 < p[1] < 0.7 for p in timeline["samples"]["demo-1"][1:])
    assert timeline["thresholds"]["demo-1"]["error_rate"] == pytest.approx(0.05, abs=0.01)
    # by a unique prefix, and in one profile's ledger only
    prefix = deploys.ids["1.1.0"][:14]
    assert deploys.show("1.1.0", "--profile", deploys.fleet.profile).exit_code == 0
    assert deploys.run("--repo", str(deploys.fleet.root), "deployments", "show", prefix).stdout.startswith(
        "deploy demo.staging 1.1.0: reverted")
    missing = deploys.run("--repo", str(deploys.fleet.root), "deployments", "show", "deploy-nope")
    assert (missing.exit_code, missing.stderr) == (1, "hotswap: error: no deployment 'deploy-nope' in the ledger\n")
    # the listing keeps its command line
    listing = deploys.run("--repo", str(deploys.fleet.root), "deployments", deploys.fleet.profile, "-n", "2")
    assert listing.exit_code == 0 and listing.stdout.split()[:7] == ["ID", "WHEN", "WHO", "VERSION", "STRATEGY",
                                                                     "STATUS", "REASON"]
    assert deploys.ids["1.2.0"] in listing.stdout and deploys.ids["1.0.0"] not in listing.stdout


def _png_size(png: Path) -> tuple[int, int]:
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_html_is_one_file_that_chromium_draws_with_charts_against_the_thresholds(deploys: Deploys,
                                                                                 tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = deploys.show("1.1.0", "--format", "html", "-o", str(page))
    assert result.exit_code == 0, result.stderr
    text = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//)|@import|url\(""", text)  # no external assets
    png = browser.screenshot(page, tmp_path / "report.png")
    assert _png_size(png) == (1200, 900) and png.stat().st_size > 40_000  # a drawn page, not a blank one
    dom = browser.dump_dom(page)
    # demo-1 (failed, reverted) charted first: error rate and p99 lines after its push, against the gate's lines
    cards = re.findall(r'<div class="card( fail)?" data-instance="([^"]+)"', dom)
    assert cards == [(" fail", "demo-1"), ("", "demo-2")], cards
    first = dom[dom.index('data-instance="demo-1"'):dom.index('data-instance="demo-2"')]
    assert first.count("<svg") == 2 and first.count('class="series after"') == 2
    assert first.count('class="threshold"') == 2 and "threshold 5" in first  # 0% baseline + 5pp
    assert 'class="mark-live"' in first and 'class="mark-reverted"' in first
    points = [tuple(map(float, xy.split(","))) for xy in
              re.search(r'<polyline class="series after" points="([^"]+)"', first)[1].split()]  # type: ignore[index]
    assert len(points) >= 2 and all(58 <= x <= 526 and 34 <= y <= 172 for x, y in points)
    second = dom[dom.index('data-instance="demo-2"'):]
    assert 'class="series before"' in second and 'class="series after"' not in second.split("</svg>")[0]
    assert "<h2>Verdict, phase 1:" in dom and "alice@example.com" in dom and "$.simulate.errorRate" in dom


def test_the_timeline_stays_small_and_keeps_the_worst_sample() -> None:
    from hotswap_cli.model import HealthPolicy
    from hotswap_cli.ops.timeline import MIN_POINTS, Timeline
    from hotswap_cli.runner.events import DeployStarted, HealthSampled, InstanceState

    timeline = Timeline(HealthPolicy(error_rate_pp=2))
    timeline.emit(DeployStarted(1000.0, "web", "1.0.0", "canary", 3, 2000))  # a fleet of 2,000: the least share
    for i in range(20_000):  # a long bake: 20,000 looks at 3 instances
        for name in ("web-1", "web-2", "web-3"):
            spike = name == "web-2" and i == 12_345
            timeline.emit(HealthSampled(1000.0 + i, name, "metrics", error_rate=0.9 if spike else 0.01,
                                        p99_ms=40.0 + i % 5, baseline=i < 100, requests=100, errors=1))
    for i in range(100):  # a flapping instance's states are capped; how it ended is kept
        timeline.emit(InstanceState(5000.0 + i, "web-1", "live" if i % 2 else "staged"))
    timeline.emit(InstanceState(6000.0, "web-1", "reverted", "health gate failed"))
    record = timeline.to_record()
    assert all(len(s) <= MIN_POINTS // 2 for s in record["samples"].values())
    assert all(len(s) <= MIN_POINTS // 2 for s in record["baseline_samples"].values())
    assert max(p[1] for p in record["samples"]["web-2"]) == 0.9  # folded in, not averaged away
    assert max(p[1] for p in record["samples"]["web-1"]) == 0.01
    assert record["folded"]["web-1"] >= 20_000 // MIN_POINTS
    assert record["states"]["web-1"][-1] == [5000.0, "reverted", "health gate failed"]
    assert len(record["states"]["web-1"]) <= 40
    # without a verdict, the threshold is the policy's margin over the measured baseline
    assert record["thresholds"]["web-3"] == {"baseline_rate": 0.01, "error_rate": 0.03}
    assert len(json.dumps(record)) < 5_000
    from hotswap_cli.cli.report import render_text
    from hotswap_cli.core.deploy.report import Report

    shown = render_text(Report({"id": "deploy-1", "profile": "web", "timeline": record}, None, None, "", (), (), (),
                               (), 0.0))
    assert "gate         error rate <= baseline +2pp, p99 <= baseline +50%, failed checks <= 10%; confidence 99%, " \
           "a look every 30s\n" in shown


def test_a_record_without_a_timeline_still_reports() -> None:
    from hotswap_cli.cli.report import render
    from hotswap_cli.core.deploy.report import Report, health_series, instance_lines, verdict_lines

    record = {"id": "deploy-1", "kind": "deploy", "profile": "web", "version": "1.0.0", "status": "completed",
              "exit_code": 0, "started_at": "2026-01-01T10:00:00Z", "finished_at": "2026-01-01T10:00:30Z",
              "approvals": [], "phases": [], "verdicts": [],
              "instances": [{"instance": "web-1", "state": "healthy", "phase": 1, "touched": True,
                             "started_at": "2026-01-01T10:00:02Z", "finished_at": "2026-01-01T10:00:03Z"}]}
    report = Report(record, None, None, "no completed deployment before this one", instance_lines(record),
                    verdict_lines(record), health_series(record), (), 30.0)
    text = render(report, "text")
    assert "  web-1     1      healthy  started +2.0s → healthy +3.0s" in text
    assert "approved by  nobody (no approvals required or recorded)" in text
    assert "<h2>Health</h2>" not in render(report, "html")
    assert "| `web-1` | 1 | healthy | started +2.0s → healthy +3.0s |" in render(report, "markdown")
