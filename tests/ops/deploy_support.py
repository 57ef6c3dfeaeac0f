"""Helpers for the end-to-end deploy tests: a config repo for demo (HTTP) instances, running
`hotswap` as a real process, reading its `--json` event stream, and plain HTTP reads."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from support.instances import http_get  # noqa: F401 - re-exported for the deploy tests
from support.repo import git  # noqa: F401 - the one git helper (re-exported)

DEMO_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "demo-config/1.0",
    "title": "demo service configuration",
    "type": "object",
    "additionalProperties": False,
    "required": ["service", "simulate"],
    "properties": {
        "service": {"type": "string"},
        "simulate": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "errorRate": {"type": "number", "minimum": 0, "maximum": 1},
                "latencyMs": {"type": "number", "minimum": 0},
                "rps": {"type": "number", "minimum": 0},
                "healthStatus": {"type": "integer"},
                "rejectReload": {"type": "boolean"},
            },
        },
    },
}
# the demo instances' initial traffic shape (35ms, 2000 requests/s), so a good config keeps the baseline p99
DEMO_CONFIG: dict[str, Any] = {"service": "demo", "simulate": {"errorRate": 0.0, "latencyMs": 35}}


class DemoRepo:
    """A config repo with one `demo.<env>` profile of HTTP targets (demo instances)."""

    def __init__(self, root: Path, profile: str) -> None:
        self.root = root
        self.profile = profile

    @property
    def config_file(self) -> Path:
        return self.root / "profiles" / self.profile / "config.json"

    def config(self) -> dict[str, Any]:
        return dict(json.loads(self.config_file.read_text()))

    def set_simulate(self, **changes: Any) -> dict[str, Any]:
        data = self.config()
        data["simulate"] = {**data["simulate"], **changes}
        self.config_file.write_text(json.dumps(data, indent=2) + "\n")
        return data

    def release(self, cli: Any, version: str, message: str = "change") -> None:
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "--allow-empty", "-m", message)
        result = cli("--repo", str(self.root), "release", self.profile, version, "-m", message)
        assert result.exit_code == 0, result


def make_demo_repo(root: Path, targets: list[dict[str, Any]], *, environment: str = "Production",
                   strategy: dict[str, Any] | None = None, health: dict[str, Any] | None = None) -> DemoRepo:
    name = f"demo.{environment.lower()}"
    (root / "schemas/demo-config").mkdir(parents=True)
    (root / "schemas/demo-config/1.0.json").write_text(json.dumps(DEMO_SCHEMA, indent=2) + "\n")
    (root / "hotswap.yaml").write_text(yaml.safe_dump({"environments": {
        e: {"approvals": 0} for e in ("Development", "Staging", "Production")}}))
    profile_dir = root / "profiles" / name
    profile_dir.mkdir(parents=True)
    profile = {"environment": environment, "serviceType": "Worker", "schema": "demo-config/1.0",
               "strategy": strategy or {"type": "canary", "steps": [25, 50, 100], "bake": "0.4s"},
               "health": health or {"interval": "0.2s"}, "targets": targets}
    (profile_dir / "profile.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    (profile_dir / "config.json").write_text(json.dumps(DEMO_CONFIG, indent=2) + "\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "demo fleet")
    return DemoRepo(root, name)


def http_put(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def running_hash(base_url: str) -> str:
    status, headers, _ = http_get(base_url + "/config")
    assert status == 200, f"{base_url}/config answered {status}"
    return {k.lower(): v for k, v in headers.items()}["x-config-sha256"]


def parse_json_lines(stdout: str) -> list[dict[str, Any]]:
    """Every stdout line must be one JSON object (no other output is allowed on stdout)."""
    events = []
    for n, line in enumerate(stdout.splitlines(), start=1):
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise AssertionError(f"stdout line {n} is not JSON: {line!r}") from exc
        assert isinstance(obj, dict) and isinstance(obj.get("event"), str), f"line {n}: {line!r}"
        events.append(obj)
    return events


def hotswap_cmd(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "hotswap_cli", "--repo", str(root), *args]


def clone_jobs(origin: Path, parent: Path, n: int, prefix: str = "job") -> list[Path]:
    """`n` fresh clones of `origin` under `parent`, as CI jobs each start from one."""
    clones = []
    for i in range(n):
        clone = parent / f"{prefix}-{i:02d}"
        git(parent, "clone", "-q", str(origin), str(clone))
        clones.append(clone)
    return clones


def subprocess_env() -> dict[str, str]:
    """The test session's environment (isolated git identity) without OTEL exporters."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["NO_COLOR"] = "1"
    return env


class EventStream:
    """Reads a child's `--json` stdout line by line on a thread; `wait_for` blocks with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.raw.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "<not json>", "line": line}
            self._queue.put(event)
        self._queue.put(None)

    def wait_for(self, predicate: Any, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching event within {timeout}s; got {self.events}")
            try:
                event = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if event is None:
                raise AssertionError(f"stdout closed (exit {self.proc.poll()}) before a matching event; "
                                     f"got {self.events}")
            self.events.append(event)
            if predicate(event):
                return event

    def drain(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        self._thread.join(timeout)
        while True:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                return self.events
            if event is not None:
                self.events.append(event)
