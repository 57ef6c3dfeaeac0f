"""Time as an injectable dependency: every wait in the runner goes through a Clock; and wall-clock
moments as text."""

from __future__ import annotations

import math
import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds, monotonic."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Real time; sleep wakes early when `cancel` is set (Ctrl-C during a bake)."""

    def __init__(self, cancel: threading.Event | None = None) -> None:
        self.cancel = cancel or threading.Event()

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.cancel.wait(seconds)


class FakeClock:
    """Advances instantly: a 4 x 5-minute canary runs in milliseconds in tests."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self._now += max(0.0, seconds)


_LAST = (0, "1970-01-01T00:00:00")  # the whole second utc_second last formatted, and its text


def utc_second(epoch: float) -> str:
    """`2026-11-30T17:02:03`: the UTC second `epoch` falls in, formatted once per second (a
    fleet-sized run stamps ~50,000 events and health figures)."""
    global _LAST
    whole = math.floor(epoch)
    last = _LAST
    if last[0] != whole:
        last = _LAST = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return last[1]
