"""Notifications: webhooks (`notify:` in profile.yaml or hotswap.yaml) told when a deploy starts,
pauses, fails a verdict, reverts and finishes. A notification that fails never fails a deploy.

Each webhook has its own thread and bounded queue, so a slow receiver never slows the deploy and
never delays another webhook; each POST ends within the webhook's `timeout` in total (io.deadline),
and `finish` waits at most FINISH_WAIT for all of them. Every text sent passes through
redact.scrub, and no config value is ever part of a payload."""

from __future__ import annotations

import json
import math
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hotswap_cli import __version__
from hotswap_cli.durations import format_duration, parse_duration
from hotswap_cli.errors import HotswapError
from hotswap_cli.redact import scrub
from hotswap_cli.runner.events import (
    DeployStarted,
    Event,
    GatePaused,
    PhaseStarted,
    RevertFinished,
    RevertStarted,
    VerdictReached,
)

if TYPE_CHECKING:
    from hotswap_cli.core.deploy.prepare import Deployment
    from hotswap_cli.core.versions.git import GitRepo
    from hotswap_cli.runner.gate import Verdict

EVENTS = ("started", "paused", "verdict_failed", "reverted", "finished")
FORMATS = ("json", "slack")
SCHEMA = "hotswap.notification/1"  # the generic payload's shape (docs/notifications.md); bumped on a breaking change
DEFAULT_TIMEOUT = 5.0  # seconds, in total, for one POST
FINISH_WAIT = 5.0  # seconds finish() waits, in total, for every webhook to take what is queued
QUEUE_SIZE = 32  # notifications waiting for one webhook; more are dropped (and said so)
RETRIES = 2  # more attempts after a quick failure (refused, reset) or a 5xx
MAX_ANSWER = 64 * 1024  # bytes of a receiver's answer read at most
LISTED = 20  # instances named in one payload at most
_KEYS = ("url", "format", "events", "headers", "timeout")


@dataclass(frozen=True)
class Webhook:
    """One `notify:` entry: where to POST, in which format, for which events."""

    url: str
    format: str = "json"
    events: frozenset[str] = frozenset(EVENTS)
    headers: tuple[tuple[str, str], ...] = ()  # values may hold ${NAME}: expanded just before use
    timeout: float = DEFAULT_TIMEOUT

    @property
    def shown(self) -> str:
        return shown_url(self.url)


def shown_url(url: str) -> str:
    """The URL as messages name it: no credentials, query or fragment, and only its first path
    segment (a Slack webhook's path is its secret)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    segments = [s for s in parts.path.split("/") if s]
    path = f"/{segments[0]}" + ("/…" if len(segments) > 1 else "") if segments else ""
    return f"{parts.scheme}://{host}{port}{path}"


def choose_notify(profile_meta: Any, settings: Any) -> tuple[Any, str]:
    """The `notify:` list that applies and where it came from: the profile's own (even an empty
    one: it replaces the default), else hotswap.yaml's, else none."""
    if isinstance(profile_meta, dict) and "notify" in profile_meta:
        return profile_meta["notify"], "profile.yaml"
    if isinstance(settings, dict) and "notify" in settings:
        return settings["notify"], "hotswap.yaml"
    return None, ""


def webhooks_from(raw: Any, where: str) -> tuple[list[Webhook], list[str]]:
    """The `notify:` list as Webhooks, and a problem line for each entry that cannot be used
    (skipped). profile.yaml's list is schema-checked on release; hotswap.yaml's only here."""
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], [f"{where}: `notify` must be a list of webhooks; nobody is notified"]
    hooks, problems = [], []
    for i, entry in enumerate(raw):
        try:
            hooks.append(_webhook(entry))
        except ValueError as exc:  # the URL is not named: it may hold credentials
            problems.append(f"{where}: notify[{i}]: {exc}; that webhook is not used")
    return hooks, problems


def _webhook(entry: Any) -> Webhook:
    if not isinstance(entry, dict):
        raise ValueError("must be a mapping with a `url`")
    unknown = sorted(set(entry) - set(_KEYS))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (keys: {', '.join(_KEYS)})")
    url = entry.get("url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ValueError("`url` must be an http:// or https:// URL")
    fmt = entry.get("format", "json")
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    events = entry.get("events", list(EVENTS))
    if not isinstance(events, list) or any(e not in EVENTS for e in events):
        raise ValueError(f"`events` must be a list of {', '.join(EVENTS)}")
    headers = entry.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ValueError("`headers` must map header names to strings")
    raw_timeout = entry.get("timeout", DEFAULT_TIMEOUT)
    timeout = parse_duration(raw_timeout) if not isinstance(raw_timeout, bool) else 0.0
    if timeout <= 0:
        raise ValueError(f"timeout {raw_timeout!r} must be a duration above 0")
    return Webhook(url, fmt, frozenset(events), tuple(headers.items()), timeout)


def configured_webhooks(git_repo: GitRepo, deployment: Deployment) -> tuple[list[Webhook], list[str]]:
    """The webhooks of a deployment: the profile's `notify:` as the deployed version has it (like
    its targets), else hotswap.yaml's on the trusted ref (like `allow_env`: it covers every deploy
    and rollback, of versions older than it too, from the moment it is merged)."""
    from hotswap_cli.core.approvals.trust import protected_rev
    from hotswap_cli.core.config.configrepo import SETTINGS_FILE, ConfigRepo

    try:
        meta = ConfigRepo(git_repo.source_at(deployment.commit)).document(
            f"{deployment.profile.directory}/profile.yaml")
        settings = None
        if not (meta is not None and isinstance(meta.data, dict) and "notify" in meta.data):
            # the trusted ref as prepare found it (it fetched the default branch); asked of the
            # remote again only when its HEAD was never recorded here
            rev = protected_rev(git_repo, fetch=False)
            if rev is None and git_repo.has_remote():
                rev = protected_rev(git_repo, fetch=True)
            doc = ConfigRepo(git_repo.source_at(rev)).document(SETTINGS_FILE) if rev is not None else None
            settings = doc.data if doc is not None else None
    except HotswapError as exc:
        return [], [f"notify: cannot read the webhooks: {exc.message}; nobody is notified"]
    raw, where = choose_notify(meta.data if meta is not None else None, settings)
    return webhooks_from(raw, where)


def notifier_for(deployment: Deployment, record_id: str, kind: str, *, git_repo: GitRepo | None = None) -> Notifier:
    """The run's Notifier; without a repo to read `notify:` from, one that tells nobody."""
    if git_repo is None:
        return Notifier(deployment, record_id, kind)
    from hotswap_cli.core.deploy.ledger import identity

    hooks, problems = configured_webhooks(git_repo, deployment)
    who = identity(git_repo)[0] if hooks else ""
    notifier = Notifier(deployment, record_id, kind, hooks, who=who)
    notifier.problems[:0] = problems
    return notifier


class Notifier:
    """An EventSink that posts to the configured webhooks; `finish(record)` sends the last one."""

    def __init__(self, deployment: Deployment, record_id: str, kind: str, hooks: list[Webhook] | None = None,
                 *, who: str = "") -> None:
        self.deployment = deployment
        self.record_id = record_id
        self.kind = kind
        self.who = who
        self.problems: list[str] = []  # notifications that could not be delivered (warnings)
        self._lock = threading.Lock()
        self._phase: int | None = None
        self._phases = len(deployment.plan.phases)
        self._revert_reason = ""
        self._finished = False
        self._deliveries: list[_Delivery] = []
        for hook in hooks or []:
            headers = self._headers(hook)
            if headers is not None:
                self._deliveries.append(_Delivery(hook, headers))

    def _headers(self, hook: Webhook) -> dict[str, str] | None:
        from hotswap_cli.io.http import expand_headers

        try:
            own = expand_headers(hook.shown, dict(hook.headers), self.deployment.allowed_env)
        except HotswapError as exc:  # names the variable, never a value
            self.problems.append(f"notify: {exc.message}; nothing is sent there")
            return None
        return {"Content-Type": "application/json", "User-Agent": f"hotswap/{__version__}", **own}

    # -- events -----------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        if not self._deliveries:
            return
        try:
            with self._lock:
                self._on(event)
        except Exception as exc:  # a notification never stops the deploy (this sink runs inside it)
            self.problems.append(f"notify: an event could not be turned into a notification: "
                                 f"{scrub(str(exc))[:200]}")

    def _on(self, event: Event) -> None:
        name = f"{self.deployment.profile.name} {self.deployment.version}"
        if isinstance(event, DeployStarted):
            self._phases = event.phases
            by = f" by {self.who}" if self.who else ""
            self._send("started", f"{name}: {self.kind} started{by} ({event.strategy}, {event.phases} phase(s), "
                       f"{event.instances} instance(s))", figures={"instances": event.instances})
        elif isinstance(event, PhaseStarted):
            self._phase = event.number
        elif isinstance(event, GatePaused):
            self._paused(name, event.phase, event.reason, None, "gate")
        elif event.kind == "phase_paused":
            until = getattr(event, "until", None)  # runner.events.PhasePaused: seconds it lasts (None: until resumed)
            wall = time.time() + float(until) if isinstance(until, int | float) else None
            self._paused(name, int(getattr(event, "phase", self._phase or 0)), str(getattr(event, "reason", "")),
                         wall, "step")
        elif isinstance(event, VerdictReached) and not event.ok:
            self._send("verdict_failed", f"{name}: health gate failed at phase {self._of(event.phase)}: "
                       f"{event.verdict.summary()}", phase=event.phase, reason=event.verdict.summary(),
                       figures=_verdict_figures(event.verdict))
        elif isinstance(event, RevertStarted):
            self._revert_reason = event.reason
        elif isinstance(event, RevertFinished):
            what = (f"revert failed on {', '.join(event.failed[:LISTED])}" if event.failed else
                    f"reverted {len(event.restored)} instance(s) in {format_duration(round(event.seconds, 1))}")
            self._send("reverted", f"{name}: {what}", phase=self._phase, reason=self._revert_reason or None,
                       figures={"restored": len(event.restored), "unrestored": list(event.failed[:LISTED]),
                                "seconds": round(event.seconds, 3)})

    def _paused(self, name: str, phase: int, reason: str, until: float | None, source: str) -> None:
        from hotswap_cli.core.deploy.ledger import utc_iso

        when = utc_iso(until) if until is not None else None
        self._send("paused", f"{name}: paused at phase {self._of(phase)}" + (f" until {when}" if when else "")
                   + (f": {reason}" if reason else ""), phase=phase, reason=reason or None,
                   figures={"source": source, "until": when})

    def finish(self, record: dict[str, Any]) -> None:
        """The `finished` notification, then wait (FINISH_WAIT at most, in total) for every webhook."""
        if self._finished or not self._deliveries:
            return
        self._finished = True
        try:
            with self._lock:
                self._finished_message(record)
        except Exception as exc:  # the deploy is over and recorded: this never changes its outcome
            self.problems.append(f"notify: the finish could not be turned into a notification: "
                                 f"{scrub(str(exc))[:200]}")
        deadline = time.monotonic() + FINISH_WAIT
        for delivery in self._deliveries:
            delivery.close()
        for delivery in self._deliveries:
            delivery.thread.join(max(0.0, deadline - time.monotonic()))
        for delivery in self._deliveries:
            problem = delivery.problem()
            if problem:
                self.problems.append(problem)

    def _finished_message(self, record: dict[str, Any]) -> None:
        status, code = str(record.get("status", "")), record.get("exit_code")
        duration = float(record.get("duration_s") or 0.0)
        reason = str(record.get("reason") or "")
        self.who = str(record.get("who") or self.who)
        self._send("finished", f"{self.deployment.profile.name} {record.get('version', self.deployment.version)}"
                   f": {self.kind} {status.replace('_', ' ')} in {format_duration(round(duration, 1))} "
                   f"(exit {code})" + (f": {reason}" if reason else ""),
                   phase=record.get("failed_phase"), reason=reason or None, status=status, exit_code=code,
                   figures={"duration_s": duration, "started_at": record.get("started_at"),
                            "finished_at": record.get("finished_at"),
                            "instances": len(record.get("instances") or []),
                            "approvals": list(record.get("approvals") or [])})

    # -- payloads ---------------------------------------------------------------------------

    def _of(self, phase: int | None) -> str:
        return f"{phase}/{self._phases}"

    def _send(self, event: str, text: str, *, phase: int | None = None, reason: str | None = None,
              status: str | None = None, exit_code: Any = None, figures: dict[str, Any] | None = None) -> None:
        from hotswap_cli.core.deploy.ledger import utc_iso

        d = self.deployment
        message: dict[str, Any] = _clean({
            "schema": SCHEMA, "event": event, "kind": self.kind, "record_id": self.record_id,
            "profile": d.profile.name, "environment": d.profile.environment, "version": d.version,
            "strategy": d.plan.strategy, "time": utc_iso(), "phase": phase, "phases": self._phases,
            "reason": reason, "status": status, "exit_code": exit_code, "who": self.who or None, "text": text,
            "figures": figures or {},
        })
        bodies = {fmt: scrub(json.dumps(slack_body(message) if fmt == "slack" else message, ensure_ascii=False))
                  .encode("utf-8") for fmt in {x.hook.format for x in self._deliveries if event in x.hook.events}}
        for delivery in self._deliveries:
            if event in delivery.hook.events:
                delivery.put(bodies[delivery.hook.format])


def _clean(data: Any) -> Any:
    """Plain JSON (no NaN or Infinity: not every receiver's parser takes them), every text scrubbed."""
    if isinstance(data, str):
        return scrub(data)
    if data is None or isinstance(data, bool | int):
        return data
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {scrub(str(k)): _clean(v) for k, v in data.items()}
    if isinstance(data, list | tuple | set | frozenset):
        return [_clean(v) for v in data]
    return scrub(str(data))


def _verdict_figures(verdict: Verdict) -> dict[str, Any]:
    """The evidence behind a failed gate: each failing (else undecided) instance and its numbers."""
    shown = verdict.failures or verdict.undecided
    return {"outcome": verdict.outcome, "confidence": verdict.confidence, "decided_by": verdict.decided_by or None,
            "instances": [i.to_dict() for i in shown[:LISTED]], "more_instances": max(0, len(shown) - LISTED)}


_ICONS = {"started": ":rocket:", "paused": ":double_vertical_bar:", "verdict_failed": ":x:",
          "reverted": ":leftwards_arrow_with_hook:"}


def slack_body(message: dict[str, Any]) -> dict[str, Any]:
    """A Slack-compatible payload (incoming webhooks, and the many tools that accept it): `text`
    for notifications and clients without blocks, `blocks` for the message itself."""
    icon = _ICONS.get(message["event"]) or (":white_check_mark:" if message["exit_code"] == 0 else ":warning:")
    context = [message["environment"], f"{message['kind']} `{message['record_id']}`", message["time"]]
    if message["who"]:
        context.insert(2, message["who"])
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(f"{icon} {message['text']}", 2900)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _mrkdwn(" · ".join(context), 1900)}]},
    ]
    return {"text": message["text"][:2900], "blocks": blocks}


def _mrkdwn(text: str, limit: int) -> str:
    """Slack's three escapes (so a reason cannot forge a link or a mention), cut to `limit`."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text if len(text) <= limit else text[:limit - 1] + "…"


class _Delivery:
    """One webhook's bounded queue, and the thread that posts its notifications in order."""

    def __init__(self, hook: Webhook, headers: dict[str, str]) -> None:
        self.hook = hook
        self.headers = headers
        self.queue: queue.Queue[bytes | None] = queue.Queue()  # bounded by put(): the end marker always fits
        self.stop = threading.Event()
        self.total = self.failed = self.dropped = 0
        self.error = ""
        self.thread = threading.Thread(target=self._run, name="hotswap-notify", daemon=True)
        self.thread.start()

    def put(self, body: bytes) -> None:
        self.total += 1
        if self.queue.qsize() >= QUEUE_SIZE:
            self.dropped += 1
            self.error = self.error or f"more than {QUEUE_SIZE} notifications waiting"
        else:
            self.queue.put(body)

    def close(self) -> None:
        self.queue.put(None)

    def problem(self) -> str | None:
        """One line for what did not reach this webhook (None: everything did)."""
        if self.thread.is_alive():  # still stuck on a POST (its own deadline ends it): abandoned
            self.stop.set()
            waiting = max(0, self.queue.qsize() - 1) + 1
            return (f"notify: {self.hook.shown} did not take its notifications within {FINISH_WAIT:g}s; "
                    f"{waiting} of {self.total} not delivered" + (f" ({self.error})" if self.error else ""))
        lost = self.failed + self.dropped
        if not lost:
            return None
        return f"notify: {lost} of {self.total} notification(s) to {self.hook.shown} not delivered: {self.error}"

    def _run(self) -> None:
        from hotswap_cli.io.http import new_client
        from hotswap_cli.specs import Tls

        client = new_client(Tls())  # TLS verified; redirects are not followed (nothing goes anywhere else)
        try:
            while (body := self.queue.get()) is not None:
                if self.stop.is_set():
                    self.failed += 1
                else:
                    self._post(client, body)
        finally:
            client.close()

    def _post(self, client: Any, body: bytes) -> None:
        from hotswap_cli.io.deadline import BodyTooLarge, fetch

        for attempt in range(1 + RETRIES):
            started = time.monotonic()
            try:
                reply = fetch(client, "POST", self.hook.url, timeout=self.hook.timeout, max_body=MAX_ANSWER,
                              content=body, headers=self.headers)
            except Exception as exc:  # whatever goes wrong is this webhook's problem, never the deploy's
                elapsed = time.monotonic() - started
                self.error = self._describe(exc, elapsed)
                # a quick failure (refused, reset) is tried again; a receiver that used up its
                # deadline is not (it may be stalling), nor one that answered too much
                retry = elapsed < 0.9 * self.hook.timeout and not isinstance(exc, BodyTooLarge)
            else:
                if reply.status_code < 300:
                    return
                self.error = f"it answered {reply.status_code}"
                retry = reply.status_code >= 500
            if not retry or attempt == RETRIES or self.stop.wait(0.2 * 2 ** attempt):
                break
        self.failed += 1

    def _describe(self, exc: Exception, elapsed: float) -> str:
        if elapsed >= 0.9 * self.hook.timeout:
            return f"no answer within {self.hook.timeout:g}s"
        text = (str(exc).strip() or type(exc).__name__).splitlines()[0].replace(self.hook.url, self.hook.shown)
        return scrub(text[:200])
