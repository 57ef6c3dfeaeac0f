"""The health gate as a pure function: one row per rule, with the numbers it reports."""

from __future__ import annotations

import json

import pytest

from hotswap_cli.model import HealthPolicy
from hotswap_cli.probes.base import HealthSample
from hotswap_cli.runner.gate import evaluate


def m(err: float | None = None, p99: float | None = None) -> HealthSample:
    return HealthSample("web-1", "metrics", 0.0, error_rate=err, p99_ms=p99)


def check(ok: bool, probe: str = "http", detail: str = "") -> HealthSample:
    return HealthSample("web-1", probe, 0.0, ok=ok, detail=detail)


def nodata(detail: str = "no traffic") -> HealthSample:
    return HealthSample("web-1", "metrics", 0.0, no_data=True, detail=detail)


DEFAULT = HealthPolicy()

CASES = [
    # id, baseline, window, policy, ok, reason fragment (failing) or note fragment (passing)
    (
        "spec example 1.5% -> 7.0% is +5.5pp",
        [m(0.015)],
        [m(0.07)],
        DEFAULT,
        False,
        "error rate 7.0% vs baseline 1.5% (+5.5pp > 5pp)",
    ),
    ("exactly +5pp passes (more than)", [m(0.015)], [m(0.065)], DEFAULT, True, ""),
    (
        "baseline 0 no division",
        [m(0.0)],
        [m(0.06)],
        DEFAULT,
        False,
        "error rate 6.0% vs baseline 0.0% (+6.0pp > 5pp)",
    ),
    ("22% vs 1%", [m(0.01)], [m(0.22)], DEFAULT, False, "error rate 22.0% vs baseline 1.0% (+21.0pp > 5pp)"),
    ("mean over the window", [m(0.01)], [m(0.02), m(0.14)], DEFAULT, False, "error rate 8.0%"),
    ("lower error rate is fine", [m(0.2)], [m(0.01)], DEFAULT, True, ""),
    ("threshold from policy", [m(0.01)], [m(0.03)], HealthPolicy(error_rate_pp=1), False, "(+2.0pp > 1pp)"),
    (
        "p99 200 -> 350 is +75%",
        [m(p99=200)],
        [m(p99=350)],
        DEFAULT,
        False,
        "p99 350ms vs baseline 200ms (+75% > 50%)",
    ),
    ("p99 200 -> 300 is +50% exactly", [m(p99=200)], [m(p99=300)], DEFAULT, True, ""),
    ("p99 baseline 0 not gated", [m(p99=0)], [m(p99=900)], DEFAULT, True, "no p99 baseline"),
    ("no error-rate baseline compares with 0", [nodata()], [m(0.07)], DEFAULT, False, "+7.0pp > 5pp"),
    ("1 of 10 checks failing is 10%: passes", [], [check(True)] * 9 + [check(False)], DEFAULT, True, ""),
    (
        "2 of 10 checks failing",
        [],
        [check(False, detail="HTTP 503")] * 2 + [check(True)] * 8,
        DEFAULT,
        False,
        "2/10 health checks failed (20% > 10%): HTTP 503",
    ),
    (
        "custom check failing last",
        [],
        [check(True, "command")] * 19 + [check(False, "command", "exit 2")],
        DEFAULT,
        False,
        "custom check (command) failing: exit 2",
    ),
    (
        "custom check recovered",
        [],
        [check(False, "command")] + [check(True, "command")] * 19,
        DEFAULT,
        True,
        "",
    ),
    ("no data fails", [m(0.01)], [nodata("endpoint 404")], DEFAULT, False, "no health data (endpoint 404)"),
    (
        "no data passes by policy",
        [m(0.01)],
        [nodata()],
        HealthPolicy(on_no_data="pass"),
        True,
        "passed by on_no_data: pass",
    ),
    ("no probes passes", [], [], DEFAULT, True, "no probes"),
    (
        "two rules at once",
        [m(0.01, 100)],
        [m(0.5, 1000)],
        DEFAULT,
        False,
        "p99 1000ms vs baseline 100ms (+900% > 50%)",
    ),
]


@pytest.mark.parametrize(
    ("baseline", "window", "policy", "ok", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_gate(
    baseline: list[HealthSample], window: list[HealthSample], policy: HealthPolicy, ok: bool, text: str
) -> None:
    verdict = evaluate({"web-1": baseline}, {"web-1": window}, policy)
    [inst] = verdict.instances
    assert verdict.ok is ok and inst.ok is ok
    if not ok:
        assert any(text in r for r in inst.reasons), inst.reasons
        assert text in verdict.summary() and verdict.summary().startswith("web-1: ")
    elif text:
        assert any(text in n for n in inst.notes), inst.notes
    else:
        assert inst.reasons == ()


def test_each_instance_is_judged_against_its_own_baseline() -> None:
    baseline = {"a": [m(0.30)], "b": [m(0.01)]}
    window = {"a": [m(0.31)], "b": [m(0.10)]}
    verdict = evaluate(baseline, window, DEFAULT)
    assert [i.instance for i in verdict.failures] == ["b"]
    a = verdict.instances[0]
    assert (a.error_rate, a.baseline_error_rate) == (0.31, 0.30)


def test_verdict_serialises_with_the_measured_numbers() -> None:
    verdict = evaluate({"web-1": [m(0.01, 100), check(True)]}, {"web-1": [m(0.22, 120), check(False)]}, DEFAULT)
    data = json.loads(json.dumps(verdict.to_dict()))
    assert data["ok"] is False
    [inst] = data["instances"]
    assert inst["error_rate"] == 0.22 and inst["baseline_error_rate"] == 0.01
    assert inst["checks_failed"] == 1 and inst["checks_total"] == 1
    assert "+21.0pp" in data["summary"]
