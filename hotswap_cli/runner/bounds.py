"""Evidence about rates from counts, valid however often the gate looks: for one growing window
(failed checks, slow requests) and for a window against a baseline closed before the push
(the error rate's rise). Pure math.

- `sequence_*` (window): the beta-binomial mixture confidence sequence (Robbins 1970; Howard,
  Ramdas, McAuliffe, Sekhon 2021). For k events in n trials, M(p) = B(a+k, b+n-k) / B(a, b) /
  (p^k (1-p)^(n-k)) is a nonnegative martingale when p is the true rate, so by Ville's inequality
  P(ever M(p) >= 1/alpha) <= alpha: the set {p : M(p) < 1/alpha} covers the rate at every look at
  once, however often the gate samples and whenever it stops.
- `Rise` (window against baseline): is the window's rate more than `margin` above the baseline's?
  The baseline's mixture M0(p0) is an e-value (expectation 1 at the true p0) and the window's
  min over rates the null allows of M1 is an e-process, independent of it; their product at the
  true p0 is a supermartingale started at M0, so the test that rejects when the product is at
  least 1/alpha for every p0 is valid at every look. It needs less evidence than bounding each
  side separately and subtracting.

Counts may be fractional (counters that are not integers); the formulas take real arguments.
"""

from __future__ import annotations

import math
from collections.abc import Callable

# the mixture's prior on the rate: Beta(1/2, 1/2) puts weight near 0 where error rates live
PRIOR_A = 0.5
PRIOR_B = 0.5
_ITERATIONS = 48  # bisection steps: a bound to within 2^-48


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _log_lik(k: float, n: float, p: float) -> float:
    """log of p^k (1-p)^(n-k), with 0 log 0 = 0."""
    out = 0.0
    if k > 0:
        out += k * math.log(p) if p > 0 else -math.inf
    if n - k > 0:
        out += (n - k) * math.log1p(-p) if p < 1 else -math.inf
    return out


def log_mixture(k: float, n: float, p: float) -> float:
    """log M(p): the evidence against rate `p` after k events in n trials (0 at n = 0)."""
    mix = _log_beta(PRIOR_A + k, PRIOR_B + n - k) - _log_beta(PRIOR_A, PRIOR_B)
    return mix - _log_lik(k, n, p)


def sequence_rejects_below(k: float, n: float, c: float, alpha: float) -> bool:
    """True when the anytime lower bound of the rate is above `c` (the rate is conclusively > c)."""
    if n <= 0 or c >= 1 or k <= c * n:
        return False
    return c <= 0 or log_mixture(k, n, c) >= math.log(1 / alpha)


def sequence_rejects_above(k: float, n: float, c: float, alpha: float) -> bool:
    """True when the anytime upper bound of the rate is below `c` (the rate is conclusively < c)."""
    if n <= 0 or c <= 0 or k >= c * n:
        return False
    return c >= 1 or log_mixture(k, n, c) >= math.log(1 / alpha)


def sequence_bounds(k: float, n: float, alpha: float) -> tuple[float, float]:
    """(lower, upper): the anytime-valid confidence sequence for the rate at this look."""
    if n <= 0:
        return 0.0, 1.0
    level = math.log(1 / alpha)
    return _solve(lambda p: log_mixture(k, n, p), k / n, level)


def _solve(f: Callable[[float], float], center: float, level: float) -> tuple[float, float]:
    """The interval around `center` where the convex `f(p)` stays below `level`."""

    def edge(inside: float, outside: float) -> float:
        if f(outside) < level:
            return outside
        for _ in range(_ITERATIONS):
            mid = (inside + outside) / 2
            if f(mid) < level:
                inside = mid
            else:
                outside = mid
        return inside

    center = min(1.0, max(0.0, center))
    return edge(center, 0.0), edge(center, 1.0)


_NEWTON_STEPS = 60  # at most; a few usually do (the evidence is convex in p0)
_TOLERANCE = 1e-9  # evidence (a log) to within this
_EDGE = 1e-12  # slopes are taken this far inside the range (log 0 at its ends)
_RISE_STEPS = 60  # regula falsi steps for a displayed bound, at most (to within 1e-6)


def _term(const: float, k: float, n: float, p: float) -> tuple[float, float, float]:
    """log M(p) = const - k log p - (n - k) log(1 - p), and its first two derivatives in p
    (taken just inside (0, 1): log 0 at the ends)."""
    m = n - k
    value = const
    if k > 0:
        value = value - k * math.log(p) if p > 0 else math.inf
    if m > 0:
        value = value - m * math.log1p(-p) if p < 1 else math.inf
    q = p if _EDGE < p < 1 - _EDGE else min(1 - _EDGE, max(_EDGE, p))
    r = 1 - q
    return value, m / r - k / q, k / (q * q) + m / (r * r)


class Rise:
    """The evidence about `p1 - p0` from k0 of n0 (baseline, closed) and k1 of n1 (window, growing)."""

    def __init__(self, k0: float, n0: float, k1: float, n1: float) -> None:
        self.k0, self.n0, self.k1, self.n1 = k0, n0, k1, n1
        self.r1 = k1 / n1 if n1 > 0 else 0.0
        self._start: dict[bool, float] = {}  # where the last search (per direction) found the least
        self._c0 = _log_beta(PRIOR_A + k0, PRIOR_B + n0 - k0) - _log_beta(PRIOR_A, PRIOR_B)
        self._c1 = _log_beta(PRIOR_A + k1, PRIOR_B + n1 - k1) - _log_beta(PRIOR_A, PRIOR_B)

    def above(self, margin: float, alpha: float) -> bool:
        """Conclusive that p1 - p0 > margin: the null p1 <= p0 + margin is rejected. The window's
        e-process against p1 <= c is M1 at the allowed rate nearest its estimate, min(c, k1/n1)."""
        if self.n1 <= 0:
            return False
        level = math.log(1 / alpha)
        return self._least(margin, max(0.0, -margin), 1.0, level, upward=False) >= level

    def below(self, margin: float, alpha: float) -> bool:
        """Conclusive that p1 - p0 < margin: the null p1 >= p0 + margin is rejected."""
        if self.n1 <= 0:
            return False
        level = math.log(1 / alpha)
        return self._least(margin, 0.0, min(1.0, 1.0 - margin), level, upward=True) >= level

    def _evidence(self, p0: float, margin: float, upward: bool) -> tuple[float, float, float]:
        """The joint evidence at baseline rate p0 and its first two derivatives in p0. The window
        is judged at c = p0 + margin, or at its own estimate when the null allows that rate.
        (The inner loop of every decision: written out rather than through helpers.)"""
        k0, n0, k1, n1 = self.k0, self.n0, self.k1, self.n1
        value = d1 = d2 = 0.0
        if n0 > 0:
            value, d1, d2 = _term(self._c0, k0, n0, p0)
        c = p0 + margin
        if c > self.r1 if upward else c < self.r1:
            v, e1, e2 = _term(self._c1, k1, n1, c)
            return value + v, d1 + e1, d2 + e2
        return value + _term(self._c1, k1, n1, self.r1)[0], d1, d2

    def _least(self, margin: float, lo: float, hi: float, enough: float, upward: bool) -> float:
        """The least evidence over the baseline rates the null allows, [lo, hi], where it is convex:
        Newton's method on its slope, kept inside a shrinking bracket. It stops early once some
        rate's evidence is under `enough` (the null then stands). With no baseline, p0 is taken as
        0: the window is compared with an error-free past. An empty range: the null cannot hold."""
        if self.n0 <= 0:
            return self._evidence(0.0, margin, upward)[0] if lo <= 0.0 <= hi else math.inf
        if hi < lo:
            return math.inf
        # Newton's method on the slope inside a bracket that shrinks by the slope's sign; a step
        # that leaves the bracket, or creeps (near log 0 Newton steps are tiny), bisects instead.
        # For a convex function the least is within |slope| x width of the current value.
        a, b = lo + _EDGE, hi - _EDGE
        if b <= a:
            return min(self._evidence(lo, margin, upward)[0], self._evidence(hi, margin, upward)[0])
        # start where the last search ended (a bound's search asks about nearby margins), else where
        # the baseline's own evidence is least
        x = min(b, max(a, self._start.get(upward, self.k0 / self.n0)))
        value, slope, curve = self._evidence(x, margin, upward)
        best = value
        for _ in range(_NEWTON_STEPS):
            if best < enough or abs(slope) * (b - a) <= _TOLERANCE or b - a <= _EDGE:
                break
            if slope > 0:
                b = x
            else:
                a = x
            newton = x - slope / curve if curve > 0 else a
            creeping = abs(newton - x) < 0.01 * (b - a) and abs(slope) * (b - a) > 1.0
            x = newton if a < newton < b and not creeping else (a + b) / 2
            value, slope, curve = self._evidence(x, margin, upward)
            best = min(best, value)
        self._start[upward] = x
        for end in (lo, hi):  # the least may sit on an end of the range
            best = min(best, self._evidence(end, margin, upward)[0])
        return best

    def bounds(self, alpha: float) -> tuple[float, float]:
        """(lowest, highest) rise not rejected at this look: the rise's confidence interval."""
        if self.n1 <= 0:
            return -1.0, 1.0
        level = math.log(1 / alpha)
        p0 = self.k0 / self.n0 if self.n0 > 0 else 0.0
        center = self.r1 - p0
        n0 = max(self.n0, 1.0)
        spread = math.sqrt((p0 * (1 - p0) + 1 / n0) / n0 + (self.r1 * (1 - self.r1) + 1 / self.n1) / self.n1)
        reach = 1.5 * math.sqrt(2 * level) * spread  # about where a normal approximation puts the edges

        def lower(d: float) -> float:  # > 0 while a rise of only d is rejected
            return self._least(d, max(0.0, -d), 1.0, -math.inf, upward=False) - level

        def upper(d: float) -> float:
            return self._least(d, 0.0, min(1.0, 1.0 - d), -math.inf, upward=True) - level

        return _edge(lower, center, -1.0, -reach), _edge(upper, center, 1.0, reach)


def _edge(h: Callable[[float], float], inside: float, limit: float, guess: float) -> float:
    """Where h (negative at `inside`, rising towards `limit`) crosses 0, to within 1e-5: a bracket
    from `inside + guess`, widened until it holds, then regula falsi (Illinois) inside it."""
    outside = inside + guess
    while True:
        if (limit - outside) * (outside - inside) < 0:
            outside = limit
        h_out = h(outside)
        if h_out >= 0 or outside == limit:
            break
        inside, outside = outside, outside + 2 * (outside - inside)
    if h_out < 0:
        return limit
    h_in, side = h(inside), 0
    for _ in range(_RISE_STEPS):
        if abs(outside - inside) <= 1e-5:  # a thousandth of a percentage point
            break
        if math.isfinite(h_out) and math.isfinite(h_in) and h_out - h_in > 0:
            mid = outside - h_out * (outside - inside) / (h_out - h_in)
        else:
            mid = (inside + outside) / 2
        if not min(inside, outside) < mid < max(inside, outside):
            mid = (inside + outside) / 2
        h_mid = h(mid)
        if h_mid >= 0:
            outside, h_out = mid, h_mid
            h_in = h_in / 2 if side == 1 else h_in  # Illinois: a side kept twice weighs half
            side = 1
        else:
            inside, h_in = mid, h_mid
            h_out = h_out / 2 if side == -1 else h_out
            side = -1
    return inside
