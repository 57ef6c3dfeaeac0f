"""How often the health gate reverts a healthy version, and how fast it catches a bad one.

    python benchmarks/gate_bench.py [--deploys 10000] [--other-deploys 2000] [--rps 50] [--workers 2]
                                    [--instances 10] [--seed 1] [--traffic 10,20,200]

Each simulated deploy is the shipped runner and gate (`run_plan`, `evaluate`) on a fake clock,
with simulated instances at the Probe/Transport seams: a canary 10/30/50/100 over `--instances`
instances at the default settings (bake 5m, sampling every 30s, first baseline two intervals,
99% confidence, bakes extended to 10m while inconclusive, then fail). The noise is what a fleet
shows: Poisson traffic around `--rps` per instance (each instance 0.5-1.5x, drifting +-10% per
interval), a baseline error rate of 0-2% per instance, health checks that flap (0-3% on top of
the error rate), a fifth of the instances twice as slow, log-normal latencies in the Prometheus
client's default buckets. Scenarios:

- healthy: the new version changes nothing; any revert is a false revert.
- healthy, bursty errors: errors come in bursts (each interval's error rate is Gamma-distributed
  around the instance's own), which the binomial model behind the gate does not assume.
- +5pp, +10pp, +40pp: the new version's error rate is that much above each instance's own.
- p99 +100%: the new version doubles every latency. With the client's default buckets (100 ms,
  then 250 ms) the p99 that `histogram_quantile` interpolates rises by only ~35%, so the gate
  (which judges that same p99) rarely fails it; the row with buckets 1.25x apart shows the rule
  when the histogram can resolve the change.

Printed: the false-revert rate (and whether it was a conclusive failure or an inconclusive bake),
and for each regression the detection rate, the share detected within 2 and 3 sampling intervals
of the first push, and the median time to the verdict in intervals. Targets (issue 11): false
reverts <= 0.1%; +10pp detected in >= 99% of runs within 3 intervals; +40pp within 2.
`--traffic` repeats the healthy and +10pp rows at other request rates, to show what traffic the
targets need.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hotswap_cli.clock import FakeClock  # noqa: E402
from hotswap_cli.core.deploy.plan import build_plan  # noqa: E402
from hotswap_cli.demo.traffic import binomial, poisson  # noqa: E402
from hotswap_cli.model import HealthPolicy, StrategySpec  # noqa: E402
from hotswap_cli.probes.base import HealthSample  # noqa: E402
from hotswap_cli.runner import run_plan  # noqa: E402
from hotswap_cli.runner.events import BakeStarted, Event, VerdictReached  # noqa: E402
from hotswap_cli.specs import LocalSpec, Target  # noqa: E402

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)  # the client's defaults
FINE = tuple(round(0.005 * 1.25**i, 6) for i in range(35))  # 5 ms to 12 s, each bucket 1.25x the last
SIGMA = 0.5  # log-normal latency spread
POLICY = HealthPolicy()  # the defaults: interval 30s, 99% confidence, on_inconclusive fail
STRATEGY = StrategySpec("canary", bake=300.0, concurrency=1)


@dataclass(frozen=True)
class Scenario:
    name: str
    rise: float = 0.0  # added to each instance's error rate by the new version
    slowdown: float = 1.0  # multiplies every latency under the new version
    bursty: bool = False
    buckets: tuple[float, ...] = BUCKETS

    @property
    def healthy(self) -> bool:
        return self.rise == 0 and self.slowdown == 1


HEALTHY = Scenario("healthy")
SCENARIOS = [HEALTHY, Scenario("healthy, bursty errors", bursty=True), Scenario("+5pp error rate", rise=0.05),
             Scenario("+10pp error rate", rise=0.10), Scenario("+40pp error rate", rise=0.40),
             Scenario("p99 +100%", slowdown=2.0), Scenario("p99 +100%, fine buckets", slowdown=2.0, buckets=FINE),
             Scenario("healthy, fine buckets", buckets=FINE)]


def normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


class Instance:
    """One simulated instance: its traffic, error rate, latency, and which config it runs."""

    def __init__(self, name: str, rng: random.Random, rps: float, scenario: Scenario, clock: FakeClock) -> None:
        self.name, self.rng, self.scenario, self.clock = name, rng, scenario, clock
        self.rps = rps * rng.uniform(0.5, 1.5)
        self.error_rate = rng.uniform(0.0, 0.02)
        self.flap = rng.uniform(0.0, 0.03)
        self.median = 0.04 * (2.0 if rng.random() < 0.2 else 1.0)
        self.load = 1.0
        self.new = False

    def counts(self, seconds: float) -> tuple[int, int, tuple[tuple[float, float], ...]]:
        self.load = min(3.0, max(0.3, self.load * math.exp(self.rng.gauss(0.0, 0.1))))
        n = poisson(self.rps * self.load * seconds, self.rng)
        rate = self.error_rate + (self.scenario.rise if self.new else 0.0)
        if self.scenario.bursty:
            rate *= self.rng.gammavariate(2.0, 0.5)
        errors = binomial(n, min(1.0, rate), self.rng)
        median = self.median * (self.scenario.slowdown if self.new else 1.0)
        buckets, placed, below = [], 0, 0.0
        for bound in self.scenario.buckets:
            cdf = normal_cdf(math.log(bound / median) / SIGMA)
            share = (cdf - below) / (1.0 - below) if below < 1.0 else 0.0
            placed += binomial(n - placed, share, self.rng)
            below = cdf
            buckets.append((bound, float(placed)))
        buckets.append((math.inf, float(n)))
        return n, errors, tuple(buckets)


class MetricsProbe:
    kind = "metrics"

    def __init__(self, inst: Instance) -> None:
        self.inst, self.instance, self.last = inst, inst.name, None

    def sample(self) -> HealthSample:
        now = self.inst.clock.now()
        last, self.last = self.last, now
        if last is None or now <= last:
            return HealthSample(self.instance, self.kind, now, no_data=True, detail="first scrape")
        n, errors, buckets = self.inst.counts(now - last)
        if n == 0:
            return HealthSample(self.instance, self.kind, now, no_data=True, detail="no requests")
        return HealthSample(self.instance, self.kind, now, error_rate=errors / n, requests=float(n),
                            errors=float(errors), buckets=buckets)

    def close(self) -> None:
        pass


class CheckProbe:
    kind = "http"

    def __init__(self, inst: Instance) -> None:
        self.inst, self.instance = inst, inst.name

    def sample(self) -> HealthSample:
        rate = self.inst.error_rate + self.inst.flap + (self.inst.scenario.rise if self.inst.new else 0.0)
        ok = self.inst.rng.random() >= rate
        return HealthSample(self.instance, self.kind, self.inst.clock.now(), ok=ok, detail="" if ok else "HTTP 503")


class Transport:
    def __init__(self, inst: Instance) -> None:
        self.inst = inst

    def read_current(self) -> bytes:
        return b"old"

    def stage(self, data: bytes) -> None:
        pass

    def check(self) -> None:
        pass

    def swap(self) -> None:
        self.inst.new = True

    def reload(self) -> None:
        pass

    def confirm(self, expected_sha256: str) -> bool | None:
        return None

    def discard(self) -> None:
        pass

    def revert(self) -> None:
        self.inst.new = False

    def close(self) -> None:
        pass


class Sink:
    def __init__(self) -> None:
        self.first_bake: float | None = None
        self.verdicts: list[VerdictReached] = []

    def emit(self, event: Event) -> None:
        if isinstance(event, BakeStarted) and self.first_bake is None:
            self.first_bake = event.at
        elif isinstance(event, VerdictReached):
            self.verdicts.append(event)


@dataclass(frozen=True)
class Outcome:
    reverted: bool
    conclusive: bool  # the failing verdict was conclusive evidence (not an inconclusive bake)
    intervals: float | None  # from the first push to the failing verdict, in sampling intervals


def one_deploy(scenario: Scenario, rps: float, instances: int, seed: int) -> Outcome:
    rng, clock = random.Random(seed), FakeClock()
    fleet = {f"i{k}": Instance(f"i{k}", rng, rps, scenario, clock) for k in range(instances)}
    targets = [Target(name, LocalSpec(path=f"/sim/{name}")) for name in fleet]
    plan = build_plan("bench", "2.0.0", STRATEGY, targets, POLICY)
    sink = Sink()
    result = run_plan(plan, lambda _t: b"new", "0" * 64,
                      open_transport=lambda t: Transport(fleet[t.name]),  # type: ignore[arg-type,return-value]
                      open_probes=lambda t: [MetricsProbe(fleet[t.name]), CheckProbe(fleet[t.name])],
                      clock=clock, sink=sink)
    if result.ok:
        return Outcome(False, False, None)
    failing = sink.verdicts[-1].verdict
    start = sink.first_bake or 0.0
    return Outcome(True, failing.outcome == "fail", (sink.verdicts[-1].at - start) / POLICY.interval)


def run_batch(args: tuple[Scenario, float, int, list[int]]) -> list[Outcome]:
    scenario, rps, instances, seeds = args
    return [one_deploy(scenario, rps, instances, seed) for seed in seeds]


def simulate(scenario: Scenario, rps: float, instances: int, deploys: int, seed: int, workers: int) -> list[Outcome]:
    seeds = [seed * 1_000_003 + i for i in range(deploys)]
    chunks = [(scenario, rps, instances, seeds[i::workers * 4]) for i in range(workers * 4)]
    if workers <= 1:
        return [o for chunk in chunks for o in run_batch(chunk)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return [o for part in pool.map(run_batch, chunks) for o in part]


def describe(scenario: Scenario, outcomes: Iterable[Outcome]) -> str:
    runs = list(outcomes)
    n = len(runs)
    reverted = [o for o in runs if o.reverted]
    if scenario.healthy:
        conclusive = sum(1 for o in reverted if o.conclusive)
        return (f"false reverts {len(reverted)}/{n} = {len(reverted) / n:.3%} "
                f"({conclusive} on conclusive evidence, {len(reverted) - conclusive} inconclusive at 10m)")
    times = sorted(o.intervals for o in reverted if o.intervals is not None)
    within = {k: sum(1 for t in times if t <= k + 1e-9) / n for k in (1, 2, 3)}
    median = statistics.median(times) if times else float("nan")
    conclusive = sum(1 for o in reverted if o.conclusive) / n
    return (f"detected {len(reverted) / n:.1%} ({conclusive:.1%} on conclusive evidence); within 1 interval "
            f"{within[1]:.1%}, 2: {within[2]:.1%}, 3: {within[3]:.1%}; median {median:.1f} intervals")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deploys", type=int, default=10_000, help="deploys of the healthy scenario")
    parser.add_argument("--other-deploys", type=int, default=2_000, help="deploys of every other scenario")
    parser.add_argument("--rps", type=float, default=50.0, help="mean requests per second per instance")
    parser.add_argument("--instances", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--traffic", default="10,20,200", help="other request rates for the healthy and +10pp rows")
    args = parser.parse_args()

    print(f"gate benchmark: canary 10/30/50/100 over {args.instances} instances, bake 5m, sampling 30s, "
          f"confidence {POLICY.confidence}, {args.rps:g} requests/s per instance (mean)")
    started = time.monotonic()
    for scenario in SCENARIOS:
        count = args.deploys if scenario is HEALTHY else args.other_deploys
        t0 = time.monotonic()
        outcomes = simulate(scenario, args.rps, args.instances, count, args.seed, args.workers)
        print(f"  {scenario.name:<24} {describe(scenario, outcomes)}  [{count} deploys, "
              f"{time.monotonic() - t0:.0f}s]", flush=True)
    rates = [float(x) for x in args.traffic.split(",") if x.strip()]
    if rates:
        print("by traffic (requests/s per instance):")
    for rps in rates:
        for scenario in (HEALTHY, SCENARIOS[3]):
            count = min(args.other_deploys, 1_000)
            outcomes = simulate(scenario, rps, args.instances, count, args.seed + 7, args.workers)
            print(f"  {rps:>6g}/s  {scenario.name:<18} {describe(scenario, outcomes)}  [{count} deploys]", flush=True)
    print(f"done in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
