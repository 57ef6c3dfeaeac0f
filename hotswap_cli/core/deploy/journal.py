"""The deploy journal: what a running deploy has done to each instance, kept on the remote next
to the lock (`refs/hotswap/journal/<profile>`) so that it survives `kill -9` of hotswap.

Before an instance is touched its journal entry says what it ran (the config's hash and, when
known, the version); the journal is rewritten as phases start, pass and revert, and closed when
the run ends with every instance on a known config. A journal that is still open when nobody
holds the lock belongs to a run that died (or left instances in an unknown state):
`hotswap rollback PROFILE` puts each of its instances back on what it ran before, and `deploy`
refuses to start over it without `--force`.

Only the lock holder writes the journal, so a forced push cannot lose anyone's update. Without
a remote the journal is the same ref in the local repo."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hotswap_cli.core.deploy import refdoc
from hotswap_cli.core.deploy.ledger import identity, utc_iso
from hotswap_cli.errors import RepoError

if TYPE_CHECKING:
    from hotswap_cli.core.versions.git import GitRepo

JOURNAL_PREFIX = "refs/hotswap/journal/"
SEEN_PREFIX = "refs/hotswap/remote/journal/"  # origin's journal as last fetched
JOURNAL_FILE = "journal.json"
OPEN_STATES = ("running", "reverting", "needs_recovery")


@dataclass(frozen=True)
class Before:
    """What an instance ran before the run touched it."""

    present: bool
    sha256: str | None = None  # config hash (comparable with versions); None when unreadable or absent
    version: str | None = None  # the version that hash names, when one does

    def to_dict(self) -> dict[str, Any]:
        return {"present": self.present, "sha256": self.sha256, "version": self.version}


@dataclass(frozen=True)
class Entry:
    """One instance: what it ran before, and where the run has got to with it."""

    before: Before
    state: str = "prepared"  # prepared | pushing | live | healthy | reverted | failed | unknown
    health: dict[str, Any] | None = None  # the latest sample's figures (error_rate, p99_ms, ok, at), live record

    def to_dict(self) -> dict[str, Any]:
        return {"before": self.before.to_dict(), "state": self.state,
                "health": dict(self.health) if self.health is not None else None}


@dataclass(frozen=True)
class Journal:
    id: str
    kind: str
    profile: str
    version: str
    sha256: str
    strategy: str
    who: str
    host: str
    pid: int
    started_at: str
    updated_at: str
    state: str = "running"  # running | reverting | needs_recovery | closed
    phase: int = 0
    phases: int = 0
    phase_name: str = ""
    instances: dict[str, Entry] = field(default_factory=dict)
    note: str = ""
    total: int = 0  # instances in the whole plan (the entries grow phase by phase)
    paused: dict[str, Any] | None = None  # {"phase", "reason", "since", "until"} while the run waits
    controls: list[dict[str, Any]] = field(default_factory=list)  # promote/resume/abort the run took

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES

    def with_entries(self, **changes: Entry) -> Journal:
        return replace(self, instances={**self.instances, **changes})

    def to_dict(self) -> dict[str, Any]:
        """As `dataclasses.asdict` would give it, written out: asdict deep-copies field by field,
        ~50 ms for a 1000-instance journal, written several times per run."""
        out = {f: getattr(self, f) for f in self.__dataclass_fields__ if f != "instances"}
        out["instances"] = {name: entry.to_dict() for name, entry in self.instances.items()}
        out["paused"] = dict(self.paused) if self.paused is not None else None
        out["controls"] = [dict(c) for c in self.controls]
        return out

    def describe(self) -> str:
        where = f"phase {self.phase}/{self.phases} ({self.phase_name})" if self.phase else "before its first phase"
        return (f"{self.kind} of {self.profile} {self.version} by {self.who} on {self.host} (pid {self.pid}), "
                f"started {self.started_at}, last written {self.updated_at} at {where}")

    def summary(self) -> str:
        """One line for `status` and `watch`: who, where, which phase, how many run the version."""
        on = sum(1 for e in self.instances.values() if e.state in ("live", "healthy"))
        total = self.total or len(self.instances)
        where = f"phase {self.phase}/{self.phases} ({self.phase_name})" if self.phase else "starting"
        line = (f"{self.kind} in progress by {self.who} on {self.host}, {where}, {on} of {total} on "
                f"{self.version}")
        if self.state == "reverting":
            line += ", REVERTING"
        if self.paused:
            until = f" until {self.paused['until']}" if self.paused.get("until") else ""
            line += (f", PAUSED after phase {self.paused.get('phase')}{until} ({self.paused.get('reason')}): "
                     f"`hotswap resume|promote|abort {self.profile}`")
        return line

    def touched(self) -> dict[str, Entry]:
        """Instances the run may have changed (every one it prepared: a push may have begun)."""
        return {n: e for n, e in self.instances.items() if e.state not in ("prepared", "reverted")}


def new_journal(git_repo: GitRepo, *, record_id: str, kind: str, profile: str, version: str, sha256: str,
                strategy: str, phases: int, total: int = 0) -> Journal:
    who, _ = identity(git_repo)
    now = utc_iso()
    return Journal(record_id, kind, profile, version, sha256, strategy, who, socket.gethostname(), os.getpid(),
                   now, now, phases=phases, total=total)


def _from_dict(data: dict[str, Any]) -> Journal:
    entries = {}
    for name, raw in (data.get("instances") or {}).items():
        before = raw.get("before") or {}
        entries[str(name)] = Entry(Before(bool(before.get("present")), before.get("sha256"), before.get("version")),
                                   str(raw.get("state", "prepared")), raw.get("health") or None)
    fields_ = {k: v for k, v in data.items() if k in Journal.__dataclass_fields__ and k != "instances"}
    return Journal(**fields_, instances=entries)


def settled_by(record: dict[str, Any] | None) -> bool:
    """Whether a ledger record of the journal's own run shows it ended with every instance on a
    known config: then the journal is stale (the run could not delete it, e.g. origin was gone)."""
    if not record:
        return False
    if "unknown_instances" in record:  # a summary (ledger.summary_of)
        unknown = bool(record["unknown_instances"])
    else:
        unknown = any(i.get("state") == "unknown" for i in record.get("instances") or [])
    return not record.get("unrestored") and not unknown and \
        record.get("status") in ("completed", "reverted", "failed_before_change", "interrupted", "aborted")


def read_open(git_repo: GitRepo, profile: str, records: list[dict[str, Any]] | None = None) -> Journal | None:
    """The profile's journal when it is open and no ledger record of its run settles it."""
    from hotswap_cli.core.deploy import ledger

    current = read(git_repo, profile)
    if current is None or not current.open:
        return None
    if records is None:
        records = ledger.read_records(git_repo, profile, summaries=True)
    own = next((r for r in records if r.get("id") == current.id), None)
    return None if settled_by(own) else current


def close_if_settled(git_repo: GitRepo, profile: str) -> None:
    """Under the lock: delete a journal its own run's ledger record settles (best effort)."""
    current = read(git_repo, profile)
    if current is not None and current.open and read_open(git_repo, profile) is None:
        try:
            close(git_repo, current)
        except RepoError:
            pass


def _ref(profile: str) -> str:
    return f"{JOURNAL_PREFIX}{profile}"


def write(git_repo: GitRepo, journal: Journal) -> Journal:
    """Store the journal (origin when there is one): before this returns, it is durable there."""
    journal = replace(journal, updated_at=utc_iso())
    refdoc.store(git_repo, _ref(journal.profile), JOURNAL_FILE, journal.to_dict(),
                 f"journal {journal.profile} {journal.version}: {journal.state} ({journal.id})", "the deploy journal")
    return journal


def close(git_repo: GitRepo, journal: Journal) -> None:
    """The run ended with every instance on a known config: remove the journal."""
    refdoc.delete(git_repo, _ref(journal.profile), "the deploy journal")


def read(git_repo: GitRepo, profile: str) -> Journal | None:
    """The profile's journal (from origin when there is one), or None."""
    ref = _ref(profile)
    try:
        found = refdoc.load(git_repo, ref, f"{SEEN_PREFIX}{profile}", JOURNAL_FILE, "the deploy journal")
        return _from_dict(found[0]) if found else None
    except (ValueError, TypeError, AttributeError) as exc:
        raise RepoError(f"the deploy journal of {profile} ({ref}) is unreadable: {exc}",
                        hint=f"look at it with `git show {ref}:{JOURNAL_FILE}`; delete it with "
                             f"`git push origin :{JOURNAL_PREFIX}{profile}` once the fleet is checked") from None
