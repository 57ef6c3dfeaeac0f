"""The fault matrix (issue #10): real faults injected into real servers during a real deploy, one
table row per fault. Every row starts from the same fleet of three instances, one per transport
(web-1 a local file, web-2 a file over ssh through a proxy we control, web-3 an HTTP endpoint we
control), on 1.0.0 as a completed deploy left them, then deploys 1.1.0 with the fault in place and
asserts, whatever the fault:

- the exit code and the last line saying what happened (naming the instance), plus any warnings;
- every instance holds exactly the old or the new bytes, never a part (compared byte for byte);
- no temp file is left (after a kill -9: the next deploy or rollback removes it);
- the lock is released, or reported stale;
- the journal and the ledger say what happened;
- once the fault is healed, the next `status` (after `rollback` or a new `deploy` where the row says
  so) finds the fleet on a known version and exits 0.

Rows that kill the process (`kill -9` of its process group at a step of a push, SIGTERM while an
ssh write is stuck) run `hotswap deploy` as a real process and pause it at the step with a command
that touches a marker file and sleeps."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_fleet import Fleet, git
from deploy_support import hotswap_cmd, subprocess_env
from fault_support import (
    HttpFaults,
    HttpInstance,
    http_instance,
    mount_tmpfs,
    remount,
    temp_files,
    unmount,
)
from support.proxy import TcpProxy
from support.sshd import SshServer, keygen

from hotswap_cli import formats
from hotswap_cli.core.deploy import journal, ledger, lock
from hotswap_cli.core.deploy.ledger import ledger_ref, read_records
from hotswap_cli.core.versions.git import GitRepo
from hotswap_cli.model import config_hash

NAMES = ("web-1", "web-2", "web-3")
PAD = "p" * 400_000  # a config far past a 64 KiB disk and long enough to stall mid-upload


@dataclass
class World:
    """The fleet and every server a fault can be injected into."""

    fleet: Fleet
    origin: Path
    http: HttpInstance
    proxy: TcpProxy
    sshd: SshServer
    key: Path  # web-2's private key (a copy: auth faults swap it)
    known_hosts: Path  # web-2's known_hosts (a copy: host-key faults empty it)
    marker: Path  # touched by a command at the step a kill row waits for
    tmp: Path
    env: dict[str, str] = field(default_factory=dict)  # extra environment for the faulty run
    old: dict[str, bytes | None] = field(default_factory=dict)  # what each instance held on 1.0.0
    new: dict[str, bytes | None] = field(default_factory=dict)  # what 1.1.0 puts on each
    mounts: list[Path] = field(default_factory=list)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def dir(self, name: str) -> Path:
        return self.fleet.files / name

    def held(self, name: str) -> bytes | None:
        if name == "web-3":
            return self.http.config
        path = self.fleet.path(name)
        return path.read_bytes() if path.exists() else None

    def fleet_bytes(self) -> dict[str, bytes | None]:
        return {n: self.held(n) for n in NAMES}

    def config_file(self) -> Path:
        return self.fleet.root / "profiles" / self.fleet.profile / "config.json"

    def profile_path(self) -> Path:
        return self.fleet.root / "profiles" / self.fleet.profile / "profile.yaml"

    def target(self, profile: dict[str, Any], name: str) -> dict[str, Any]:
        return next(t for t in profile["targets"] if t["name"] == name)

    def mount(self, name: str, size: str = "64k") -> None:
        mount_tmpfs(self.dir(name), size)
        self.mounts.append(self.dir(name))


Step = Callable[[World], None]
Edit = Callable[[World, dict[str, Any]], None]


@dataclass(frozen=True)
class Fault:
    """One row: how the fault is injected, and what hotswap must do about it."""

    id: str
    code: int  # exit code of the faulty run (-9: killed)
    message: str  # a regex the last line of the run's stderr must match (naming the instance)
    holds: dict[str, str]  # instance -> "old" | "new" | "either" after the faulty run
    edit: Edit | None = None  # changes to the 1.1.0 profile (released with it)
    inject: Step | None = None  # after 1.1.0 is released, right before it is deployed
    heal: Step | None = None  # after the faulty run: the fault goes away
    setup: Step | None = None  # before anything is deployed (e.g. a small disk)
    record: str | None = "reverted"  # the ledger's status for the run; None: it recorded nothing
    journal: str | None = None  # None: closed; else the state it is left open in
    recover: str = "status"  # status | rollback | deploy: what puts the fleet back, then status exits 0
    final: str = "old"  # what every instance runs after recovery
    big: bool = False  # the new config is 400 KB
    strategy: dict[str, Any] | None = None
    kill_when: Callable[[World], bool] | None = None  # run as a process; SIGKILL its group once true
    term_when: Callable[[World], bool] | None = None  # run as a process; SIGTERM it once true
    process: bool = False  # run as a process anyway (a lock it leaves behind belongs to a dead pid)
    leaves_temp: bool = False  # a temp file may stay until the next push (the host could not be reached)
    warnings: tuple[str, ...] = ()  # regexes the run's stderr must also match
    lock_left: bool = False  # the lock could not be released: it must be reported stale
    staged: bool = False  # killed with web-1's new config staged: its temp file is there until recovery


# -- injections ----------------------------------------------------------------------------------


def fill(world: World, name: str, text: str) -> str:
    """{live} the instance's config path, {marker}, {origin} the bare origin repo (and {gone} where
    origin_away puts it), {http} the HTTP instance."""
    return text.format(live=world.fleet.path(name), marker=world.marker, origin=world.origin,
                       gone=world.origin.with_suffix(".gone"), http=world.http.url)


def sh(name: str, key: str, shell: str) -> Edit:
    """A shell command as the 1.1.0 profile's `key` (check, reload) of instance `name`."""
    def edit(world: World, profile: dict[str, Any]) -> None:
        text = fill(world, name, shell)
        world.target(profile, name)["transport"][key] = text if name == "web-2" else ["sh", "-c", text]
    return edit


def spec(name: str, **keys: Any) -> Edit:
    """Transport keys of instance `name` in the 1.1.0 profile ({...} filled in)."""
    def edit(world: World, profile: dict[str, Any]) -> None:
        world.target(profile, name)["transport"].update(
            {k: fill(world, name, v) if isinstance(v, str) else v for k, v in keys.items()})
    return edit


def probe(name: str, **raw: Any) -> Edit:
    """One health probe for instance `name`; `path` is appended to the HTTP instance's URL."""
    def edit(world: World, profile: dict[str, Any]) -> None:
        entry = dict(raw)
        if "path" in entry:
            entry["url"] = world.http.url + entry.pop("path")
        if "command" in entry:
            entry["command"] = ["sh", "-c", fill(world, name, entry["command"])]
        world.target(profile, name)["health"] = [entry]
    return edit


def both(*edits: Edit) -> Edit:
    def edit(world: World, profile: dict[str, Any]) -> None:
        for one in edits:
            one(world, profile)
    return edit


def http_faults(**faults: Any) -> Step:
    def inject(world: World) -> None:
        for key, value in faults.items():
            setattr(world.http.faults, key, value)
    return inject


def heal_http(world: World) -> None:
    world.http.faults = HttpFaults()


def small_disk(name: str, size: str = "64k") -> Step:
    return lambda world: world.mount(name, size)


def read_only(name: str) -> Step:
    return lambda world: remount(world.dir(name), "ro")


def writable(name: str) -> Step:
    return lambda world: remount(world.dir(name), "rw")


def dir_gone(name: str) -> Step:
    def step(world: World) -> None:
        world.dir(name).rename(world.dir(name + ".gone"))
    return step


def dir_back(name: str) -> Step:
    def step(world: World) -> None:
        world.dir(name + ".gone").rename(world.dir(name))
    return step


def stranger_key(world: World) -> None:
    world.key.unlink()
    keygen(world.key, "a stranger")


def own_key(world: World) -> None:
    shutil.copy(world.sshd.user_key, world.key)


def forget_host(world: World) -> None:
    saved = world.known_hosts.read_text()

    def restore() -> None:
        world.known_hosts.write_text(saved)

    world.cleanups.append(restore)
    world.known_hosts.write_text("")


def restore_host(world: World) -> None:
    for cleanup in world.cleanups:
        cleanup()
    world.cleanups.clear()


def origin_away(world: World) -> None:
    world.origin.rename(world.origin.with_suffix(".gone"))


def origin_back(world: World) -> None:
    world.origin.with_suffix(".gone").rename(world.origin)


def origin_stalls(world: World) -> None:
    """Every fetch and push waits 10 s before origin answers; hotswap's git deadline is 0.5 s."""
    for key, program in (("uploadpack", "git-upload-pack"), ("receivepack", "git-receive-pack")):
        git(world.fleet.root, "config", f"remote.origin.{key}", f"sleep 10; {program}")
    world.env["HOTSWAP_GIT_TIMEOUT"] = "0.5"


def origin_answers(world: World) -> None:
    for key in ("uploadpack", "receivepack"):
        git(world.fleet.root, "config", "--unset", f"remote.origin.{key}")
    world.env.clear()


def ledger_blob(world: World) -> None:
    """Someone force-pushed a blob over origin's ledger ref of the profile."""
    blob = git(world.origin, "hash-object", "-w", "--stdin", input="not a ledger\n").strip()
    git(world.origin, "update-ref", ledger_ref(world.fleet.profile), blob)


def ledger_repaired(world: World) -> None:
    """From the clone whose ledger is intact, as the warning says."""
    ref = ledger_ref(world.fleet.profile)
    git(world.fleet.root, "push", "-q", "--force", "origin", f"{ref}:{ref}")


def marker(world: World) -> bool:
    return world.marker.exists()


def stuck_upload(world: World) -> bool:
    """web-2's upload is stuck behind the stalled proxy and the others are live on 1.1.0."""
    return world.proxy.tripped.is_set() and all(world.held(n) == world.new[n] for n in ("web-1", "web-3"))


def told(stderr: str) -> str:
    """The run's last line with each instance error it points to (`web-1 (error above)`, `web-1,
    web-2 (errors above)`) put back from that instance's progress line; the last line must not say
    an error a progress line already did."""
    summary = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    failed = re.findall(r"^\[\s*[\d.]+s\] (\S+): failed \((.*)\)$", stderr, re.M)
    for name, detail in failed:
        assert detail not in summary, f"{name}'s error is said twice: {stderr}"
    for name, detail in failed:
        if f"{name} (error above)" in summary:
            summary = summary.replace(f"{name} (error above)", f"{name}: {detail}")
        elif " (errors above)" in summary and re.search(rf"(^|[ ,]){re.escape(name)}[, ]", summary):
            summary = summary.replace(" (errors above)", f" ({name}: {detail})")
    return summary


# -- the matrix ----------------------------------------------------------------------------------

OLD = {n: "old" for n in NAMES}
NEW = {n: "new" for n in NAMES}
KILLED = -signal.SIGKILL
REVERTED = r"^deploy deploy-[0-9a-f-]+ failed and was reverted: "
FAILED_ON = REVERTED + "deploy failed on "
NOTHING_CHANGED = r"^deploy deploy-[0-9a-f-]+ failed before changing anything: could not prepare "
NEW_ONLY = "grep -q NEW-1.1.0 {live}"  # true when the live file holds 1.1.0

FAULTS = [
    # -- local files (web-1) --
    Fault("local-disk-full", 6, FAILED_ON + r"web-1: stage: stage into \S+/web-1: disk full: "
          r"wrote \d+ of \d+ bytes$", OLD, setup=small_disk("web-1"), big=True),
    Fault("local-read-only-dir", 6, FAILED_ON + r"web-1: stage: stage into \S+/web-1: Read-only file system",
          OLD, setup=small_disk("web-1", "1m"), inject=read_only("web-1"), heal=writable("web-1")),
    Fault("local-dir-missing", 1, NOTHING_CHANGED + r"web-1: read current config: directory \S+/web-1 does "
          r"not exist", OLD, inject=dir_gone("web-1"), heal=dir_back("web-1"),
          record="failed_before_change"),
    Fault("check-fails", 6, FAILED_ON + r"web-1: check: failed \(exit 3\): config rejected$", OLD,
          edit=sh("web-1", "check", "echo config rejected >&2; exit 3")),
    Fault("check-hangs", 6, FAILED_ON + r"web-1: check: command timed out after 0\.5s$", OLD,
          edit=both(spec("web-1", timeout="0.5s"), sh("web-1", "check", "exec sleep 10"))),
    Fault("reload-fails", 6, FAILED_ON + r"web-1: reload: failed \(exit 4\): refused$", OLD,
          edit=sh("web-1", "reload", NEW_ONLY + " && echo refused >&2 && exit 4; true")),
    Fault("reload-hangs", 6, FAILED_ON + r"web-1: reload: command timed out after 0\.5s$", OLD,
          edit=both(spec("web-1", timeout="0.5s"), sh("web-1", "reload", NEW_ONLY + " && exec sleep 10; true"))),
    Fault("reload-fails-on-revert-too", 7, r"FAILED and could not restore: web-1 \(.*\); fix these instances by "
          r"hand or run `hotswap rollback web.development`$", OLD,
          edit=sh("web-1", "reload", "echo reload broken >&2; exit 5"), record="revert_failed",
          journal="needs_recovery", recover="rollback"),
    Fault("blue-green-one-check-fails", 6, REVERTED + r"stage failed on web-2: check: failed "
          r"\(exit 3\): bad$", OLD, edit=sh("web-2", "check", "echo bad >&2; exit 3"),
          strategy={"type": "blue-green"}),
    # -- ssh (web-2, through a proxy) --
    Fault("ssh-disk-full", 6, FAILED_ON + r"web-2: stage: stage into \S+/web-2: disk full on 127\.0\.0\.1: "
          r"wrote \d+ of \d+ bytes$", OLD, setup=small_disk("web-2"), big=True),
    Fault("ssh-read-only-dir", 6, FAILED_ON + r"web-2: stage: stage into \S+/web-2: the server refused to "
          r"write", OLD, setup=small_disk("web-2", "1m"), inject=read_only("web-2"), heal=writable("web-2")),
    Fault("ssh-connection-refused", 1, NOTHING_CHANGED + r"web-2: read current config: connection refused by "
          r"127\.0\.0\.1:\d+ \(is sshd running there, and is the port right\?\)$", OLD,
          inject=lambda w: w.proxy.refuse(),
          heal=lambda w: w.proxy.restore(), record="failed_before_change"),
    Fault("ssh-auth-failure", 1, NOTHING_CHANGED + r"web-2: read current config: authentication failed for "
          r"root@127\.0\.0\.1:\d+ \(key \S+\)", OLD, inject=stranger_key, heal=own_key,
          record="failed_before_change"),
    Fault("ssh-unknown-host-key", 1, NOTHING_CHANGED + r"web-2: read current config: unknown host key for "
          r"127\.0\.0\.1:\d+ \(ssh-ed25519 \S+\); refusing to connect", OLD, inject=forget_host, heal=restore_host,
          record="failed_before_change"),
    pytest.param(
        Fault("ssh-stalls-mid-upload", 6, FAILED_ON + r"web-2: stage: connection to root@127\.0\.0\.1:\d+ "
              r"stalled: no answer within 1s during stage into \S+/web-2$", OLD, big=True,
              edit=spec("web-2", timeout="1s"), inject=lambda w: w.proxy.stall_after(100_000),
              heal=lambda w: w.proxy.restore(),
              leaves_temp=True, recover="deploy", final="new"),
        id="ssh-stalls-mid-upload"),
    pytest.param(
        Fault("ssh-dropped-mid-upload", 6, FAILED_ON + r"web-2: stage: .*connection to "
              r"root@127\.0\.0\.1:\d+ dropped", OLD, big=True, inject=lambda w: w.proxy.drop_after(100_000),
              heal=lambda w: w.proxy.restore(), leaves_temp=True, recover="deploy", final="new"),
        id="ssh-dropped-mid-upload"),
    Fault("ssh-check-hangs", 6, FAILED_ON + r"web-2: check: command timed out after 0\.5s: sleep 5$", OLD,
          edit=both(spec("web-2", command_timeout="0.5s"), sh("web-2", "check", "sleep 5"))),
    # SIGTERM while web-2's upload is stuck: web-2 abandoned after the 3 s grace, the others reverted; its
    # partial temp file (0600) stays on the host until the next push to it
    Fault("sigterm-during-stuck-ssh-write", 130, r"interrupted: touched instances were reverted \(interrupted during "
          r"phase 1 \(all\): deploy failed on web-2: (abandoned after Ctrl-C while staging: its live config "
          r"was not touched|stage: stage into \S+/web-2: connection to root@127\.0\.0\.1:\d+ was closed)\)$", OLD,
          big=True, edit=spec("web-2", timeout="60s"), inject=lambda w: w.proxy.stall_after(100_000),
          term_when=stuck_upload, heal=lambda w: w.proxy.restore(),
          record="interrupted", leaves_temp=True, recover="deploy", final="new"),
    # -- http (web-3) --
    Fault("http-put-500", 6, FAILED_ON + r"web-3: swap: push: http://\S+/config answered 500: "
          r"backend exploded$", OLD, inject=http_faults(put_status=500), heal=heal_http),
    Fault("http-put-times-out", 6, FAILED_ON + r"web-3: swap: push: http://\S+/config timed out after "
          r"0\.5s", OLD, edit=spec("web-3", timeout="0.5s"), inject=http_faults(put_hang=True), heal=heal_http),
    pytest.param(
        Fault("http-put-applied-answer-lost", 6, FAILED_ON + r"web-3: swap: push: http://\S+/config timed "
              r"out after 0\.5s", OLD, edit=spec("web-3", timeout="0.5s"),
              inject=http_faults(put_apply_then_hang=True), heal=heal_http),
        id="http-put-applied-answer-lost"),
    Fault("http-drips-bytes", 1, NOTHING_CHANGED + r"web-3: read current config: "
          r"http://\S+/config timed out after 0\.5s \(check that the instance is up, or raise `timeout`\)$", OLD,
          edit=spec("web-3", timeout="0.5s"), inject=http_faults(get_drip=True), heal=heal_http,
          record="failed_before_change"),
    Fault("http-huge-body", 1, NOTHING_CHANGED + r"web-3: read current config: "
          r"http://\S+/config answered with more than 1 MiB \(max_body\)", OLD, edit=spec("web-3", max_body="1MiB"),
          inject=http_faults(get_huge=True), heal=heal_http, record="failed_before_change"),
    Fault("http-confirm-alias-bomb", 6, FAILED_ON + r"web-3: confirm: instance does not report running "
          r"[0-9a-f]{12}$", OLD, edit=spec("web-3", confirm_url="{http}/confirm", confirm_timeout="0.5s"),
          inject=http_faults(confirm="bomb"), heal=heal_http),
    Fault("confirm-url-other-hash", 6, FAILED_ON + r"web-1: confirm: instance does not report running "
          r"[0-9a-f]{12}$", OLD, edit=spec("web-1", confirm_url="{http}/confirm", confirm_timeout="0.5s"),
          inject=http_faults(confirm="other"), heal=heal_http),
    Fault("health-endpoint-down", 6, REVERTED + r"health gate failed after phase 1 \(all\): web-1", OLD,
          edit=probe("web-1", type="http", path="/health/web-1", timeout="1s"),
          inject=http_faults(unhealthy_with=b"NEW-1.1.0"), heal=heal_http, strategy={"type": "direct", "bake": "3s"}),
    Fault("metrics-garbage", 6, REVERTED + r"health gate failed after phase 1 \(all\): web-3: no health data "
          r"\(unparsable metrics from http://\S+/metrics", OLD,
          edit=probe("web-3", type="metrics", path="/metrics", timeout="1s"), inject=http_faults(metrics_garbage=True),
          heal=heal_http, strategy={"type": "direct", "bake": "0.3s"}),
    # -- the git remote --
    pytest.param(
        Fault("origin-unreachable-at-start", 1, r"^hotswap: error: .*origin\.git.*(does not appear to be a git "
              r"repository|[Cc]ould not read from remote repository)", OLD, inject=origin_away, heal=origin_back,
              record=None),
        id="origin-unreachable-at-start"),
    Fault("origin-stalls", 1, r"^hotswap: error: .*git \S+: no answer within 0\.5s \(is the remote reachable\?\).* "
          r"\(set HOTSWAP_GIT_TIMEOUT=SECONDS", OLD, inject=origin_stalls, heal=origin_answers, record=None),
    pytest.param(
        Fault("origin-gone-after-the-run", 8, r"completed, but its ledger record is not on origin \(the audit "
              r"trail is incomplete\): .*did not reach origin within 1s.*hotswap deployments --push`$", NEW,
              edit=sh("web-1", "reload", NEW_ONLY + " && mv {origin} {gone}; true"), heal=origin_back, process=True,
              record="completed", journal="running", lock_left=True, recover="rollback", final="old",
              warnings=(r"is live on 3 instance\(s\)", r"warning: the deploy lock could not be released")),
        id="origin-gone-after-the-run"),
    pytest.param(
        Fault("ledger-ref-overwritten-with-blob", 8, r"completed, but its ledger record is not on origin \(the "
              r"audit trail is incomplete\): .*did not reach origin within 1s", NEW, inject=ledger_blob,
              heal=ledger_repaired, record="completed", final="new",
              warnings=(r"is live on 3 instance\(s\)",
                        r"origin's refs/hotswap/ledger/web\.development is a blob, not a ledger commit")),
        id="ledger-ref-overwritten-with-blob"),
    # -- kill -9 of the process group at each step of a push (web-1 pauses there; the others run alongside) --
    Fault("kill-9-after-stage", KILLED, "", {"web-1": "old", "web-2": "either", "web-3": "either"},
          edit=sh("web-1", "check", "touch {marker}; exec sleep 60"), kill_when=marker, record=None,
          journal="running", recover="rollback", staged=True),
    Fault("kill-9-after-swap", KILLED, "", {"web-1": "new", "web-2": "either", "web-3": "either"},
          edit=sh("web-1", "reload", "touch {marker}; exec sleep 60"), kill_when=marker, record=None,
          journal="running", recover="rollback"),
    Fault("kill-9-after-reload", KILLED, "", {"web-1": "new", "web-2": "either", "web-3": "either"},
          edit=spec("web-1", confirm_url="{http}/confirm", confirm_timeout="60s"), inject=http_faults(confirm="hang"),
          kill_when=lambda w: w.http.hanging.is_set(), heal=heal_http, record=None, journal="running",
          recover="rollback"),
    Fault("kill-9-mid-bake", KILLED, "", NEW,
          edit=probe("web-1", type="command", command=NEW_ONLY + " && echo >> {marker}.looks && "
                     "[ $(wc -l < {marker}.looks) -ge 3 ] && touch {marker}; true"),
          strategy={"type": "direct", "bake": "30s"}, kill_when=marker, record=None, journal="running",
          recover="rollback"),
    Fault("kill-9-mid-revert", KILLED, "", {"web-1": "old", "web-2": "old", "web-3": "either"},
          edit=both(sh("web-1", "reload", NEW_ONLY + " || {{ touch {marker}; exec sleep 60; }}"),
                    sh("web-2", "check", "echo bad >&2; exit 3")),
          strategy={"type": "canary", "steps": [33, 100], "bake": "0.1s"}, kill_when=marker, record=None,
          journal="reverting", recover="rollback"),
]


# -- running it ----------------------------------------------------------------------------------


@pytest.fixture
def world(make_fleet: Callable[..., Fleet], sshd: SshServer, tmp_path: Path) -> Iterator[World]:
    files = tmp_path / "instances"
    for name in NAMES[:2]:
        (files / name).mkdir(parents=True)
    key, known = tmp_path / "id_web2", tmp_path / "known_hosts_web2"
    shutil.copy(sshd.user_key, key)
    proxy = TcpProxy(sshd.port)
    kind, host_key = sshd.host_key.with_suffix(".pub").read_text().split()[:2]
    known.write_text(f"[127.0.0.1]:{proxy.port} {kind} {host_key}\n")
    with http_instance() as http:
        targets = [
            {"name": "web-1", "transport": {"type": "local", "path": str(files / "web-1/worker.json"),
                                            "timeout": "10s"}, "health": []},
            {"name": "web-2", "transport": sshd.spec(files / "web-2/worker.json", port=proxy.port, key=str(key),
                                                     known_hosts=str(known), retries=0, timeout="15s",
                                                     command_timeout="10s"), "health": []},
            {"name": "web-3", "transport": {"type": "http", "url": http.url + "/config", "timeout": "5s",
                                            "retries": 0}, "health": []},
        ]
        fleet = make_fleet(targets, environment="Development", strategy={"type": "direct"},
                           health={"interval": "0.1s"})
        origin = tmp_path / "origin.git"
        git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
        git(fleet.root, "remote", "add", "origin", str(origin))
        git(fleet.root, "push", "-q", "origin", "main")
        w = World(fleet, origin, http, proxy, sshd, key, known, tmp_path / "marker", tmp_path)
        http.health_of = {n: partial(w.held, n) for n in NAMES}
        try:
            yield w
        finally:
            for cleanup in w.cleanups:
                cleanup()
            proxy.close()
            for directory in reversed(w.mounts):
                unmount(directory)


def run(cli: Callable[..., Any], world: World, *args: str) -> Any:
    return cli("--repo", str(world.fleet.root), *args, env=world.env or None)


def edit_profile(world: World, edit: Edit) -> None:
    path = world.profile_path()
    profile = yaml.safe_load(path.read_text())
    edit(world, profile)
    path.write_text(yaml.safe_dump(profile, sort_keys=False))


@dataclass
class Ran:
    code: int
    stderr: str


def run_process(world: World, fault: Fault) -> Ran:
    """`hotswap deploy` as a real process in its own process group; signalled when the row says."""
    before = world.sshd.sessions()
    proc = subprocess.Popen(hotswap_cmd(world.fleet.root, "deploy", world.fleet.profile, "1.1.0", "--yes"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**subprocess_env(), **world.env}, start_new_session=True)
    try:
        trigger = fault.kill_when or fault.term_when
        if trigger is not None:
            deadline = time.monotonic() + 30
            while not trigger(world):
                assert proc.poll() is None, f"exited {proc.returncode} before the fault: {proc.communicate()}"
                assert time.monotonic() < deadline, "the fault never came"
                time.sleep(0.02)
            if fault.kill_when is not None:
                os.killpg(proc.pid, signal.SIGKILL)  # hotswap and the command it waits on: no cleanup runs
            else:
                sent = time.monotonic()
                proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        if fault.term_when is not None:
            assert time.monotonic() - sent < 6, "SIGTERM took more than a few seconds"
        if fault.kill_when is not None:
            # the host's sftp-server may still act on what the dead client sent: let it see the end
            # (a file it creates after recovery would be cleaned by the next push, not by this one)
            assert world.proxy.wait_idle(10)
            assert world.sshd.wait_sessions(before, 10)  # the proxy closing is not sshd having finished
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return Ran(proc.returncode, stderr)


def assert_bytes(world: World, expect: dict[str, str], old: dict[str, bytes | None],
                 new: dict[str, bytes | None]) -> None:
    held = world.fleet_bytes()
    for name in NAMES:
        allowed = {"old": [old[name]], "new": [new[name]], "either": [old[name], new[name]]}[expect[name]]
        assert held[name] in allowed, f"{name} holds {len(held[name] or b'')} bytes, neither the " \
                                      f"{expect[name]} config ({[len(a or b'') for a in allowed]} bytes)"


def seed(world: World) -> None:
    """The fleet as a completed deploy of 1.0.0 leaves it: the bytes hotswap writes for 1.0.0 on every
    instance, and that deploy's ledger record (so `status` compares each instance with 1.0.0)."""
    config = json.loads(world.config_file().read_text())
    data = formats.encode(config, "json")
    for name in ("web-1", "web-2"):
        world.fleet.path(name).write_bytes(data)
    world.http.config = data
    record = {"kind": "deploy", "profile": world.fleet.profile, "version": "1.0.0", "sha256": config_hash(config),
              "strategy": "direct", "status": "completed", "exit_code": 0, "reason": "", "instances": []}
    _, problem = ledger.record_and_push(GitRepo(world.fleet.root), record)
    assert problem is None, problem


def release_new(world: World, cli: Callable[..., Any], fault: Fault) -> dict[str, bytes | None]:
    """1.1.0: a new config (400 KB where the fault needs it) and the row's profile, released and pushed;
    the bytes it puts on each instance."""
    config = json.loads(world.config_file().read_text())
    config["queue"]["name"] = "orders-NEW-1.1.0"
    config["concurrency"] = 9
    if fault.big:
        config["retry"] = {"pad": PAD}
    world.config_file().write_text(json.dumps(config, indent=2) + "\n")

    def edits(w: World, profile: dict[str, Any]) -> None:
        if fault.edit:
            fault.edit(w, profile)
        if fault.strategy:
            profile["strategy"] = fault.strategy

    edit_profile(world, edits)
    world.fleet.release(cli, "1.1.0")
    git(world.fleet.root, "push", "-q", "origin", "main", "--tags")
    return {n: formats.encode(config, "json") for n in NAMES}


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.id)
def test_fault(fault: Fault, world: World, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSWAP_LEDGER_PUSH_DEADLINE", "1")  # a record that cannot reach origin: exit 8 soon
    fleet, repo = world.fleet, GitRepo(world.fleet.root)
    if fault.setup:
        fault.setup(world)
    fleet.release(cli, "1.0.0")
    seed(world)
    old = world.old = world.fleet_bytes()
    new = world.new = release_new(world, cli, fault)
    if fault.inject:
        fault.inject(world)

    # the faulty run
    if fault.kill_when or fault.term_when or fault.process:
        ran = run_process(world, fault)
    else:
        result = run(cli, world, "deploy", fleet.profile, "1.1.0", "--yes")
        ran = Ran(result.exit_code, result.stderr)
    assert ran.code == fault.code, ran.stderr
    killed = fault.kill_when is not None
    # what the run said and left on disk: checked last, so that a row failing on its message still
    # shows everything else holds
    summary = told(ran.stderr)
    said = [p for p in (fault.message, *fault.warnings) if not re.search(p, ran.stderr if p in fault.warnings
                                                                        else summary)]
    left = temp_files(world.dir("web-1"), world.dir("web-2"))
    if fault.staged:
        assert [p for p in left if "/web-1/" in p], "the kill should have left web-1's staged file"
    if fault.heal:
        fault.heal(world)
    assert_bytes(world, fault.holds, old, new)

    # the lock, the journal, the ledger
    holder = lock.read_holder(repo, fleet.profile)
    if killed or fault.lock_left:
        assert holder is not None and holder.stale, holder
    else:
        assert holder is None, holder.describe()
    dead = journal.read(repo, fleet.profile)
    if fault.journal is None:
        assert dead is None, dead
    else:
        assert dead is not None and dead.state == fault.journal and dead.version == "1.1.0", dead
    records = [(r["version"], r["status"], r.get("exit_code")) for r in read_records(repo, fleet.profile)]
    ran_record = [] if fault.record is None else [("1.1.0", fault.record, 0 if ran.code == 8 else ran.code)]
    assert records == ran_record + [("1.0.0", "completed", 0)], records

    # recovery
    if killed:
        status = run(cli, world, "status", fleet.profile)
        assert status.exit_code == 1, status.stderr
        assert "INTERRUPTED: deploy of web.development 1.1.0" in status.stderr, status
        again = run(cli, world, "deploy", fleet.profile, "1.1.0", "--yes")
        assert again.exit_code == 5 and "an interrupted run left its journal open" in again.stderr, again.stderr
    if fault.recover == "rollback":
        back = run(cli, world, "rollback", fleet.profile, "--yes")
        assert back.exit_code == 0, back.stderr
        newest = [(r["kind"], r["version"], r["status"]) for r in read_records(repo, fleet.profile)[:2]]
        assert newest[0] == ("rollback", "1.0.0", "completed"), newest
        if killed:  # the dead run's own record, written by the rollback that recovered it
            assert newest[1] == ("deploy", "1.1.0", "interrupted"), newest
    elif fault.recover == "deploy":
        again = run(cli, world, "deploy", fleet.profile, "1.1.0", "--yes")
        assert again.exit_code == 0, again.stderr
    status = run(cli, world, "status", fleet.profile)
    assert status.exit_code == 0, status.stderr
    assert world.fleet_bytes() == (old if fault.final == "old" else new)
    assert temp_files(world.dir("web-1"), world.dir("web-2")) == []
    assert journal.read_open(repo, fleet.profile) is None
    if fault.recover != "status" or fault.journal is None:  # else settled by its own run's ledger record
        assert journal.read(repo, fleet.profile) is None
    assert lock.read_holder(repo, fleet.profile) is None

    assert not said, f"the run did not say {said}: {ran.stderr}"
    if not (killed or fault.leaves_temp):
        assert left == [], f"temp files left by the run: {left}"
