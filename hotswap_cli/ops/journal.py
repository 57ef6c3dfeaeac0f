"""Keeps the deploy journal (core.deploy.journal) true while a run goes: an event sink that writes
it to the remote before each phase touches anything, on a pause or an order, when a revert starts
and (in the background, the run not waiting) when the run starts and after each gate, and a
`finish` that closes it, or leaves it open naming the instances nobody can vouch for. Between
those writes it is also the live deploy record `status` and `watch` read on other machines:
instance states and the latest health figures are written in the background, at most every
LIVE_INTERVAL seconds, never holding the run up."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from hotswap_cli.core.deploy import journal as journals
from hotswap_cli.core.deploy.journal import Before, Entry, Journal
from hotswap_cli.core.deploy.ledger import utc_iso
from hotswap_cli.errors import HotswapError
from hotswap_cli.runner.events import (
    ControlReceived,
    DeployStarted,
    Event,
    GatePaused,
    HealthSampled,
    InstanceState,
    PhasePaused,
    PhasePrepared,
    PhaseStarted,
    RevertStarted,
    VerdictReached,
)

LIVE_INTERVAL = 2.0  # the live record (states, health figures) is pushed at most this often
HEARTBEAT = 30.0  # and at least this often, so a watcher can tell a quiet run from a dead one
SOON_LOOK = 0.02  # seconds between the background writer's looks for a write wanted at once

if TYPE_CHECKING:
    from hotswap_cli.core.versions.git import GitRepo
    from hotswap_cli.runner.results import DeployResult


class JournalKeeper:
    """An EventSink. Writing before a phase must succeed (the engine stops the run cleanly when it
    raises); later writes are best effort: the journal then errs on the side of 'may be touched'."""

    def __init__(self, git_repo: GitRepo, journal: Journal, names: dict[str, str]) -> None:
        self.git_repo = git_repo
        self.journal = journal
        self.names = names  # config hash -> version
        self.problem: str | None = None  # the last best-effort write that failed
        self._lock = threading.Lock()  # guards self.journal
        self._writing = threading.RLock()  # one write (or the close) at a time, in order
        self._dirty = threading.Event()
        self._soon = threading.Event()  # written at once by the background writer, not after LIVE_INTERVAL
        self._done = threading.Event()
        self._writer: threading.Thread | None = None

    def emit(self, event: Event) -> None:
        if isinstance(event, DeployStarted):
            self._write_soon()
            self._writer = threading.Thread(target=self._write_live, name="hotswap-live-record", daemon=True)
            self._writer.start()
        elif isinstance(event, PhaseStarted):
            with self._lock:
                self.journal = replace(self.journal, phase=event.number, phase_name=event.name, paused=None)
        elif isinstance(event, PhasePaused | GatePaused):
            until = getattr(event, "until", None)
            with self._lock:
                self.journal = replace(self.journal, paused={
                    "phase": event.phase, "reason": event.reason, "since": utc_iso(),
                    "until": utc_iso(time.time() + until) if until is not None else None})
            self._write(strict=False)
        elif isinstance(event, ControlReceived):
            with self._lock:
                self.journal = replace(self.journal, paused=None, controls=[*self.journal.controls, {
                    "id": event.id, "action": event.action, "by": event.by, "full": event.full, "at": utc_iso()}])
            self._write(strict=False)
        elif isinstance(event, HealthSampled) and not event.baseline:
            with self._lock:
                entry = self.journal.instances.get(event.instance)
                if entry is not None:
                    figures = {"probe": event.probe, "ok": event.ok, "no_data": event.no_data, "at": utc_iso(),
                               "error_rate": event.error_rate, "p99_ms": event.p99_ms}
                    self.journal.instances[event.instance] = replace(entry, health=figures)  # see _write
            self._dirty.set()
        elif isinstance(event, PhasePrepared):
            with self._lock:
                self.journal = self.journal.with_entries(**{
                    name: Entry(Before(present, sha, self.names.get(sha or "")), "pushing")
                    for name, present, sha in event.instances})
            self._write(strict=True)
        elif isinstance(event, InstanceState):
            with self._lock:
                entry = self.journal.instances.get(event.instance)
                if entry is not None and event.state in ("live", "healthy", "reverted", "failed", "unknown"):
                    self.journal.instances[event.instance] = replace(entry, state=event.state)
            self._dirty.set()
        elif isinstance(event, VerdictReached):
            self._write_soon()
        elif isinstance(event, RevertStarted):
            with self._lock:
                self.journal = replace(self.journal, state="reverting")
            self._write(strict=False)

    def finish(self, result: DeployResult) -> None:
        """Close the journal when every instance ended on a known config; else leave it open
        (`needs_recovery`) with the instances that did not. Best effort, like the ledger push."""
        unknown = {i.instance for i in result.instances
                   if i.revert_error is not None or i.state == "unknown"}
        self.stop()
        with self._writing:  # a live write still in flight (a slow push) lands before the close, none after
            try:
                if not unknown:
                    journals.close(self.git_repo, self.journal)
                    return
                with self._lock:
                    self.journal = replace(self.journal, state="needs_recovery", note=result.reason).with_entries(
                        **{name: replace(self.journal.instances[name], state="unknown")
                           for name in unknown if name in self.journal.instances})
                self._write(strict=True)
            except HotswapError as exc:
                self.problem = exc.message

    def stop(self) -> None:
        """Stop the background writer (waits for a write in flight)."""
        self._done.set()
        if self._writer is not None and self._writer is not threading.current_thread():
            self._writer.join(timeout=60)

    def _write(self, *, strict: bool, live: bool = False) -> None:
        with self._writing:
            if live and self._done.is_set():
                return  # the run has finished: its journal is being (or has been) closed
            with self._lock:  # entries change in place (a copy per event costs O(fleet)): copied per write
                current = replace(self.journal, instances=dict(self.journal.instances))
            try:
                journals.write(self.git_repo, current)
            except HotswapError as exc:
                if strict:
                    raise
                self.problem = exc.message
                return
            self.problem = None  # origin holds the latest journal: an earlier failed write no longer matters

    def _write_soon(self) -> None:
        """A best-effort write (the run started, a gate passed) by the background writer at once:
        the run goes on meanwhile (a rolling deploy waited for two git writes a batch), and the
        next phase's write, which must land before it touches anything, waits for this one."""
        self._soon.set()
        self._dirty.set()

    def _write_live(self) -> None:
        """The background writer: the latest states and figures, at most every LIVE_INTERVAL, and
        at once after _write_soon."""
        quiet_since = time.monotonic()
        while not self._done.is_set():
            if not self._dirty.wait(0.2) and time.monotonic() - quiet_since < HEARTBEAT:
                continue
            if self._done.is_set():
                return
            quiet_since = time.monotonic()
            self._dirty.clear()
            self._soon.clear()
            self._write(strict=False, live=True)
            pause = time.monotonic() + LIVE_INTERVAL
            while not (self._done.is_set() or self._soon.is_set()) and time.monotonic() < pause:
                self._done.wait(SOON_LOOK)
