"""`hotswap status`: what each instance runs (a version, or drift), its health now, the last deploy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from hotswap_cli.core.config.configrepo import ConfigRepo
from hotswap_cli.core.config.profile import load_profile
from hotswap_cli.specs import Target, check_env


@dataclass(frozen=True)
class InstanceStatus:
    instance: str
    running: str  # a version name, "none", "unknown: drifted", "unreachable"
    sha256: str | None
    drifted: bool  # differs from what the last successful deployment pushed
    healthy: bool | None  # None: no probes, or no data
    health: str  # short human summary of the probes' readings
    error: str | None = None
    readings: tuple[dict[str, Any], ...] = ()  # each probe's figures: probe, ok, no_data, error_rate, p99_ms, ...
    version: str | None = None  # the version it runs, when its hash names one

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "readings": list(self.readings)}


@dataclass(frozen=True)
class RunInProgress:
    """An open deploy journal: a run going on now (its lock holder alive or elsewhere), or one that
    died or left instances unknown (`interrupted`: `hotswap rollback` recovers it)."""

    state: str  # running | interrupted
    description: str
    lock: str | None  # who holds the lock, as lock.Holder.describe() says
    instances: dict[str, str]  # instance -> where the run got to with it (pushing, live, unknown...)
    version: str
    sha256: str
    summary: str = ""  # "deploy in progress by ..., phase 2/4 (canary 30%), 3 of 10 on 1.4.0"
    id: str = ""  # the run's id (its ledger record's, once written)
    paused: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ProfileStatus:
    profile: str
    instances: tuple[InstanceStatus, ...]
    last_deployment: dict[str, Any] | None
    run: RunInProgress | None = None
    lock: str | None = None  # a held lock with no open journal (a run before its first write, or stale)

    def to_dict(self) -> dict[str, Any]:
        last = self.last_deployment
        return {"profile": self.profile, "instances": [i.to_dict() for i in self.instances],
                "last_deployment": {k: last.get(k) for k in ("id", "kind", "version", "status", "who",
                                                             "started_at", "reason")} if last else None,
                "run": self.run.to_dict() if self.run else None, "lock": self.lock}

    @property
    def problem(self) -> bool:
        """What makes `status` exit 1: drift, failing health, an unreachable instance, an interrupted run."""
        return (self.run is not None and self.run.state == "interrupted") or \
            any(r.drifted or r.healthy is False or r.error for r in self.instances)


def run_in_progress(git_repo: Any, profile: str,
                    records: list[dict[str, Any]]) -> tuple[RunInProgress | None, str | None]:
    """The profile's open journal (with its lock holder), and a held lock's description."""
    from hotswap_cli.core.deploy import journal, lock

    holder = lock.read_holder(git_repo, profile)
    held = holder.describe() if holder else None
    current = journal.read_open(git_repo, profile, records)
    if current is None:
        return None, held
    alive = holder is not None and not holder.stale and current.state != "needs_recovery"
    return RunInProgress("running" if alive else "interrupted", current.describe(), held,
                         {n: e.state for n, e in sorted(current.instances.items())}, current.version,
                         current.sha256, current.summary(), current.id, current.paused), held


class _Look:
    """One instance read for `status`: its current config and its probes' samples. The probes are
    opened before the read's transport is closed, so they share its connection (io.http.client_for)."""

    def __init__(self, target: Target, open_transport: Callable[[Target], Any],
                 open_probes: Callable[[Target], Sequence[Any]]) -> None:
        from hotswap_cli.ops.live import close_quietly, read_one

        self.item = read_one(target, open_transport, keep=True)
        self.probes: list[Any] = []
        self.samples: list[Any] = []
        self.error: str | None = None
        try:
            self.probes = list(open_probes(target))
        except Exception as exc:  # noqa: BLE001 - reported in the instance's row
            self.error = str(exc)
        finally:
            if self.item.kept is not None:
                close_quietly(self.item.kept.transport)
        self.scrapes = any(p.kind == "metrics" for p in self.probes)  # a rate needs a second scrape
        try:
            self.samples = [p.sample() for p in self.probes]
        except BaseException:
            self.close()
            raise
        if not self.scrapes:
            self.close()  # done with: only probes that scrape again stay open through the pause

    def scrape_again(self) -> _Look:
        """Rates need two scrapes: the metrics probes sample again (the others keep their sample)."""
        try:
            self.samples = [p.sample() if p.kind == "metrics" else s
                            for p, s in zip(self.probes, self.samples, strict=True)]
        finally:
            self.close()
        return self

    def close(self) -> None:
        probes, self.probes = self.probes, []
        for p in probes:
            p.close()

    def health(self) -> tuple[bool | None, str, tuple[dict[str, Any], ...]]:
        """(every check passed, None when none says; a summary; each probe's figures)."""
        if self.error is not None:
            return False, f"probe error: {self.error}", ({"probe": None, "error": self.error},)
        if not self.samples:
            return None, "no probes", ()
        parts, verdicts = [], []
        for s in self.samples:
            if s.no_data:
                parts.append(f"{s.probe}: no data")
                continue
            if s.ok is not None:
                verdicts.append(s.ok)
                parts.append(f"{s.probe}: {'ok' if s.ok else 'FAIL'}"
                             + (f" {s.latency_ms:.0f}ms" if s.latency_ms is not None else ""))
            if s.error_rate is not None:
                parts.append(f"errors {s.error_rate * 100:.1f}%")
            if s.p99_ms is not None:
                parts.append(f"p99 {s.p99_ms:.0f}ms")
        readings = tuple({"probe": s.probe, "ok": s.ok, "no_data": s.no_data, "error_rate": s.error_rate,
                          "p99_ms": s.p99_ms, "latency_ms": s.latency_ms, "requests": s.requests,
                          "errors": s.errors, "detail": s.detail or None} for s in self.samples)
        return (all(verdicts) if verdicts else None), ", ".join(parts), readings


def _look_all(targets: Sequence[Target], open_transport: Callable[[Target], Any],
              open_probes: Callable[[Target], Sequence[Any]], gap: float) -> list[_Look]:
    """Every instance read and sampled in parallel, one connection each; where a metrics probe needs
    a rate, one pause of `gap` seconds for the whole fleet, then its second scrape."""
    import time

    looks: list[_Look] = []
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(50, len(targets)))) as pool:
            for look in pool.map(lambda t: _Look(t, open_transport, open_probes), targets):
                looks.append(look)
            if any(look.scrapes for look in looks):
                time.sleep(gap)
                list(pool.map(lambda look: look.scrape_again() if look.scrapes else look, looks))
    finally:
        for look in looks:
            look.close()
    return looks


def profile_status(root: Path, profile_name: str, *, open_transport: Callable[..., Any] | None = None,
                   open_probes: Callable[[Target], Sequence[Any]] | None = None,
                   metrics_gap: float = 1.0) -> ProfileStatus:
    from hotswap_cli.core.approvals.trust import load_trust_root
    from hotswap_cli.core.deploy import ledger
    from hotswap_cli.core.deploy.prepare import live_version_names, open_git
    from hotswap_cli.ops.backends import open_probes as default_probes
    from hotswap_cli.ops.backends import open_transport as default_transport
    profile = load_profile(ConfigRepo.open(root), profile_name, registry=True)
    git_repo = open_git(root)
    allowed = load_trust_root(git_repo).allowed_env()
    check_env(profile.targets, allowed)  # before anything connects
    ledger.refresh(git_repo)  # offline: the local ledger still answers
    records = ledger.read_records(git_repo, profile_name, summaries=True)
    names = live_version_names(git_repo, profile_name, records)
    good = next((r for r in records if r.get("status") == "completed"), None)
    expected = good.get("sha256") if good else None
    run, held = run_in_progress(git_repo, profile_name, records)
    looks = _look_all(profile.targets, open_transport or partial(default_transport, allowed_env=allowed,
                                                                     profile=profile_name),
                      open_probes or partial(default_probes, allowed_env=allowed), metrics_gap)

    def one(target: Target, look: _Look) -> InstanceStatus:
        item = look.item
        healthy, health, readings = look.health()
        if item.error:
            return InstanceStatus(target.name, "unreachable", None, False, healthy, health, item.error, readings)
        if not item.present:
            return InstanceStatus(target.name, "none", None, expected is not None, healthy, health,
                                  readings=readings)
        name = names.get(item.sha256 or "")
        pushed = ((good or {}).get("payloads") or {}).get(target.name, expected)  # a text payload: its bytes
        drifted = pushed is not None and item.sha256 != pushed
        running = name if name else "unknown: drifted"
        if run is not None and target.name in run.instances and item.sha256 == run.sha256:
            # the run in progress (or the interrupted one) put it there: not drift
            running, name, drifted = f"{run.version} ({run.state})", run.version, False
        elif run is not None and run.state == "running" and target.name in run.instances:
            drifted = False  # not yet reached, or reverted, by the run going on now
        return InstanceStatus(target.name, running, item.sha256, drifted or name is None, healthy, health,
                              readings=readings, version=name)

    rows = tuple(one(t, look) for t, look in zip(profile.targets, looks, strict=True))
    return ProfileStatus(profile_name, rows, records[0] if records else None, run,
                         held if run is None else None)
