"""A deployment's report (`hotswap deployments show ID`): its ledger record found by id in any
profile's ledger, read into typed rows (each instance's states with times, every verdict's figures,
each instance's health series against its thresholds), and the config diff from what the profile
ran before. The CLI renders it as text, markdown or one HTML file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from hotswap_cli.errors import HotswapError

if TYPE_CHECKING:
    from hotswap_cli.core.versions.diff import ConfigDiff
    from hotswap_cli.core.versions.git import GitRepo

MIN_PREFIX = 8  # characters of an id that may stand for it when only one record starts with them


@dataclass(frozen=True)
class StateChange:
    t: float | None  # seconds since the run started (None: only the wall time is known)
    at: str  # wall clock, UTC, HH:MM:SS
    state: str
    detail: str = ""


@dataclass(frozen=True)
class InstanceLine:
    """One instance: where it ended, and each state it went through."""

    instance: str
    state: str
    phase: int | None
    touched: bool
    error: str
    changes: tuple[StateChange, ...]


@dataclass(frozen=True)
class Figure:
    """One gate rule's answer for one instance, with its numbers as text."""

    instance: str
    rule: str
    outcome: str
    measured: str
    baseline: str
    threshold: str
    text: str


@dataclass(frozen=True)
class VerdictLine:
    phase: int
    ok: bool
    outcome: str
    confidence: float
    decided_by: str
    summary: str
    figures: tuple[Figure, ...]
    notes: tuple[str, ...] = ()


Point = tuple[float, float | None, float | None]  # t seconds, error rate 0..1, p99 ms


@dataclass(frozen=True)
class Series:
    """An instance's health samples before its push (baseline) and after, and the gate's lines."""

    instance: str
    outcome: str  # pass | fail | inconclusive | "" (never judged)
    before: tuple[Point, ...]
    after: tuple[Point, ...]
    baseline_rate: float | None = None
    error_threshold: float | None = None  # error rate 0..1 above which the gate fails
    baseline_p99_ms: float | None = None
    p99_threshold_ms: float | None = None
    live_at: float | None = None
    reverted_at: float | None = None
    folded: int = 1  # samples per point (each point keeps the worst of them)


@dataclass(frozen=True)
class Mark:
    t: float
    kind: str
    text: str
    phase: int | None = None


@dataclass(frozen=True)
class Report:
    record: dict[str, Any]
    previous: dict[str, Any] | None  # the profile's completed run before this one: what ran before
    diff: ConfigDiff | None
    diff_note: str  # why there is no diff, or what it is between
    instances: tuple[InstanceLine, ...]
    verdicts: tuple[VerdictLine, ...]
    series: tuple[Series, ...]
    marks: tuple[Mark, ...]
    duration: float

    @property
    def approvals(self) -> list[str]:
        return [str(a) for a in self.record.get("approvals") or []]


def find_record(git_repo: GitRepo, record_id: str, profile: str | None = None) -> dict[str, Any]:
    """The record with this id (or the one id starting with it) in the ledger of any profile."""
    from hotswap_cli.core.deploy.ledger import read_records

    records = read_records(git_repo, profile)
    exact = [r for r in records if r.get("id") == record_id]
    if exact:
        return exact[0]
    where = f"{profile}'s ledger" if profile else "the ledger"
    starting = [r for r in records if len(record_id) >= MIN_PREFIX and str(r.get("id", "")).startswith(record_id)]
    if len(starting) == 1:
        return starting[0]
    if starting:
        raise HotswapError(f"{record_id!r} names {len(starting)} deployments in {where}: give more of the id")
    raise HotswapError(f"no deployment {record_id!r} in {where}")


def previous_record(git_repo: GitRepo, record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The profile's newest completed deploy or rollback that started before `record`."""
    from hotswap_cli.core.deploy.ledger import read_records

    later = True
    for r in read_records(git_repo, str(record["profile"])):
        if r.get("id") == record.get("id"):
            later = False
            continue
        if not later and r.get("status") == "completed" and str(r.get("started_at", "")) <= \
                str(record.get("started_at", "")):
            return r
    return None


def build_report(git_repo: GitRepo, record: dict[str, Any], *, key: bytes | None = None) -> Report:
    """Everything `deployments show` prints about `record`."""
    previous = previous_record(git_repo, record)
    diff, note = config_change(git_repo, record, previous, key)
    timeline = record.get("timeline") or {}
    marks = tuple(Mark(float(m[0]), str(m[1]), str(m[2]), m[3] if len(m) > 3 else None)
                  for m in timeline.get("marks", []))
    duration = float(timeline.get("duration_s") or record.get("duration_s") or 0.0)
    return Report(record, previous, diff, note, instance_lines(record), verdict_lines(record),
                  health_series(record), marks, duration)


def _ref(record: Mapping[str, Any]) -> str | None:
    return record.get("commit") or record.get("version") or None


def config_change(git_repo: GitRepo, record: Mapping[str, Any], previous: Mapping[str, Any] | None,
                  key: bytes | None) -> tuple[ConfigDiff | None, str]:
    """The diff from the config the profile ran before to this record's (secrets masked)."""
    from hotswap_cli.core.versions.diff import diff_configs
    from hotswap_cli.core.versions.history import config_at

    profile, new_ref = str(record["profile"]), _ref(record)
    if previous is None:
        return None, "no completed deployment of this profile before this one: nothing to compare with"
    if new_ref is None or _ref(previous) is None:
        return None, "the record does not say which commit it deployed"
    label = f"{previous.get('version') or '?'} ({previous.get('id')}) -> {record.get('version') or '?'}"
    if previous.get("sha256") and previous.get("sha256") == record.get("sha256"):
        return None, f"{label}: the same config"
    try:
        old, new = config_at(git_repo, profile, str(_ref(previous))), config_at(git_repo, profile, str(new_ref))
    except HotswapError as exc:
        return None, f"{label}: cannot render both sides here: {exc.message}"
    return diff_configs(old.data, new.data, old.schema, new.schema, key=key), label


def wall(record: Mapping[str, Any], t: float | None) -> str:
    """HH:MM:SS (UTC) of `t` seconds after the record's start."""
    try:
        start = datetime.strptime(str(record.get("started_at")), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return ""
    return (start + timedelta(seconds=t or 0.0)).strftime("%H:%M:%S")


def _offset(record: Mapping[str, Any], iso: Any) -> float | None:
    try:
        start = datetime.strptime(str(record.get("started_at")), "%Y-%m-%dT%H:%M:%SZ")
        return (datetime.strptime(str(iso), "%Y-%m-%dT%H:%M:%SZ") - start).total_seconds()
    except ValueError:
        return None


def instance_lines(record: Mapping[str, Any]) -> tuple[InstanceLine, ...]:
    """Each instance's states with times: the timeline's when the record has one, else the
    start, finish and revert times every record keeps."""
    states = (record.get("timeline") or {}).get("states", {})
    out = []
    for row in record.get("instances", []):
        name = str(row.get("instance", ""))
        if name in states:
            changes = tuple(StateChange(float(s[0]), wall(record, float(s[0])), str(s[1]),
                                        str(s[2]) if len(s) > 2 else "") for s in states[name])
        else:
            steps = [("started", row.get("started_at")), (row.get("state", "") if not row.get("reverted_at")
                                                          else "pushed", row.get("finished_at")),
                     ("reverted", row.get("reverted_at"))]
            changes = tuple(StateChange(_offset(record, at), str(at)[11:19], str(state)) for state, at in steps if at)
        out.append(InstanceLine(name, str(row.get("state", "")), row.get("phase"), bool(row.get("touched")),
                                str(row.get("error") or row.get("revert_error") or ""), changes))
    return tuple(out)


def verdict_lines(record: Mapping[str, Any]) -> tuple[VerdictLine, ...]:
    out = []
    for v in record.get("verdicts", []):
        figures, notes = [], []
        for inst in v.get("instances", []):
            name = str(inst.get("instance", ""))
            figures += [figure(name, f) for f in inst.get("findings", [])]
            notes += [f"{name}: {n}" for n in inst.get("notes", [])]
        out.append(VerdictLine(int(v.get("phase") or 0), bool(v.get("ok")), str(v.get("outcome", "")),
                               float(v.get("confidence") or 0.0), str(v.get("decided_by") or ""),
                               str(v.get("summary", "")), tuple(figures), tuple(notes)))
    return tuple(out)


def _pct(x: Any, digits: int = 2) -> str:
    return "-" if x is None else f"{float(x) * 100:.{digits}f}%"


def _n(x: Any) -> str:
    return "?" if x is None else f"{float(x):.0f}"


def _ms(x: Any) -> str:
    return "-" if x is None else f"{float(x):.0f}ms"


def figure(instance: str, f: Mapping[str, Any]) -> Figure:
    """A finding (runner/gate.py's Finding.to_dict) as measured / baseline / threshold text."""
    rule, outcome, text = str(f.get("rule", "")), str(f.get("outcome", "")), str(f.get("text", ""))
    if rule == "error_rate":
        return Figure(instance, rule, outcome, f"{_pct(f.get('rate'))} ({_n(f.get('errors'))}/{_n(f.get('requests'))})",
                      f"{_pct(f.get('baseline_rate'))} ({_n(f.get('baseline_errors'))}/"
                      f"{_n(f.get('baseline_requests'))})" if f.get("baseline_rate") is not None else "0% (none)",
                      f"rise <= {f.get('threshold_pp', 0):g}pp (measured {f.get('rise_low_pp', 0):+.1f}.."
                      f"{f.get('rise_high_pp', 0):+.1f}pp)", text)
    if rule == "latency":
        return Figure(instance, rule, outcome, f"p99 {_ms(f.get('p99_ms'))}",
                      f"p99 {_ms(f.get('baseline_p99_ms'))} ({_n(f.get('baseline_requests'))} requests)",
                      f"< 1% of requests over {_ms(f.get('limit_ms'))} (+{f.get('threshold_pct', 0):g}%); "
                      f"measured {_pct(f.get('share_low'), 1)}..{_pct(f.get('share_high'), 1)}", text)
    if rule in ("checks", "failure_limit", "consecutive"):
        return Figure(instance, rule, outcome, f"{_n(f.get('failed'))}/{_n(f.get('checks'))} failed",
                      f"{_n(f.get('baseline_failed'))}/{_n(f.get('baseline_checks'))} failed",
                      f"<= {f.get('threshold_pct', 0):g}% failing", text)
    return Figure(instance, rule, outcome, "-", "-", "-", text)


def _points(rows: Sequence[Sequence[Any]]) -> tuple[Point, ...]:
    return tuple((float(r[0]), None if r[1] is None else float(r[1]), None if r[2] is None else float(r[2]))
                 for r in rows if len(r) >= 3)


def health_series(record: Mapping[str, Any]) -> tuple[Series, ...]:
    """Per instance with health figures: its samples and the gate's lines (the last verdict's)."""
    timeline = record.get("timeline") or {}
    after, before = timeline.get("samples", {}), timeline.get("baseline_samples", {})
    thresholds, folded = timeline.get("thresholds", {}), timeline.get("folded", {})
    outcomes: dict[str, str] = {}
    for v in record.get("verdicts", []):
        for inst in v.get("instances", []):
            outcomes[str(inst.get("instance"))] = str(inst.get("outcome", ""))
    states = timeline.get("states", {})
    out = []
    for row in record.get("instances", []):
        name = str(row.get("instance", ""))
        if not after.get(name) and not before.get(name):
            continue
        gate = thresholds.get(name, {})
        seen = {str(s[1]): float(s[0]) for s in reversed(states.get(name, []))}  # the first time of each
        out.append(Series(name, outcomes.get(name, ""), _points(before.get(name, [])), _points(after.get(name, [])),
                          gate.get("baseline_rate"), gate.get("error_rate"), gate.get("baseline_p99_ms"),
                          gate.get("p99_ms"), seen.get("live"), seen.get("reverted"), int(folded.get(name, 1))))
    return tuple(out)
