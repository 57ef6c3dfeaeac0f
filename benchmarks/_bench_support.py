"""Helpers for deploy_bench.py: a throwaway config repo, running `hotswap` as a measured child.

Nothing here imports product internals beyond what a user of the CLI would touch; the deploys
are real `hotswap release` / `hotswap deploy --yes --json` subprocesses.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROFILE_BASE = "bench"
SCHEMA = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "bench-config/1.0",
          "type": "object"}
GIT_ENV = {"GIT_AUTHOR_NAME": "hotswap bench", "GIT_AUTHOR_EMAIL": "bench@hotswap.local",
           "GIT_COMMITTER_NAME": "hotswap bench", "GIT_COMMITTER_EMAIL": "bench@hotswap.local"}


def child_env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(GIT_ENV)
    env["HOTSWAP_CACHE_DIR"] = str(work / "cache")
    env["NO_COLOR"] = "1"
    env.pop("HOTSWAP_DEMO_DIR", None)
    return env


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env={**os.environ, **GIT_ENV},
                   timeout=60)


class ConfigRepo:
    """A minimal config repo: one profile `bench.<env>` with the given targets and a permissive schema."""

    def __init__(self, root: Path, targets: list[dict[str, Any]], *, environment: str = "Development",
                 strategy: dict[str, Any] | None = None, health: dict[str, Any] | None = None,
                 config: dict[str, Any] | None = None) -> None:
        self.root = root
        self.profile = f"{PROFILE_BASE}.{environment.lower()}"
        (root / "schemas" / "bench-config").mkdir(parents=True)
        (root / "schemas" / "bench-config" / "1.0.json").write_text(json.dumps(SCHEMA, indent=2) + "\n")
        (root / "hotswap.yaml").write_text(yaml.safe_dump({"name": "bench", "environments": {
            e: {"approvals": 0} for e in ("Development", "Staging", "Production")}}, sort_keys=False))
        pdir = root / "profiles" / self.profile
        pdir.mkdir(parents=True)
        profile: dict[str, Any] = {"environment": environment, "serviceType": "Microservice",
                                   "schema": "bench-config/1.0"}
        if strategy:
            profile["strategy"] = strategy
        if health:
            profile["health"] = health
        profile["targets"] = targets
        (pdir / "profile.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
        self.set_config(config or {"service": {"name": "bench"}, "simulate": {"errorRate": 0.0, "latencyMs": 20}})
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "bench fleet")

    def set_config(self, config: dict[str, Any]) -> None:
        (self.root / "profiles" / self.profile / "config.json").write_text(json.dumps(config, indent=2) + "\n")

    def release(self, work: Path, version: str, config: dict[str, Any] | None = None) -> None:
        if config is not None:
            self.set_config(config)
            git(self.root, "add", "-A")
            git(self.root, "commit", "-q", "--allow-empty", "-m", f"config for {version}")
        run = run_hotswap(["--repo", str(self.root), "release", self.profile, version, "-m", "bench"],
                          env=child_env(work), timeout=120)
        if run.code != 0:
            raise RuntimeError(f"hotswap release {version} failed (exit {run.code}): {run.stderr[-2000:]}")


@dataclass
class Run:
    code: int
    wall: float  # seconds from spawn to exit
    maxrss_mb: float  # the hotswap process's own peak RSS (wait4 rusage; includes its reaped children)
    started: float  # time.time() at spawn (the events' `at` is ISO-8601 UTC wall time)
    stdout: str
    stderr: str
    events: list[dict[str, Any]] = field(default_factory=list)
    timed_out: bool = False
    cpu: float = 0.0  # user + system seconds of the hotswap process (and its reaped children)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == kind]

    def first(self, kind: str) -> dict[str, Any] | None:
        found = self.of(kind)
        return found[0] if found else None


def run_hotswap(args: list[str], *, env: dict[str, str], timeout: float, profile_to: Path | None = None) -> Run:
    """Run `python -m hotswap_cli ARGS` in its own process group; kill the group at `timeout`.

    Peak RSS comes from wait4() on exactly this child (not the demo services, not earlier runs).
    With `profile_to`, the child runs under cProfile and writes its stats there.
    """
    prefix = [sys.executable, "-m", "hotswap_cli"]
    if profile_to is not None and shutil.which("py-spy"):  # samples the thread holding the GIL
        prefix = ["py-spy", "record", "--gil", "--threads", "--rate", "200", "--format", "raw", "-o",
                  str(profile_to), "--", *prefix]
    elif profile_to is not None:
        prefix = [sys.executable, "-m", "cProfile", "-o", str(profile_to), "-m", "hotswap_cli"]
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []
    started, t0 = time.time(), time.monotonic()
    proc = subprocess.Popen(prefix + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, start_new_session=True)
    readers = [threading.Thread(target=_drain, args=(proc.stdout, out_chunks), daemon=True),
               threading.Thread(target=_drain, args=(proc.stderr, err_chunks), daemon=True)]
    for t in readers:
        t.start()
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        _killpg(proc.pid)

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        _killpg(proc.pid)
        os.wait4(proc.pid, 0)
        raise
    finally:
        timer.cancel()
    wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
    for t in readers:
        t.join(5)
    stdout = b"".join(out_chunks).decode(errors="replace")
    events = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
    return Run(proc.returncode, wall, usage.ru_maxrss / 1024.0, started, stdout,
               b"".join(err_chunks).decode(errors="replace"), events, timed_out.is_set(),
               usage.ru_utime + usage.ru_stime)


def _drain(stream: Any, chunks: list[bytes]) -> None:
    for chunk in iter(lambda: stream.read(65536), b""):
        chunks.append(chunk)
    stream.close()


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # the group we created with start_new_session
    except ProcessLookupError:
        pass


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def http_target(name: str, url: str, *, metrics: bool = False) -> dict[str, Any]:
    health: list[dict[str, Any]] = [{"type": "http", "url": f"{url}/health"}]
    if metrics:
        health.append({"type": "metrics", "url": f"{url}/metrics"})
    return {"name": name, "transport": {"type": "http", "url": f"{url}/config", "confirm_url": f"{url}/config"},
            "health": health}
