"""io.watchdog: one thread ends every lapsed wait, on time, once; a wait that moves or ends is left alone."""

from __future__ import annotations

import threading
import time

from hotswap_cli.io.watchdog import COMPACT_AT, Watchdog


def expiring(dog: Watchdog, at: float, log: list[str], name: str) -> threading.Event:
    fired = threading.Event()

    def expire() -> None:
        log.append(name)
        fired.set()

    dog.watch(lambda: at, expire)
    return fired


def test_a_lapsed_wait_is_expired_once_at_its_time() -> None:
    dog, log = Watchdog(), []
    start = time.monotonic()
    fired = expiring(dog, start + 0.2, log, "a")
    assert fired.wait(5)
    assert time.monotonic() - start >= 0.2
    time.sleep(0.2)
    assert log == ["a"] and dog.pending() == 0


def test_a_wait_that_keeps_moving_is_not_expired_until_it_stops() -> None:
    dog, moved, fired = Watchdog(), [time.monotonic()], threading.Event()
    dog.watch(lambda: moved[0] + 0.15, fired.set)
    start = time.monotonic()
    while time.monotonic() - start < 0.6:  # bytes move every 50 ms: never 150 ms of silence
        moved[0] = time.monotonic()
        assert not fired.is_set()
        time.sleep(0.05)
    assert fired.wait(5)  # silence from here on
    assert time.monotonic() - moved[0] >= 0.15


def test_a_cancelled_wait_is_never_expired() -> None:
    dog, fired = Watchdog(), threading.Event()
    entry = dog.watch(lambda: time.monotonic() + 0.1, fired.set)
    dog.cancel(entry)
    dog.cancel(entry)  # twice (a step's error path and its finally): harmless
    assert not fired.wait(0.4)
    assert dog.pending() == 0


def test_an_earlier_deadline_wakes_the_watchdog_from_a_longer_sleep() -> None:
    dog, log = Watchdog(), []
    now = time.monotonic()
    late = dog.watch(lambda: now + 30, lambda: log.append("late"))
    early = expiring(dog, now + 0.1, log, "early")
    assert early.wait(5), "the watchdog slept towards the 30 s deadline"
    dog.cancel(late)
    assert log == ["early"]


def test_a_slow_expiry_does_not_hold_up_another_deadline() -> None:
    dog, release, log = Watchdog(), threading.Event(), []
    now = time.monotonic()
    dog.watch(lambda: now + 0.05, lambda: release.wait(10))  # a close that hangs
    fired = expiring(dog, now + 0.1, log, "second")
    try:
        assert fired.wait(5)
    finally:
        release.set()


def test_an_entry_that_raises_when_asked_is_expired_and_the_watchdog_goes_on() -> None:
    dog, log = Watchdog(), []
    broken = threading.Event()

    def due() -> float:
        if broken.is_set():
            raise RuntimeError("gone")
        return time.monotonic() + 0.05

    first = threading.Event()
    dog.watch(due, first.set)
    broken.set()
    assert first.wait(5)
    assert expiring(dog, time.monotonic() + 0.05, log, "next").wait(5)


def test_many_short_waits_leave_no_entries_behind() -> None:
    dog = Watchdog()
    for _ in range(COMPACT_AT * 4):  # steps that end long before their 60 s deadline
        dog.cancel(dog.watch(lambda: time.monotonic() + 60, lambda: None))
    assert dog.pending() == 0
    assert len(dog._heap) < COMPACT_AT  # compacted, not grown by every step
