"""The bounds behind the gate: the closed forms against direct computation, and the guarantee
(the sequence covers the true rate at every look at once) against simulation."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from hotswap_cli.runner import bounds


def mixture_by_integration(k: int, n: int, p: float, steps: int = 200_000) -> float:
    """M(p) = integral of L(q)/L(p) under the Beta(1/2, 1/2) prior, by the midpoint rule in
    q = sin^2(t), where the prior density becomes the constant 2/pi."""
    total = 0.0
    for i in range(steps):
        t = (i + 0.5) / steps * (math.pi / 2)
        q = math.sin(t) ** 2
        total += math.exp(k * math.log(q / p) + (n - k) * math.log((1 - q) / (1 - p)))
    return total / steps


@pytest.mark.parametrize(("k", "n", "p"), [(0, 10, 0.1), (3, 10, 0.1), (7, 50, 0.3), (20, 200, 0.05)])
def test_closed_form_mixture_matches_integration(k: int, n: int, p: float) -> None:
    assert math.exp(bounds.log_mixture(k, n, p)) == pytest.approx(mixture_by_integration(k, n, p), rel=1e-3)


def rise_runs(p0: float, p1: float, *, runs: int, looks: int, n0: int, per_look: int, seed: int,
              test: str, margin: float, alpha: float) -> float:
    """The share of runs in which Rise.<test>(margin) ever rejects, looking after every batch."""
    rng = random.Random(seed)
    rejected = 0
    for _ in range(runs):
        k0 = sum(1 for _ in range(n0) if rng.random() < p0)
        k1 = n1 = 0
        for _ in range(looks):
            n1 += per_look
            k1 += sum(1 for _ in range(per_look) if rng.random() < p1)
            if getattr(bounds.Rise(k0, n0, k1, n1), test)(margin, alpha):
                rejected += 1
                break
    return rejected / runs


@pytest.mark.parametrize(("p0", "test", "p1"), [(0.02, "above", 0.07), (0.0, "above", 0.05), (0.1, "below", 0.15)])
def test_the_rise_test_holds_its_level_at_the_threshold(p0: float, test: str, p1: float) -> None:
    """A rise of exactly the margin (the hardest case for either test), watched at every one of
    100 looks: rejected in no more than alpha of the runs."""
    share = rise_runs(p0, p1, runs=300, looks=100, n0=500, per_look=50, seed=11, test=test, margin=0.05, alpha=0.05)
    assert share <= 0.05


def test_the_rise_test_finds_a_clear_rise_and_a_clear_absence() -> None:
    fast = rise_runs(0.01, 0.21, runs=100, looks=5, n0=1000, per_look=200, seed=3, test="above", margin=0.05,
                     alpha=0.001)
    calm = rise_runs(0.01, 0.01, runs=100, looks=5, n0=1000, per_look=200, seed=3, test="below", margin=0.05,
                     alpha=0.001)
    assert fast == 1.0 and calm == 1.0


def test_rise_bounds_agree_with_the_tests_and_without_a_baseline_compare_with_zero() -> None:
    rise = bounds.Rise(30, 1500, 270, 2250)  # 2% -> 12%
    lo, hi = rise.bounds(0.001)
    assert 0.02 < lo < 0.10 < hi < 0.18
    assert rise.above(lo - 1e-4, 0.001) and not rise.above(lo + 1e-4, 0.001)
    assert rise.below(hi + 1e-4, 0.001) and not rise.below(hi - 1e-4, 0.001)
    alone = bounds.Rise(0, 0, 700, 10_000)  # 7% with no baseline: the rise over 0%
    assert alone.above(0.05, 0.001) and not alone.above(0.08, 0.001)
    assert bounds.Rise(10, 1000, 0, 0).bounds(0.01) == (-1.0, 1.0)  # no window yet: anything goes


def test_edges() -> None:
    assert bounds.sequence_bounds(0, 0, 0.01) == (0.0, 1.0)
    lo, hi = bounds.sequence_bounds(0, 1000, 0.01)
    assert lo == 0.0 and 0 < hi < 0.02
    lo, hi = bounds.sequence_bounds(1000, 1000, 0.01)
    assert hi == 1.0 and lo > 0.98
    # the decision shortcuts agree with the bounds
    lo, hi = bounds.sequence_bounds(30, 100, 0.01)
    assert bounds.sequence_rejects_below(30, 100, lo - 1e-6, 0.01)
    assert not bounds.sequence_rejects_below(30, 100, lo + 1e-6, 0.01)
    assert bounds.sequence_rejects_above(30, 100, hi + 1e-6, 0.01)
    assert not bounds.sequence_rejects_above(30, 100, hi - 1e-6, 0.01)


def kl(q: float, p: float) -> float:
    return (q * math.log(q / p) if q > 0 else 0.0) + ((1 - q) * math.log((1 - q) / (1 - p)) if q < 1 else 0.0)


def share_of_runs_excluding(rate: float, excluded: Callable[[int, int], bool], *, seed: int, runs: int) -> float:
    """Runs of 200 looks at 50 more trials each: the share of runs in which `excluded(k, n)` ever holds."""
    rng = random.Random(seed)
    missed = 0
    for _ in range(runs):
        k = n = 0
        for _ in range(200):
            n += 50
            k += sum(1 for _ in range(50) if rng.random() < rate)
            if excluded(k, n):
                missed += 1
                break
    return missed / runs


@pytest.mark.parametrize("rate", [0.005, 0.05, 0.3])
def test_the_sequence_covers_the_rate_at_every_look_at_once(rate: float) -> None:
    """400 runs of 200 looks: the share of runs in which the sequence ever excludes the true rate
    stays under alpha (here 5%, so the test has something to measure)."""
    alpha = 0.05
    share = share_of_runs_excluding(rate, lambda k, n: bounds.sequence_rejects_below(k, n, rate, alpha)
                                    or bounds.sequence_rejects_above(k, n, rate, alpha), seed=20261130, runs=400)
    assert share <= alpha


def test_peeking_with_a_fixed_sample_bound_would_not_hold() -> None:
    """Why the window needs the sequence: the same runs judged at every look with a fixed-sample
    (Chernoff) bound exclude the true rate far more often than alpha."""
    alpha, rate = 0.05, 0.05
    share = share_of_runs_excluding(rate, lambda k, n: n * kl(k / n, rate) >= math.log(1 / alpha), seed=7, runs=300)
    assert share > 2 * alpha
