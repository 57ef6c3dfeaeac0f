"""The health gate: a pure verdict for each instance from the counts its probes measured before its
push (the baseline, closed) and since (the window, growing), and the policy.

Each rule fails an instance only when the evidence is conclusive, passes it only when the evidence
is conclusive the other way, and otherwise leaves it undecided (inconclusive):

- error rate: requests and errors from counters; the rise (window rate minus baseline rate) is
  tested against `error_rate_pp` by combining the closed baseline's evidence with the growing
  window's (`bounds.Rise`): fail when the rise is conclusively over, pass when conclusively under.
- latency: "p99 more than p99_increase_pct above the baseline's p99" is "more than 1 % of the
  window's requests are slower than (1 + pct) x the baseline p99", a count tested the same way;
  the baseline p99 is taken at the top of its histogram bucket, from at least 1,000 requests.
  Proving a p99 *within* bounds takes thousands of requests, so latency fails a phase on
  conclusive evidence but never holds one back.
- checks: http/command probe failures against `failed_checks_pct` above the baseline's share; a
  few dozen pings cannot prove a rate is low, so checks too can fail a phase but never hold one back.

The error rate is the one rule that must be conclusively within its threshold for a phase to pass.
  `failure_limit` and `consecutive` are plain counts for those who think in Argo's terms (they
  are outside the stated false-alarm guarantee).

The error budget 1 - confidence is shared by every (instance, rule) test of the deploy
(Bonferroni: each instance gets an equal share, split between its rules by SHARES), so a deploy
whose every instance stays within the thresholds is failed by these rules with probability at
most 1 - confidence, however often the gate looks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hotswap_cli.model import HealthPolicy
from hotswap_cli.probes import histogram
from hotswap_cli.probes.base import HealthSample
from hotswap_cli.runner import bounds

# each instance's share of the error budget, split between its rules: the error rate, the rule that
# must pass, gets half; latency and checks, which can only fail a phase, a quarter each
SHARES = {"error_rate": 0.5, "latency": 0.25, "checks": 0.25}
P99_SHARE = 0.01  # the share of requests slower than the p99
MIN_LATENCY_BASELINE = 1000  # requests the baseline needs before its p99 means anything (~10 above it)

OUTCOMES = ("pass", "fail", "inconclusive")


@dataclass(frozen=True)
class Tally:
    """What an instance's probes measured over a stretch of time, summed: the gate's input."""

    requests: float = 0.0
    errors: float = 0.0
    buckets: tuple[tuple[float, float], ...] = ()  # latency histogram, (le seconds, cumulative count)
    checks: int = 0
    failed: int = 0
    streak: int = 0  # failed checks in a row, up to the latest
    samples: int = 0
    measured: int = 0  # samples that measured anything
    first_failure: str = ""  # what the first failing check said
    no_data: str = ""  # why the latest sample that measured nothing did not

    @classmethod
    def of(cls, samples: Iterable[HealthSample]) -> Tally:
        return cls().plus(samples)

    def plus(self, samples: Iterable[HealthSample]) -> Tally:
        t = self
        requests, errors, checks, failed, streak = t.requests, t.errors, t.checks, t.failed, t.streak
        count, measured, first, why = t.samples, t.measured, t.first_failure, t.no_data
        parts = [t.buckets]
        for s in samples:
            count += 1
            got = False
            if s.requests is not None and s.requests > 0:
                requests += s.requests
                errors += min(s.requests, max(0.0, s.errors or 0.0))
                got = True
            if s.buckets:
                parts.append(s.buckets)
                got = True
            if s.ok is not None:
                checks += 1
                got = True
                if s.ok:
                    streak = 0
                else:
                    failed += 1
                    streak += 1
                    first = first or s.detail
            if got:
                measured += 1
            elif s.no_data:
                why = s.detail or "no data"
        merged = tuple(sorted(histogram.merge(parts).items())) if len(parts) > 1 else t.buckets
        return Tally(requests, errors, merged, checks, failed, streak, count, measured, first, why)

    def histogram(self) -> dict[float, float]:
        return dict(self.buckets)


@dataclass(frozen=True)
class Finding:
    """One rule's answer for one instance, with the numbers it used."""

    rule: str  # error_rate | latency | checks | failure_limit | consecutive | no_data
    outcome: str  # pass | fail | inconclusive
    text: str
    figures: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "outcome": self.outcome, "text": self.text, **self.figures}


@dataclass(frozen=True)
class InstanceVerdict:
    """One instance's findings; it fails when any finding fails, passes when every one passes."""

    instance: str
    outcome: str  # one of OUTCOMES
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome != "fail"

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(f.text for f in self.findings if f.outcome == "fail")

    @property
    def undecided(self) -> tuple[str, ...]:
        return tuple(f.text for f in self.findings if f.outcome == "inconclusive")

    def finding(self, rule: str) -> Finding | None:
        return next((f for f in self.findings if f.rule == rule), None)

    def to_dict(self) -> dict[str, Any]:
        return {"instance": self.instance, "outcome": self.outcome, "ok": self.ok,
                "findings": [f.to_dict() for f in self.findings], "notes": list(self.notes)}


@dataclass(frozen=True)
class Verdict:
    """The gate's answer for every live instance. `outcome` is the evidence's; `ok` is the phase's
    decision, which for an inconclusive gate the runner settles by policy (`decided_by`)."""

    instances: tuple[InstanceVerdict, ...] = ()
    phase: int = 0
    confidence: float = 0.99
    decided_by: str = ""  # e.g. "on_inconclusive: pass", "no bake": why an inconclusive gate passed/failed
    passed: bool | None = None  # the settled decision; None: follows the evidence

    @property
    def outcome(self) -> str:
        found = {i.outcome for i in self.instances}
        return "fail" if "fail" in found else "inconclusive" if "inconclusive" in found else "pass"

    @property
    def ok(self) -> bool:
        return self.passed if self.passed is not None else self.outcome == "pass"

    @property
    def failures(self) -> tuple[InstanceVerdict, ...]:
        return tuple(i for i in self.instances if i.outcome == "fail")

    @property
    def undecided(self) -> tuple[InstanceVerdict, ...]:
        return tuple(i for i in self.instances if i.outcome == "inconclusive")

    def settle(self, passed: bool, why: str) -> Verdict:
        return replace(self, passed=passed, decided_by=why)

    def summary(self) -> str:
        """The numbers behind the answer: each failing (or undecided) instance, or the worst figures."""
        if self.outcome == "fail":
            text = "; ".join(f"{i.instance}: {', '.join(i.reasons)}" for i in self.failures)
        elif self.outcome == "inconclusive":
            shown = self.undecided[:5]
            more = len(self.undecided) - len(shown)
            text = "inconclusive: " + "; ".join(f"{i.instance}: {', '.join(i.undecided)}" for i in shown)
            text += f" (and {more} more)" if more > 0 else ""
        else:
            text = f"{len(self.instances)} instance(s) healthy" + _worst(self.instances)
        return text + (f" [{self.decided_by}]" if self.decided_by else "")

    def to_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "ok": self.ok, "outcome": self.outcome, "confidence": self.confidence,
                "decided_by": self.decided_by or None, "summary": self.summary(),
                "instances": [i.to_dict() for i in self.instances]}


def evaluate(
    baseline: Mapping[str, Tally],
    window: Mapping[str, Tally],
    policy: HealthPolicy,
    *,
    population: int | None = None,
    closing: bool = True,
    explain: bool = True,
) -> Verdict:
    """Judge every instance in `window`. `population` is the deploy's instance count (the error
    budget is shared by all of them; default: those judged here). `closing`: the bake is over, so
    an instance with no data at all is judged by `on_no_data` instead of waiting for some.
    `explain=False` decides only (no bounds, no text): the cheap form for looks that decide nothing."""
    alpha = (1.0 - policy.confidence) / max(population or 0, len(window), 1)
    return Verdict(
        tuple(judge(name, baseline.get(name, Tally()), tally, policy, alpha, closing, explain)
              for name, tally in window.items()),
        confidence=policy.confidence,
    )


def judge(name: str, base: Tally, win: Tally, policy: HealthPolicy, alpha: float,
          closing: bool = True, explain: bool = True) -> InstanceVerdict:
    """One instance: each rule with data gives a finding; `alpha` is the instance's share of the budget."""
    if win.samples == 0 and base.samples == 0:
        return InstanceVerdict(name, "pass", notes=("no probes",))
    notes: list[str] = []
    findings = [f for f in (_error_rate(base, win, policy, alpha * SHARES["error_rate"], notes, explain),
                            _latency(base, win, policy, alpha * SHARES["latency"], notes, explain),
                            *_checks(base, win, policy, alpha * SHARES["checks"], explain)) if f is not None]
    if not findings:
        why = "no health data" + (f" ({win.no_data})" if win.no_data else "")
        if not closing:
            findings.append(Finding("no_data", "inconclusive", why + " yet"))
        elif policy.on_no_data == "pass":
            notes.append(why + ", passed by on_no_data: pass")
        else:
            findings.append(Finding("no_data", "fail", why))
    outcomes = {f.outcome for f in findings}
    outcome = "fail" if "fail" in outcomes else "inconclusive" if "inconclusive" in outcomes else "pass"
    return InstanceVerdict(name, outcome, tuple(findings), tuple(notes))


def _error_rate(base: Tally, win: Tally, policy: HealthPolicy, alpha: float, notes: list[str],
                explain: bool = True) -> Finding | None:
    if win.requests <= 0:
        return None
    margin = policy.error_rate_pp / 100.0
    k, n = win.errors, win.requests
    b_rate = base.errors / base.requests if base.requests > 0 else None
    if b_rate is None:
        notes.append("no error-rate baseline: compared with 0%")
    rise = bounds.Rise(base.errors, base.requests, k, n)
    if rise.above(margin, alpha):
        outcome = "fail"
    elif rise.below(margin, alpha):
        outcome = "pass"
    else:
        outcome = "inconclusive"
    if not explain:
        return Finding("error_rate", outcome, "")
    low, high = rise.bounds(alpha)
    rise_lo, rise_hi = low * 100, high * 100
    rate = k / n
    head = f"error rate {rate:.1%} ({_n(k)}/{_n(n)} requests)"
    head += f" vs baseline {b_rate:.1%} ({_n(base.errors)}/{_n(base.requests)})" if b_rate is not None else " vs 0%"
    pp = f"{policy.error_rate_pp:g}pp"
    if outcome == "fail":
        text = f"{head}: rise >= {rise_lo:+.1f}pp > {pp}"
    elif outcome == "pass":
        text = f"{head}: rise <= {rise_hi:+.1f}pp < {pp}"
    else:
        text = f"{head}: rise between {rise_lo:+.1f}pp and {rise_hi:+.1f}pp, undecided at {pp}"
    return Finding("error_rate", outcome, text, {
        "errors": k, "requests": n, "rate": rate, "baseline_errors": base.errors,
        "baseline_requests": base.requests, "baseline_rate": b_rate, "rise_low_pp": rise_lo,
        "rise_high_pp": rise_hi, "threshold_pp": policy.error_rate_pp})


def _latency(base: Tally, win: Tally, policy: HealthPolicy, alpha: float, notes: list[str],
             explain: bool = True) -> Finding | None:
    window_hist = win.histogram()
    n = max(window_hist.values(), default=0.0)
    if n <= 0:
        return None
    base_hist = base.histogram()
    n0 = max(base_hist.values(), default=0.0)
    if n0 < MIN_LATENCY_BASELINE:
        notes.append(f"p99 not judged: the baseline has {_n(n0)} request(s), it needs {MIN_LATENCY_BASELINE}")
        return None
    base_p99 = histogram.quantile(0.99, base_hist)
    # the threshold starts from the top of the bucket that holds the baseline's p99, not from the
    # interpolated value: a baseline that happened to see few slow requests must not set it low
    edge = histogram.bucket_edge(0.99, base_hist)
    if base_p99 is None or edge is None or base_p99 <= 0:
        notes.append("p99 not judged: the baseline's p99 is beyond the histogram's last bucket")
        return None
    limit = edge * (1 + policy.p99_increase_pct / 100.0)
    slow = histogram.count_above(limit, window_hist)
    if slow is None:
        notes.append(f"p99 not judged: {limit * 1000:.0f}ms is beyond the histogram's last bucket")
        return None
    outcome = "fail" if bounds.sequence_rejects_below(slow, n, P99_SHARE, alpha) else "pass"
    if not explain:
        return Finding("latency", outcome, "")
    p99 = histogram.quantile(0.99, window_hist)
    lo, hi = bounds.sequence_bounds(slow, n, alpha)
    head = (f"p99 {_ms(p99)} vs baseline {_ms(base_p99)} (bucket <= {_ms(edge)}): {slow / n:.1%} of {_n(n)} "
            f"requests slower than {_ms(limit)} (+{policy.p99_increase_pct:g}%)")
    if outcome == "fail":
        text = f"{head}, >= {lo:.1%} > 1%"
    else:
        text = f"{head}, <= {hi:.1%}, not conclusively over 1%"
    return Finding("latency", outcome, text, {
        "p99_ms": None if p99 is None else p99 * 1000, "baseline_p99_ms": base_p99 * 1000,
        "baseline_bucket_ms": edge * 1000, "limit_ms": limit * 1000, "slower": slow, "requests": n,
        "share_low": lo, "share_high": hi, "baseline_requests": n0, "threshold_pct": policy.p99_increase_pct})


def _checks(base: Tally, win: Tally, policy: HealthPolicy, alpha: float, explain: bool = True) -> list[Finding]:
    if win.checks == 0:
        return []
    k, m = win.failed, win.checks
    # an instance that already failed some checks keeps that allowance, once its baseline has enough
    base_share = base.failed / base.checks if base.checks >= policy.min_checks else 0.0
    limit = min(1.0, policy.failed_checks_pct / 100.0 + base_share)
    over = m >= policy.min_checks and bounds.sequence_rejects_below(k, m, limit, alpha)
    beyond_limit = policy.failure_limit is not None and k > policy.failure_limit
    in_a_row = policy.consecutive is not None and win.streak >= policy.consecutive
    if not explain:
        return [Finding("checks", "fail" if over or beyond_limit or in_a_row else "pass", "")]
    detail = f": {win.first_failure}" if win.first_failure else ""
    head = f"{k}/{m} health checks failed"
    figures = {"failed": k, "checks": m, "baseline_failed": base.failed, "baseline_checks": base.checks,
               "threshold_pct": policy.failed_checks_pct}
    if over:
        lo, _ = bounds.sequence_bounds(k, m, alpha)
        against = f"{limit:.0%}" + (f" (baseline {base.failed}/{base.checks} + {policy.failed_checks_pct:g}%)"
                                    if base_share else "")
        out = [Finding("checks", "fail", f"{head} ({k / m:.0%}, >= {lo:.0%} > {against}){detail}",
                       {**figures, "share_low": lo})]
    else:
        out = [Finding("checks", "pass", f"{head} (not conclusively over {limit:.0%})", figures)]
    if beyond_limit:
        out.append(Finding("failure_limit", "fail", f"{head}, more than failure_limit {policy.failure_limit}{detail}",
                           figures))
    if in_a_row:
        out.append(Finding("consecutive", "fail", f"{win.streak} health checks failed in a row "
                           f"(consecutive: {policy.consecutive}){detail}", figures))
    return out


def _worst(instances: Iterable[InstanceVerdict]) -> str:
    """`: error-rate rise <= +1.1pp (worst web-4: 39/6134 vs 27/6250 requests), ...` for a passing gate."""
    found: dict[str, list[tuple[str, Finding]]] = {}
    for i in instances:
        for f in i.findings:
            found.setdefault(f.rule, []).append((i.instance, f))
    parts = []
    if "error_rate" in found:
        name, f = max(found["error_rate"], key=lambda x: x[1].figures["rise_high_pp"])
        g = f.figures
        parts.append(f"error-rate rise <= {g['rise_high_pp']:+.1f}pp (worst {name}: {_n(g['errors'])}/"
                     f"{_n(g['requests'])} vs {_n(g['baseline_errors'])}/{_n(g['baseline_requests'])} requests)")
    if "latency" in found:
        name, f = max(found["latency"], key=lambda x: x[1].figures["share_high"])
        g = f.figures
        parts.append(f"p99 within +{g['threshold_pct']:g}% (worst {name}: {_ms((g['p99_ms'] or 0) / 1000)} vs "
                     f"{_ms(g['baseline_p99_ms'] / 1000)}, <= {g['share_high']:.1%} of requests over "
                     f"{_ms(g['limit_ms'] / 1000)})")
    if "checks" in found:
        failed = sum(f.figures["failed"] for _, f in found["checks"])
        total = sum(f.figures["checks"] for _, f in found["checks"])
        parts.append(f"{failed}/{total} health checks failed")
    return (": " + ", ".join(parts)) if parts else ""


def _n(x: float) -> str:
    return f"{x:.0f}" if abs(x - round(x)) < 1e-9 or x >= 100 else f"{x:.1f}"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}ms"
