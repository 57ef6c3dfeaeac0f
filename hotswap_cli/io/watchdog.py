"""One thread that watches every deadline of the process.

A wait that no library bounds (an ssh step, see io.ssh) needs someone else to end it: at its
deadline, close what it waits on. A thread per wait did that, at the cost of a thread started
(and a GIL hand-off the step waits for) for every step of every instance: ten per ssh target in
a deploy. Here every wait is an entry in one heap, looked at by one daemon thread when its time
comes. An entry says when it is due, again at each look (a slow step that keeps moving bytes
pushes its own deadline on), and what to do then; that runs on a thread of its own, so one slow
close never delays another deadline."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

COMPACT_AT = 256  # cancelled entries kept in the heap before it is rebuilt without them


def _never() -> float:
    return 0.0


def _nothing() -> None:
    pass


@dataclass(eq=False)
class Watch:
    """One watched wait: `due()` is the monotonic time it lapses (asked again when that comes),
    `expire()` what ends it. `cancel()` when the wait is over."""

    due: Callable[[], float]
    expire: Callable[[], None]
    cancelled: bool = field(default=False, init=False)
    expired: bool = field(default=False, init=False)

    def cancel(self) -> None:
        """The wait is over: never expire it, and hold nothing of it (its connection) meanwhile."""
        self.cancelled = True
        self.due, self.expire = _never, _nothing


class Watchdog:
    def __init__(self, name: str = "hotswap-watchdog") -> None:
        self.name = name
        self._heap: list[tuple[float, int, Watch]] = []
        self._order = itertools.count()
        self._cancelled = 0
        self._wake = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None

    def watch(self, due: Callable[[], float], expire: Callable[[], None]) -> Watch:
        """Watch a wait from now on; cancel the returned Watch when it ends."""
        entry = Watch(due, expire)
        at = due()
        with self._wake:
            self._push(at, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            elif self._heap[0][2] is entry:  # earlier than what the thread sleeps towards
                self._wake.notify()
        return entry

    def cancel(self, entry: Watch) -> None:
        if entry.cancelled:
            return
        entry.cancel()
        with self._wake:
            self._cancelled += 1
            if self._cancelled >= COMPACT_AT and self._cancelled * 2 >= len(self._heap):
                self._heap = [item for item in self._heap if not item[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def pending(self) -> int:
        """Entries still watched (for tests)."""
        with self._wake:
            return sum(1 for item in self._heap if not item[2].cancelled)

    def _push(self, at: float, entry: Watch) -> None:
        heapq.heappush(self._heap, (at, next(self._order), entry))

    def _run(self) -> None:
        while True:
            with self._wake:
                while True:
                    while self._heap and self._heap[0][2].cancelled:
                        heapq.heappop(self._heap)
                        self._cancelled = max(0, self._cancelled - 1)
                    if not self._heap:
                        self._wake.wait()
                        continue
                    left = self._heap[0][0] - time.monotonic()
                    if left <= 0:
                        break
                    self._wake.wait(left)
                _, _, entry = heapq.heappop(self._heap)
            self._look(entry)

    def _look(self, entry: Watch) -> None:
        """Its time came: expire it, or put it back at the time it now names."""
        try:
            at = entry.due()
        except Exception:  # noqa: BLE001 - a broken entry must not stop the watchdog; expire it
            at = 0.0
        if entry.cancelled:
            return
        if at > time.monotonic():
            with self._wake:
                self._push(at, entry)
            return
        entry.expired = True
        threading.Thread(target=entry.expire, name=f"{self.name}-expire", daemon=True).start()


WATCHDOG = Watchdog()
