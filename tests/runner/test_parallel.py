"""runner.parallel: batches run on worker threads kept between batches, never more at once than asked,
every item run once, nothing of one job's context seen by the next."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest

from hotswap_cli.runner import parallel
from hotswap_cli.runner.parallel import _Workers, run_all

MARK: contextvars.ContextVar[str] = contextvars.ContextVar("mark", default="fresh")


def gathered(workers: _Workers, copies: int) -> set[int]:
    """Run a job on `copies` threads that all wait for each other (so each copy has its own thread)."""
    barrier, idents, done = threading.Barrier(copies, timeout=10), set(), threading.Semaphore(0)
    lock = threading.Lock()

    def job() -> None:
        barrier.wait()
        with lock:
            idents.add(threading.get_ident())
        done.release()

    workers.run(job, copies)
    for _ in range(copies):
        assert done.acquire(timeout=10)
    return idents


def test_a_second_batch_runs_on_the_first_ones_threads() -> None:
    workers = _Workers()
    first = gathered(workers, 8)
    time.sleep(0.05)  # the threads go back to waiting
    second = gathered(workers, 8)
    assert len(first) == 8 and second == first
    assert workers._started == 8


def test_a_bigger_batch_starts_threads_only_for_what_idle_ones_cannot_take() -> None:
    workers = _Workers()
    gathered(workers, 4)
    time.sleep(0.05)
    assert len(gathered(workers, 10)) == 10
    assert workers._started == 10


def test_idle_threads_end_and_new_ones_are_started_when_work_comes_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "IDLE", 0.1)
    workers = _Workers()
    first = gathered(workers, 3)
    deadline = time.monotonic() + 5
    while workers._idle and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workers._idle == 0
    assert not {t.ident for t in threading.enumerate()} & first  # they ended
    assert len(gathered(workers, 3)) == 3
    assert workers._started == 6


def test_batches_from_many_threads_at_once_all_finish_with_every_item_run_once() -> None:
    counts: dict[tuple[int, int], int] = {}
    lock = threading.Lock()

    def batch(b: int) -> None:
        def item(i: int) -> None:
            time.sleep(0.001 * (i % 3))
            with lock:
                counts[(b, i)] = counts.get((b, i), 0) + 1
        run_all(item, range(30), 4)

    callers = [threading.Thread(target=batch, args=(b,)) for b in range(12)]
    for t in callers:
        t.start()
    for t in callers:
        t.join(30)
    assert not any(t.is_alive() for t in callers), "a batch never finished"
    assert counts == {(b, i): 1 for b in range(12) for i in range(30)}


def test_no_more_run_at_once_than_the_batch_asks() -> None:
    running, peak, lock = [0], [0], threading.Lock()

    def item(_: int) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1

    run_all(item, range(40), 16)  # leaves 16 idle threads behind
    peak[0] = 0
    run_all(item, range(40), 3)
    assert peak[0] == 3


def test_a_job_sees_nothing_of_an_earlier_jobs_context() -> None:
    workers, seen, done = _Workers(), [], threading.Semaphore(0)

    def job() -> None:
        seen.append((threading.get_ident(), MARK.get()))
        MARK.set("dirty")
        done.release()

    for _ in range(3):
        workers.run(job, 1)
        assert done.acquire(timeout=10)
        time.sleep(0.02)  # back to waiting, so the next job reuses it
    assert len({ident for ident, _ in seen}) == 1  # one thread served all three
    assert [mark for _, mark in seen] == ["fresh", "fresh", "fresh"]


def test_an_item_that_raises_is_raised_after_the_rest_ran() -> None:
    ran: list[int] = []

    def item(i: int) -> None:
        if i == 2:
            raise ValueError("two")
        ran.append(i)

    with pytest.raises(ValueError, match="two"):
        run_all(item, range(6), 2)
    assert sorted(ran) == [0, 1, 3, 4, 5]
    assert sorted(run_all(lambda i: ran.append(i), range(2), 2)) == []  # the threads still serve
