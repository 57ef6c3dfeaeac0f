"""Keeps the deploy journal (core.deploy.journal) true while a run goes: an event sink that writes
it to the remote before each phase touches anything, after each gate and when a revert starts,
and a `finish` that closes it, or leaves it open naming the instances nobody can vouch for."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING

from hotswap_cli.core.deploy import journal as journals
from hotswap_cli.core.deploy.journal import Before, Entry, Journal
from hotswap_cli.errors import HotswapError
from hotswap_cli.runner.events import (
    DeployStarted,
    Event,
    InstanceState,
    PhasePrepared,
    PhaseStarted,
    RevertStarted,
    VerdictReached,
)

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
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        if isinstance(event, DeployStarted):
            self._write(strict=False)
        elif isinstance(event, PhaseStarted):
            with self._lock:
                self.journal = replace(self.journal, phase=event.number, phase_name=event.name)
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
                    self.journal = self.journal.with_entries(**{event.instance: replace(entry, state=event.state)})
        elif isinstance(event, VerdictReached):
            self._write(strict=False)
        elif isinstance(event, RevertStarted):
            with self._lock:
                self.journal = replace(self.journal, state="reverting")
            self._write(strict=False)

    def finish(self, result: DeployResult) -> None:
        """Close the journal when every instance ended on a known config; else leave it open
        (`needs_recovery`) with the instances that did not. Best effort, like the ledger push."""
        unknown = {i.instance for i in result.instances
                   if i.revert_error is not None or i.state == "unknown"}
        try:
            if not unknown:
                journals.close(self.git_repo, self.journal)
                return
            with self._lock:
                self.journal = replace(self.journal, state="needs_recovery", note=result.reason).with_entries(**{
                    name: replace(self.journal.instances[name], state="unknown")
                    for name in unknown if name in self.journal.instances})
            self._write(strict=True)
        except HotswapError as exc:
            self.problem = exc.message

    def _write(self, *, strict: bool) -> None:
        with self._lock:
            current = self.journal
        try:
            journals.write(self.git_repo, current)
        except HotswapError as exc:
            if strict:
                raise
            self.problem = exc.message
