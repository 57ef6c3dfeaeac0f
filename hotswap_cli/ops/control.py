"""Orders for a running deploy from anywhere. The run: a thread reads the control ref
(core.deploy.control) every HOTSWAP_CONTROL_POLL seconds (2s) and hands the engine each control
meant for this run once (the latest control wins: two sent within one poll, only the second is
seen). The sender: `send_order` writes one and waits until the run's live record lists it;
`follow` shows the live record as it changes until the run's ledger record appears."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotswap_cli.core.deploy import control
from hotswap_cli.core.deploy.control import Control
from hotswap_cli.core.deploy.journal import Journal
from hotswap_cli.errors import HotswapError, RepoError
from hotswap_cli.ops.journal import HEARTBEAT
from hotswap_cli.runner.pause import Order

if TYPE_CHECKING:
    from hotswap_cli.core.versions.git import GitRepo

DEFAULT_POLL = 2.0
SILENT_LIMIT = 3 * HEARTBEAT  # `watch` gives up on a run whose live record stays unchanged this long


def poll_interval() -> float:
    try:
        return max(0.05, float(os.environ.get("HOTSWAP_CONTROL_POLL", DEFAULT_POLL)))
    except ValueError:
        return DEFAULT_POLL


class OrderPoller:
    """Callable as the engine's `orders`: the next unseen order for run `run_id`, or None."""

    def __init__(self, git_repo: GitRepo, profile: str, run_id: str, poll: float | None = None) -> None:
        self.git_repo = git_repo
        self.profile = profile
        self.run_id = run_id
        self.poll = poll if poll is not None else poll_interval()
        self._orders: deque[Order] = deque()
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hotswap-orders", daemon=True)
        self._thread.start()

    def __call__(self) -> Order | None:
        return self._orders.popleft() if self._orders else None

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                found = control.read(self.git_repo, self.profile)
            except HotswapError:
                continue  # origin unreachable for a moment: try again next poll
            if found is not None and found.run == self.run_id and found.id not in self._seen:
                self._seen.add(found.id)
                self._orders.append(Order(found.action, found.by, found.full, found.id))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@dataclass(frozen=True)
class Sent:
    """A control sent to a run, and what became of it."""

    control: Control
    run: Journal
    taken: bool  # the run's live record lists it (it acted on it)
    ended: dict[str, Any] | None = None  # the run's ledger record, when the run ended meanwhile


def send_order(root: Path, profile: str, action: str, *, full: bool = False, wait: float = 30.0,
               clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Sent:
    """Send promote/resume/abort to the profile's running deploy and wait (up to `wait` seconds)
    until its live record says it took it. RepoError when no deploy of the profile is running."""
    from hotswap_cli.core.deploy import journal, ledger
    from hotswap_cli.core.deploy.prepare import open_git
    from hotswap_cli.core.versions.release import require_profile

    git_repo = open_git(root)
    run = journal.read_open(git_repo, profile)
    if run is None or run.state not in ("running", "reverting"):
        require_profile(git_repo, profile)  # a typo is not "no deploy is running"
        last = next(iter(ledger.read_records(git_repo, profile)), None)
        ended = f" (the last one: {last['id']} {last['status']})" if last else ""
        raise RepoError(f"no deploy of {profile} is running{ended}", hint=f"see `hotswap status {profile}`")
    if action == "resume" and not run.paused:
        raise RepoError(f"the deploy of {profile} is not paused: {run.summary()}",
                        hint=f"`hotswap promote {profile}` ends the current bake early; `abort` reverts it")
    sent = control.send(git_repo, profile, run.id, action, full=full)
    end = clock() + wait
    while clock() < end:
        sleep(0.5)
        now = journal.read(git_repo, profile)
        if now is None or now.id != run.id or not now.open:
            if git_repo.has_remote():
                ledger.refresh(git_repo)
            record = next((r for r in ledger.read_records(git_repo, profile) if r.get("id") == run.id), None)
            taken = any(c.get("id") == sent.id for c in (record or {}).get("controls") or [])
            return Sent(sent, run, taken=taken, ended=record)
        if any(c.get("id") == sent.id for c in now.controls):
            return Sent(sent, now, taken=True)
    return Sent(sent, run, taken=False)


def follow(root: Path, profile: str, show: Callable[[Journal], None], *, interval: float = 1.0,
           clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Show the profile's running deploy each time its live record changes, until the run ends;
    returns its ledger record. RepoError when none is running, or when its runner died."""
    from hotswap_cli.core.deploy import journal, ledger, lock
    from hotswap_cli.core.deploy.prepare import open_git
    from hotswap_cli.core.versions.release import require_profile

    git_repo = open_git(root)
    run = journal.read_open(git_repo, profile)
    if run is None:
        require_profile(git_repo, profile)
        last = next(iter(ledger.read_records(git_repo, profile)), None)
        ended = f" (the last one: {last['id']} {last['status']} at {last.get('finished_at')})" if last else ""
        raise RepoError(f"no deploy of {profile} is running{ended}",
                        hint=f"`hotswap deployments {profile}` lists past runs")
    show(run)
    seen, heard, gone = run.updated_at, clock(), 0
    while True:
        sleep(interval)
        try:
            now = journal.read(git_repo, profile)
        except RepoError:
            if clock() - heard > SILENT_LIMIT:
                raise
            continue  # origin unreachable for a moment: the silence limit decides when to give up
        if now is None or now.id != run.id or not now.open:
            if git_repo.has_remote():
                ledger.refresh(git_repo)
            record = next((r for r in ledger.read_records(git_repo, profile) if r.get("id") == run.id), None)
            if record is not None:
                return record
            continue  # the journal closes just after the record is pushed: read again
        if now.state == "needs_recovery":
            raise RepoError(f"the deploy of {profile} ended with instances in an unknown state: {now.note}",
                            hint=f"`hotswap rollback {profile}` puts them back")
        holder = lock.read_holder(git_repo, profile)
        if holder is None or holder.stale:
            # the run closes its journal, then releases the lock: a journal read just before the
            # close and a lock read just after it look alike, so read the record before giving up
            if git_repo.has_remote():
                ledger.refresh(git_repo)
            record = next((r for r in ledger.read_records(git_repo, profile) if r.get("id") == run.id), None)
            if record is not None:
                return record
            gone += 1
            if gone >= 2:
                raise RepoError(f"the deploy of {profile} stopped without finishing: its runner is gone "
                                f"({now.describe()})", hint=f"`hotswap rollback {profile}` puts its instances back")
            continue
        gone = 0
        if now.updated_at != seen:
            seen, heard = now.updated_at, clock()
            show(now)
        elif clock() - heard > SILENT_LIMIT:
            raise RepoError(f"no word from the deploy of {profile} for {SILENT_LIMIT:g}s (it writes every "
                            f"{HEARTBEAT:g}s while it runs): {now.describe()}",
                            hint=f"if its runner is gone, `hotswap rollback {profile}` puts its instances back")
