"""Run one step on many instances at once, and never hang on one of them.

Every item runs on a worker thread (even a single one), so the main thread only waits and
notices Ctrl-C within POLL seconds. When the cancel event is set while a batch runs, items that
have not started are dropped and running ones get GRACE seconds to finish their current
step; any still running then are *abandoned*: `on_abandon(item)` is called (it closes the
item's connection, which unblocks most stuck reads and writes) and the batch returns without
waiting for them. Worker threads are daemons, so a thread stuck for good cannot keep the
process alive."""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")

POLL = 0.1  # seconds between looks at the cancel event
GRACE = 3.0  # seconds a running step may take to finish after Ctrl-C before it is abandoned
IDLE = 30.0  # seconds a worker thread waits for more work before it ends


class _Workers:
    """Worker threads kept between batches. Starting a thread waits until it runs, which under
    load is a GIL hand-off each: a deploy to 50 hosts started some 300 threads for its five
    batches, one after another on the main thread. Here a batch hands its jobs to idle threads and
    starts new ones only for the rest.

    `_idle` counts idle threads not yet promised to a job: every job put in the queue has a thread
    that will take it (an idle one promised to it, or one started for it)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._started = 0

    def run(self, job: Callable[[], None], copies: int) -> None:
        """Run `job` on `copies` threads at once (it must not raise)."""
        with self._lock:
            promised = min(self._idle, copies)
            self._idle -= promised
            first = self._started
            self._started += copies - promised
        for _ in range(copies):
            self._jobs.put(job)
        for n in range(copies - promised):
            threading.Thread(target=self._serve, name=f"hotswap-{first + n}", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=IDLE)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0:  # not promised to a job put just now: end
                        self._idle -= 1
                        return
                continue
            contextvars.Context().run(job)  # as on a new thread: nothing of an earlier job's context
            del job  # an idle thread holds nothing of its last batch (slots, transports, connections)
            with self._lock:
                self._idle += 1


WORKERS = _Workers()


class _Batch(Generic[T]):
    def __init__(self, fn: Callable[[T], None], items: list[T], workers: int) -> None:
        self.fn = fn
        self.todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        for i in range(len(items)):
            self.todo.put(i)
        self.items = items
        self.running: set[int] = set()
        self.done = 0
        self.errors: list[BaseException] = []
        self.dropped = threading.Event()  # cancelled: start nothing new
        self.lock = threading.Lock()
        self.finished = threading.Condition(self.lock)
        WORKERS.run(self._work, workers)

    def _work(self) -> None:
        while not self.dropped.is_set():
            try:
                i = self.todo.get_nowait()
            except queue.Empty:
                return
            with self.lock:
                self.running.add(i)
            try:
                self.fn(self.items[i])
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                with self.lock:
                    self.errors.append(exc)
            finally:
                with self.finished:
                    self.running.discard(i)
                    self.done += 1
                    self.finished.notify_all()

    def settled(self) -> bool:
        """Everything ran, or (after a drop) nothing is running any more."""
        return self.done == len(self.items) or (self.dropped.is_set() and not self.running)

    def wait(self, timeout: float) -> bool:
        with self.finished:
            if not self.settled():
                self.finished.wait(timeout)
            return self.settled()


def run_all(fn: Callable[[T], None], items: Iterable[T], workers: int, *,
            cancel: threading.Event | None = None, on_abandon: Callable[[T], None] | None = None,
            grace: float | None = None, limit: float | None = None) -> list[T]:
    """Call `fn` on every item with up to `workers` threads; returns the items abandoned after a
    cancel (see the module doc). The first exception `fn` raised is raised once all have ended.
    A cancel that was already set when the batch started (a revert after Ctrl-C) abandons nothing:
    those steps are bounded by their own deadlines. With `limit`, the batch returns after that many
    seconds whatever is still running (for best-effort work such as closing connections)."""
    todo = list(items)
    if not todo:
        return []
    grace = GRACE if grace is None else grace
    watch = cancel if cancel is not None and not cancel.is_set() else None
    batch = _Batch(fn, todo, max(1, min(workers, len(todo))))
    abandoned: list[T] = []
    cancelled_at: float | None = None
    started = time.monotonic()
    while not batch.wait(POLL):
        if limit is not None and time.monotonic() - started >= limit:
            batch.dropped.set()
            break
        if watch is None or not watch.is_set():
            continue
        if cancelled_at is None:
            cancelled_at = time.monotonic()
            batch.dropped.set()
        elif time.monotonic() - cancelled_at >= grace:
            with batch.lock:
                stuck = sorted(batch.running)
            abandoned = [todo[i] for i in stuck]
            for item in abandoned:
                if on_abandon is not None:
                    on_abandon(item)
            break
    if batch.errors:
        raise batch.errors[0]
    return abandoned
