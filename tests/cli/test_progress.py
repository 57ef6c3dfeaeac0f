"""The human progress view answers "where are we": log lines without a terminal (phase k/n, one
line per look during a bake with the figures beside baseline and limit, the numbers at each
verdict), a live table on one (countdown, Ctrl-C hint, a summary row for a big fleet), and a real
canary deploy's stderr through the CLI."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hotswap_cli.cli.progress import Progress, fmt_span
from hotswap_cli.model import HealthPolicy, Phase, Plan
from hotswap_cli.runner.events import (
    BakeExtended,
    BakeStarted,
    ControlReceived,
    DeployFinished,
    DeployStarted,
    HealthSampled,
    InstanceState,
    PhasePaused,
    PhaseStarted,
    VerdictReached,
)
from hotswap_cli.runner.gate import Tally, evaluate
from hotswap_cli.specs import LocalSpec, Target

POLICY = HealthPolicy(interval=10, error_rate_pp=1.0, p99_increase_pct=20)


def plan_of(names: list[str], sizes: tuple[int, ...] = (1, 3, 5, 10), bake: float = 30) -> Plan:
    """A canary plan over `names`, cumulative phase sizes as given."""
    phases, done = [], 0
    for n, size in enumerate(sizes, start=1):
        targets = tuple(Target(name, LocalSpec(path=f"/fake/{name}")) for name in names[done:size])
        phases.append(Phase(n, f"canary {size}", targets, bake=bake))
        done = size
    return Plan("svc", "1.1.0", "canary", tuple(phases), POLICY)


def progress_for(plan: Plan, **kw: Any) -> Progress:
    return Progress([(t.name, p.number) for p in plan.phases for t in p.targets], color=False, plan=plan, **kw)


def sample(at: float, name: str, requests: float, errors: float, p99: float | None = None, *,
           baseline: bool = False, probe: str = "metrics", ok: bool | None = None) -> HealthSampled:
    return HealthSampled(at, name, probe, ok=ok, error_rate=errors / requests if requests else None, p99_ms=p99,
                         baseline=baseline, requests=requests, errors=errors)


def stderr_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Lines without their `[   12.0s] ` prefix."""
    return [re.sub(r"^\[\s*[\d.]+s\] ", "", line) for line in capsys.readouterr().err.splitlines()]


def push(p: Progress, at: float, phase: int, names: list[str], base: tuple[float, float, float]) -> None:
    """Phase `phase` starts: its instances' baseline, their push, and the sample that spans the push."""
    p.emit(PhaseStarted(at, phase, f"canary {phase}", tuple(names)))
    for name in names:
        p.emit(sample(at, name, *base, baseline=True))
        p.emit(InstanceState(at + 1, name, "live"))
        p.emit(sample(at + 1, name, 1000, 900, 900))  # old and new mixed: counted nowhere


def test_log_lines_say_phase_k_of_n_and_one_line_per_look_with_baseline_and_limit(
        capsys: pytest.CaptureFixture[str]) -> None:
    names = [f"web-{i}" for i in range(1, 11)]
    p = progress_for(plan_of(names), live=False)
    p.emit(DeployStarted(100.0, "svc", "1.1.0", "canary", 4, 10))
    push(p, 100.0, 1, ["web-1"], (1000, 3, 110))
    assert (p.rows["web-1"].rate, p.rows["web-1"].p99_ms) == (None, None)  # the push's sample shows nothing
    p.emit(BakeStarted(102.0, 1, 30, 10, 1))
    p.emit(sample(112.0, "web-1", 1000, 5, 120))
    lines = stderr_lines(capsys)
    assert lines[0] == ("deploying 1.1.0 to svc: canary, 4 phase(s), 10 instance(s) "
                        "(Ctrl-C reverts what this run changed)")
    assert "phase 1: canary 1 (deploy) -> web-1 [1/4]" in lines
    assert "phase 1/4: baking 30s, sampling every 10s (1 instance(s))" in lines
    # the window's rate (5/1000: the push's own sample is left out, as the gate leaves it out), the
    # baseline's (3/1000) and baseline + 1pp; p99 beside the baseline's and baseline x 1.2
    assert lines[-1] == ("phase 1/4 bake 10s/30s: 1 live, err 0.50% (base 0.30%, limit 1.3%), "
                         "p99 120ms (base 110ms, limit 132ms)")


def test_a_look_is_one_line_and_names_only_the_instances_doing_worse_than_their_baseline(
        capsys: pytest.CaptureFixture[str]) -> None:
    names = [f"web-{i}" for i in range(1, 11)]
    p = progress_for(plan_of(names), live=False)
    p.emit(DeployStarted(0.0, "svc", "1.1.0", "canary", 4, 10))
    push(p, 0.0, 1, ["web-1"], (1000, 0, 100))
    p.emit(InstanceState(1.5, "web-1", "healthy"))
    push(p, 2.0, 2, ["web-2", "web-3"], (1000, 0, 100))
    p.emit(BakeStarted(4.0, 2, 30, 10, 3))
    capsys.readouterr()
    p.emit(sample(14.0, "web-1", 1000, 1, 101))
    p.emit(sample(14.0, "web-2", 1000, 9, 100))  # +0.9pp: more than half-way to the 1pp limit
    assert stderr_lines(capsys) == []  # web-3 has not reported yet: the look is not over
    p.emit(sample(14.1, "web-3", 1000, 0, 150))  # p99 past 120ms
    assert stderr_lines(capsys) == [
        "phase 2/4 bake 10s/30s: 3 live, err 0.33% (base 0.00%, limit 1.0%), p99 117ms (base 100ms, limit 120ms)",
        "  web-3: err 0.00% (base 0.00%, limit 1.0%), p99 150ms (base 100ms, limit 120ms)",
        "  web-2: err 0.90% (base 0.00%, limit 1.0%), p99 100ms (base 100ms, limit 120ms)",
    ]


def test_an_instance_with_two_probes_ends_the_look_when_both_reported(capsys: pytest.CaptureFixture[str]) -> None:
    p = progress_for(plan_of(["a", "b"], sizes=(1, 2)), live=False)
    p.emit(PhaseStarted(0.0, 1, "canary 1", ("a",)))
    p.emit(InstanceState(0.0, "a", "live"))
    p.emit(sample(0.0, "a", 0, 0, probe="metrics"))
    p.emit(sample(0.0, "a", 0, 0, probe="http", ok=True))
    p.emit(BakeStarted(0.0, 1, 3, 1, 1))
    capsys.readouterr()
    p.emit(sample(1.0, "a", 100, 0, probe="metrics"))
    assert stderr_lines(capsys) == []
    p.emit(sample(1.0, "a", 0, 0, probe="http", ok=False))
    assert stderr_lines(capsys) == ["phase 1/2 bake 1s/3s: 1 live, err 0.00% (base 0.00%, limit 1.0%), "
                                    "checks 1/2 failed",
                                    "  a: err 0.00% (base 0.00%, limit 1.0%), checks 1/2 failed"]
    # a look that lost a sample: the next look's first sample closes it
    p.emit(sample(2.0, "a", 100, 0, probe="metrics"))
    p.emit(sample(3.0, "a", 100, 0, probe="metrics"))
    assert stderr_lines(capsys)[0].startswith("phase 1/2 bake 2s/3s: 1 live")


def tally(requests: float, errors: float, p99_bucket: float) -> Tally:
    """Counts with a latency histogram whose p99 falls in the bucket <= `p99_bucket` seconds."""
    return Tally(requests=requests, errors=errors, samples=5, measured=5,
                 buckets=((0.05, requests * 0.98), (p99_bucket, requests), (2 * p99_bucket, requests),
                          (float("inf"), requests)))


def test_each_verdict_shows_the_numbers_that_passed_and_the_gates_limits(capsys: pytest.CaptureFixture[str]) -> None:
    p = progress_for(plan_of(["web-1", "web-2"], sizes=(1, 2)), live=False)
    base = {"web-1": tally(20000, 20, 0.1), "web-2": tally(20000, 40, 0.1)}
    window = {"web-1": tally(20000, 30, 0.1), "web-2": tally(20000, 40, 0.1)}
    verdict = evaluate(base, window, POLICY)
    assert verdict.ok
    p.emit(VerdictReached(50.0, 2, True, verdict))
    head, numbers = stderr_lines(capsys)
    assert head.startswith("health gate phase 2: pass: 2 instance(s) healthy: error-rate rise <= ")
    # the latency limit is the gate's: the top of the baseline p99's bucket (100ms) + 20%
    assert re.fullmatch(r"phase 2 passed: web-1 err 0\.15%/limit 1\.1% p99 \d+ms/limit 120ms; "
                        r"web-2 err 0\.20%/limit 1\.2% p99 \d+ms/limit 120ms", numbers), numbers
    assert p.rows["web-1"].p99_limit(POLICY) == pytest.approx(120)  # the table takes the gate's limit


def test_pauses_and_controls_say_how_the_run_goes_on(capsys: pytest.CaptureFixture[str]) -> None:
    p = progress_for(plan_of(["a", "b"], sizes=(1, 2)), live=False)
    p.emit(PhasePaused(10.0, 1, "pause step", until=600.0))
    p.emit(PhasePaused(20.0, 1, "", until=None))
    p.emit(ControlReceived(30.0, "promote", "alice@ci-7"))
    p.emit(BakeExtended(40.0, 2, 30.0, "inconclusive: b: error rate ..."))
    p.emit(DeployFinished(50.0, "completed", 0, ""))
    assert stderr_lines(capsys) == [
        "phase 1/2 paused: pause step; resumes by itself in 10m00s, or sooner with `hotswap resume` "
        "(`hotswap abort` reverts)",
        "phase 1/2 paused; waiting for `hotswap resume` or `hotswap promote` (`hotswap abort` reverts)",
        "promote received from alice@ci-7",
        "phase 2: the evidence is inconclusive, baking up to 30s more: inconclusive: b: error rate ...",
        "deploy completed",
    ]


@pytest.mark.parametrize(("seconds", "text"), [(0.25, "0.25s"), (8, "8s"), (8.04, "8s"), (12.4, "12s"),
                                               (245, "4m05s"), (3720, "1h02m"), (-3, "0s")])
def test_spans_read_at_a_glance(seconds: float, text: str) -> None:
    assert fmt_span(seconds) == text


# -- the live table ----------------------------------------------------------------------------


class Now:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def terminal() -> tuple[Any, io.StringIO]:
    from rich.console import Console

    out = io.StringIO()
    return Console(file=out, force_terminal=True, no_color=True, width=140, height=60), out


def last_frame(out: io.StringIO) -> str:
    """What the terminal shows at the end: the live display's last drawing (title line onwards)."""
    lines = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue()).splitlines()
    header = max(n for n, line in enumerate(lines) if line.startswith("INSTANCE"))
    return "\n".join(lines[header - 1:])


@pytest.fixture
def big_fleet() -> Iterator[tuple[Progress, Now, io.StringIO]]:
    names = [f"web-{i:02d}" for i in range(1, 46)]
    console, out = terminal()
    now = Now(0.0)
    p = progress_for(plan_of(names, sizes=(5, 14, 23, 45)), console=console, clock=now)
    try:
        yield p, now, out
    finally:
        p.close()


def test_a_big_fleet_on_a_terminal_shows_the_interesting_rows_and_a_summary_row(
        big_fleet: tuple[Progress, Now, io.StringIO]) -> None:
    p, now, out = big_fleet
    names = [f"web-{i:02d}" for i in range(1, 46)]
    p.emit(DeployStarted(0.0, "svc", "1.1.0", "canary", 4, 45))
    for n, upto, first in ((1, 5, 0), (2, 14, 5)):
        push(p, 10.0 * n, n, names[first:upto], (1000, 0, 100))
        p.emit(BakeStarted(10.0 * n + 2, n, 30, 10, upto))
        for name in names[:upto]:
            p.emit(sample(10.0 * n + 5, name, 1000, 0, 100))
        if n == 1:
            for name in names[:upto]:
                p.emit(InstanceState(10.0 * n + 6, name, "healthy"))
    p.emit(InstanceState(26.0, "web-12", "failed", "reload: nginx: [emerg] bad directive"))
    p.emit(sample(27.0, "web-09", 1000, 50, 100))  # 5% errors, 1pp allowed
    p.emit(PhaseStarted(28.0, 3, "canary 23", tuple(names[14:23])))
    for name in names[14:17]:
        p.emit(InstanceState(29.0, name, "staged"))
    p.emit(ControlReceived(29.5, "resume", "bob"))  # printed above the table, which is drawn again below it
    assert "resume received from bob" in out.getvalue()
    assert "[/]" not in out.getvalue()  # the table's own markup is not printed as text
    now.t = 30.0
    p.close()
    frame = last_frame(out)
    lines = frame.splitlines()
    assert "phase 3/4: canary 23 · 30s elapsed" in frame
    assert "Ctrl-C reverts what this run changed" in frame
    # failing first, then the instance past its limit, then those in motion; then the rest, counted
    shown = [line.split()[0] for line in lines if line.startswith("web-")]
    assert shown[:2] == ["web-12", "web-09"]
    assert set(shown[2:5]) == {"web-15", "web-16", "web-17"}
    assert len(shown) == 10, frame
    assert "bad directive" in frame
    assert re.search(r"… and 35 more\s+5 healthy, 2 live, 28 pending", frame), frame
    assert re.search(r"45 instances\s+28 pending · 3 staged · 8 live · 5 healthy · 1 failed", frame), frame
    web09 = next(line for line in lines if line.startswith("web-09"))
    assert re.search(r"2\.5%\s+0\.00%/1\.0%\s+100ms\s+100ms/120ms", web09), web09  # 50 of 2000 requests


def test_the_title_counts_the_bake_down(big_fleet: tuple[Progress, Now, io.StringIO]) -> None:
    p, now, out = big_fleet
    p.emit(DeployStarted(0.0, "svc", "1.1.0", "canary", 4, 45))
    p.emit(PhaseStarted(1.0, 1, "canary 5", ("web-01",)))
    p.emit(BakeStarted(60.0, 1, 300, 30, 1))
    now.t = 72.4
    assert p._title(now.t) == "phase 1/4: canary 5 · baking 12s of 5m00s, 4m48s left · 1m12s elapsed"
    p.emit(BakeExtended(360.0, 1, 300, "inconclusive"))
    assert p._title(400.0) == ("phase 1/4: canary 5 · baking 5m40s of 5m00s (extended: inconclusive), "
                               "4m20s left · 6m40s elapsed")
    p.emit(PhasePaused(700.0, 1, "pause step", until=600.0))
    assert p._title(1000.0) == "phase 1/4: canary 5 · paused: pause step, resumes in 5m00s · 16m40s elapsed"


def test_a_small_fleet_shows_every_row() -> None:
    console, out = terminal()
    p = progress_for(plan_of([f"web-{i}" for i in range(1, 13)], sizes=(1, 4, 6, 12)), console=console,
                     clock=Now(0.0))
    p.close()
    frame = last_frame(out)
    assert [line.split()[0] for line in frame.splitlines() if line.startswith("web-")] == \
        [f"web-{i}" for i in range(1, 13)]
    assert "more" not in frame and "instances" not in frame


# -- a real canary deploy, its stderr without a terminal ----------------------------------------


@pytest.fixture
def demo_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The `hotswap demo` repo over 4 demo instances (one process), canary 25/50/75/100."""
    from hotswap_cli.core.secrets.crypto import DEMO_SECRET_KEY
    from hotswap_cli.demo.instances import start_instances, stop_instances
    from hotswap_cli.demo.scenario import PROFILE, commit, make_repo

    monkeypatch.setenv("HOTSWAP_SECRET_KEY", DEMO_SECRET_KEY)
    instances = start_instances(4, tmp_path / "demo", per_process=4)
    try:
        repo = make_repo(tmp_path / "repo", instances, bake="0.75s", interval="0.25s")
        profile_file = repo / "profiles" / PROFILE / "profile.yaml"
        profile = yaml.safe_load(profile_file.read_text())
        profile["strategy"]["steps"] = [25, 50, 75, 100]
        profile["health"]["baseline"] = "1s"  # enough requests for the gate to judge p99
        profile_file.write_text(yaml.safe_dump(profile, sort_keys=False))
        commit(repo, "canary in four steps")
        yield repo
    finally:
        stop_instances(tmp_path / "demo")


def test_a_canary_deploy_without_a_terminal_logs_where_it_is(demo_repo: Path, cli: Callable[..., Any]) -> None:
    from hotswap_cli.demo.scenario import PROFILE

    assert cli("--repo", str(demo_repo), "release", PROFILE, "1.0.0", "-m", "first").exit_code == 0
    result = cli("--repo", str(demo_repo), "deploy", PROFILE, "--yes")
    assert result.exit_code == 0, result.stderr
    err = result.stderr
    assert "(Ctrl-C reverts what this run changed)" in err
    assert "phase 1: canary 25% (deploy) -> demo-1 [1/4]" in err
    for phase in range(1, 5):
        # a line per look with the figures beside baseline and limit
        assert re.search(rf"phase {phase}/4 bake [\d.]+s/0.75s: {phase} live, err [\d.]+% \(base [\d.]+%, "
                         rf"limit [\d.]+%\), p99 \d+ms \(base \d+ms, limit \d+ms\), checks \d+/\d+ failed", err), err
        # and the passing numbers at the verdict
        passed = re.search(rf"phase {phase} passed: (.*)", err)
        assert passed, err
        assert len(re.findall(r"demo-\d err [\d.]+%/limit [\d.]+% p99 \d+ms/limit \d+ms checks \d+/\d+ failed",
                              passed.group(1))) == phase
