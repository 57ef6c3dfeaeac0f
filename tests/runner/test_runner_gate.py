"""The health gate as a pure function of counts: one row per rule and boundary, with the numbers it reports."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import pytest

from hotswap_cli.model import HealthPolicy
from hotswap_cli.probes.base import HealthSample
from hotswap_cli.runner.gate import Tally, Verdict, evaluate

INF = float("inf")
M = 10_000_000  # enough requests that the bounds are tight: the threshold itself decides


def traffic(errors: float, requests: float) -> Tally:
    return Tally(requests=requests, errors=errors, samples=1, measured=1)


def checks(failed: int, total: int, *, streak: int | None = None, first: str = "HTTP 503") -> Tally:
    return Tally(checks=total, failed=failed, streak=failed if streak is None else streak, samples=total,
                 measured=total, first_failure=first if failed else "")


def latency(n: float, slow_share: float, p99_bound: float = 0.1) -> Tally:
    """A histogram of n requests whose p99 sits at `p99_bound` (99% at or under it) with
    `slow_share` of them beyond 1.5x that bound."""
    at_p99 = n * 0.99
    slow = n * slow_share
    buckets = ((p99_bound, at_p99), (p99_bound * 1.5, n - slow), (p99_bound * 10, n), (INF, n))
    return Tally(buckets=buckets, samples=1, measured=1)


def nodata(why: str = "endpoint 404") -> Tally:
    return Tally(samples=1, no_data=why)


@dataclass(frozen=True)
class Row:
    id: str
    baseline: Tally
    window: Tally
    outcome: str  # pass | fail | inconclusive
    text: str = ""  # in the failing or undecided finding, or in a note
    policy: HealthPolicy = field(default_factory=HealthPolicy)
    closing: bool = True


ROWS = [
    # -- error rate: the rise against error_rate_pp, on conclusive evidence only -------------------
    Row("far over: 1% -> 22%", traffic(100, 10_000), traffic(2200, 10_000), "fail",
        "error rate 22.0% (2200/10000 requests) vs baseline 1.0% (100/10000): rise >= +"),
    Row("just over the threshold: +5.5pp", traffic(0.01 * M, M), traffic(0.065 * M, M), "fail", "> 5pp"),
    Row("at the threshold: +5.0pp is never conclusive", traffic(0.01 * M, M), traffic(0.06 * M, M), "inconclusive",
        "undecided at 5pp"),
    Row("just under the threshold: +4.5pp", traffic(0.01 * M, M), traffic(0.055 * M, M), "pass"),
    Row("one error in one request is not evidence", traffic(1, 200), traffic(1, 1), "inconclusive",
        "error rate 100.0% (1/1 requests)"),
    Row("spec example 1.5% -> 7.0%: too few requests to tell", traffic(3, 200), traffic(7, 100), "inconclusive"),
    Row("spec example 1.5% -> 7.0% on real traffic", traffic(0.015 * M, M), traffic(0.07 * M, M), "fail",
        "error rate 7.0%"),
    Row("a lower error rate passes", traffic(2000, 10_000), traffic(100, 10_000), "pass"),
    Row("threshold from the policy", traffic(100, 10_000), traffic(400, 10_000), "fail", "> 1pp",
        HealthPolicy(error_rate_pp=1)),
    Row("no error-rate baseline: compared with 0%", nodata(), traffic(700, 10_000), "fail",
        "error rate 7.0% (700/10000 requests) vs 0%"),
    Row("zero traffic in the window: the rule has nothing to judge", traffic(10, 1000),
        Tally(samples=3, measured=3, checks=3), "pass"),
    # -- latency: more than 1% of requests slower than 1.5x the baseline p99 ----------------------
    Row("p99 4x the baseline", latency(10_000, 0.0), latency(10_000, 0.3), "fail",
        "vs baseline 100ms (bucket <= 100ms): 30.0% of 10000 requests slower than 150ms (+50%), >="),
    Row("p99 unchanged", latency(10_000, 0.0), latency(10_000, 0.0), "pass"),
    Row("p99 exactly +50% does not fail", latency(M, 0.0), latency(M, 0.01), "pass"),
    Row("p99 far over on few requests does not fail", latency(10_000, 0.0), latency(20, 0.1), "pass"),
    Row("p99 on a thin baseline is not judged", replace(latency(150, 0.0), requests=150, errors=1),
        replace(latency(10_000, 0.3), requests=10_000, errors=60), "pass",
        "p99 not judged: the baseline has 150 request(s), it needs 1000"),
    # -- checks: failures over failed_checks_pct on conclusive evidence; never hold a phase back ----
    Row("one failed check in one is not evidence", Tally(), checks(1, 1), "pass"),
    Row("2 of 10 failing is not conclusively over 10%", Tally(), checks(2, 10), "pass"),
    Row("every check failing", Tally(), checks(6, 6), "fail", "6/6 health checks failed (100%, >= "),
    Row("fewer checks than min_checks cannot fail", Tally(), checks(5, 5), "pass", "",
        HealthPolicy(min_checks=6)),
    Row("a flapping baseline raises the bar", checks(40, 100), checks(15, 30), "pass"),
    Row("the same failures on a steady baseline fail", checks(0, 100), checks(15, 30), "fail", "15/30"),
    Row("one flaky check in a short baseline raises no bar", checks(1, 2), checks(6, 6), "fail", "> 10%): HTTP 503"),
    Row("failure_limit: 0 fails at the first failure (Argo's default)", Tally(), checks(1, 10, streak=0), "fail",
        "1/10 health checks failed, more than failure_limit 0: HTTP 503", HealthPolicy(failure_limit=0)),
    Row("consecutive: 3 failures in a row", Tally(), checks(3, 12), "fail",
        "3 health checks failed in a row (consecutive: 3)", HealthPolicy(consecutive=3)),
    Row("consecutive: 3 with the streak broken", Tally(), checks(3, 12, streak=2), "pass", "",
        HealthPolicy(consecutive=3)),
    # -- no data --------------------------------------------------------------------------------
    Row("no data at the end of the bake fails", traffic(10, 1000), nodata("endpoint 404"), "fail",
        "no health data (endpoint 404)"),
    Row("no data passes by policy", traffic(10, 1000), nodata(), "pass", "passed by on_no_data: pass",
        HealthPolicy(on_no_data="pass")),
    Row("no data during the bake waits for some", traffic(10, 1000), nodata(), "inconclusive",
        "no health data (endpoint 404) yet", closing=False),
    Row("no probes passes", Tally(), Tally(), "pass", "no probes"),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_gate(row: Row) -> None:
    verdict = evaluate({"web-1": row.baseline}, {"web-1": row.window}, row.policy, closing=row.closing)
    [inst] = verdict.instances
    assert (inst.outcome, verdict.outcome) == (row.outcome, row.outcome), inst.findings
    assert verdict.ok is (row.outcome == "pass")
    if row.outcome == "fail":
        assert any(row.text in r for r in inst.reasons), inst.reasons
        assert row.text in verdict.summary() and verdict.summary().startswith("web-1: ")
    elif row.outcome == "inconclusive":
        assert any(row.text in u for u in inst.undecided), inst.undecided
        assert verdict.summary().startswith("inconclusive: web-1: ")
    else:
        assert inst.reasons == () and inst.undecided == ()
        if row.text:
            assert any(row.text in n for n in inst.notes), inst.notes


def test_each_instance_is_judged_against_its_own_baseline() -> None:
    baseline = {"a": traffic(3000, 10_000), "b": traffic(100, 10_000)}
    window = {"a": traffic(3100, 10_000), "b": traffic(1000, 10_000)}
    verdict = evaluate(baseline, window, HealthPolicy())
    assert [i.instance for i in verdict.failures] == ["b"]
    a = verdict.instances[0].finding("error_rate")
    assert a is not None and a.outcome == "pass"
    assert (a.figures["rate"], a.figures["baseline_rate"]) == (0.31, 0.30)


def test_a_larger_fleet_needs_more_evidence_for_the_same_verdict() -> None:
    """The error budget is shared by every instance of the deploy: 5 failed checks in a row are
    conclusive for a fleet of 1, not for one instance among 10,000."""
    one = evaluate({"a": Tally()}, {"a": checks(5, 5)}, HealthPolicy(), population=1)
    many = evaluate({"a": Tally()}, {"a": checks(5, 5)}, HealthPolicy(), population=10_000)
    assert one.outcome == "fail" and many.outcome == "pass"
    stricter = evaluate({"a": Tally()}, {"a": checks(5, 5)}, HealthPolicy(confidence=0.9999), population=1)
    assert stricter.outcome == "pass"


def test_fail_outweighs_inconclusive_and_inconclusive_outweighs_pass() -> None:
    baseline = {n: traffic(10, 1000) for n in "abc"}
    window = {"a": traffic(10, 1000), "b": traffic(1, 2), "c": traffic(900, 1000)}
    assert evaluate(baseline, window, HealthPolicy()).outcome == "fail"
    del window["c"]
    undecided = evaluate(baseline, window, HealthPolicy())
    assert undecided.outcome == "inconclusive" and not undecided.ok
    settled = undecided.settle(True, "on_inconclusive: pass")
    assert settled.ok and settled.outcome == "inconclusive"
    assert settled.summary().endswith("[on_inconclusive: pass]")


def test_a_passing_verdict_shows_its_worst_figures() -> None:
    baseline = {"a": traffic(10, 10_000), "b": traffic(10, 10_000)}
    window = {"a": traffic(12, 10_000), "b": traffic(90, 10_000)}
    summary = evaluate(baseline, window, HealthPolicy()).summary()
    assert summary.startswith("2 instance(s) healthy: error-rate rise <= +"), summary
    assert "pp (worst b: 90/10000 vs 10/10000 requests)" in summary


def test_tally_sums_samples_the_way_the_gate_reads_them() -> None:
    samples = [
        HealthSample("a", "metrics", 0.0, no_data=True, detail="first scrape: rates need a second one"),
        HealthSample("a", "metrics", 1.0, requests=100, errors=2, buckets=((0.1, 90.0), (INF, 100.0))),
        HealthSample("a", "http", 1.0, ok=False, detail="HTTP 503"),
        HealthSample("a", "metrics", 2.0, requests=50, errors=60, buckets=((0.1, 50.0), (INF, 50.0))),
        HealthSample("a", "http", 2.0, ok=False, detail="timed out"),
        HealthSample("a", "http", 3.0, ok=True),
        HealthSample("a", "http", 4.0, ok=False, detail="HTTP 500"),
    ]
    t = Tally.of(samples)
    assert (t.requests, t.errors) == (150, 52)  # more errors than requests in a sample is capped
    assert t.histogram() == {0.1: 140.0, INF: 150.0}
    assert (t.checks, t.failed, t.streak, t.first_failure) == (4, 3, 1, "HTTP 503")
    assert (t.samples, t.measured, t.no_data) == (7, 6, "first scrape: rates need a second one")


def test_verdict_serialises_with_the_numbers_it_used() -> None:
    verdict = evaluate({"web-1": traffic(100, 10_000)}, {"web-1": traffic(2200, 10_000)}, HealthPolicy())
    data = json.loads(json.dumps(verdict.to_dict()))
    assert (data["ok"], data["outcome"], data["confidence"]) == (False, "fail", 0.99)
    [inst] = data["instances"]
    [finding] = inst["findings"]
    assert finding["rule"] == "error_rate" and finding["outcome"] == "fail"
    assert (finding["errors"], finding["requests"], finding["baseline_errors"]) == (2200, 10_000, 100)
    assert 14 < finding["rise_low_pp"] < 21 < finding["rise_high_pp"] < 28
    assert finding["threshold_pp"] == 5 and "rise >= +" in data["summary"]


def test_verdict_with_no_instances_is_a_pass() -> None:
    assert Verdict().outcome == "pass" and Verdict().ok
