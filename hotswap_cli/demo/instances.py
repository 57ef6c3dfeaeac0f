"""Start and stop demo instances as background processes, recorded in a state file in one directory."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from hotswap_cli.errors import HotswapError

STATE_FILE = "instances.json"
MAX_PER_PROCESS_PROCESSES = 16  # large fleets share processes: 1000 instances fit a 2-core box
HEALTH_WAITERS = 32  # instances whose first /health is awaited at once
INITIAL_CONFIG = {"simulate": {"errorRate": 0.005, "latencyMs": 35}}  # like a healthy payment-service


@dataclass(frozen=True)
class DemoInstance:
    name: str
    port: int
    url: str  # http://127.0.0.1:PORT
    config_path: str
    pid: int


def default_directory() -> Path:
    """$HOTSWAP_DEMO_DIR, else $XDG_CACHE_HOME/hotswap/demo (~/.cache/hotswap/demo)."""
    if os.environ.get("HOTSWAP_DEMO_DIR"):
        return Path(os.environ["HOTSWAP_DEMO_DIR"]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "hotswap" / "demo"


def list_instances(directory: Path | None = None) -> list[DemoInstance]:
    """The instances recorded in `directory` (empty when none were started there)."""
    state = (directory or default_directory()) / STATE_FILE
    try:
        rows = json.loads(state.read_text())
    except FileNotFoundError:
        return []
    return [DemoInstance(**row) for row in rows]


def start_instances(n: int = 5, directory: Path | None = None, *, base_port: int | None = None,
                    per_process: int | None = None, prefix: str = "demo",
                    timeout: float = 20.0) -> list[DemoInstance]:
    """Start `n` instances on 127.0.0.1 (free ports, or base_port, base_port+1, ...); wait for /health.

    Each gets `<directory>/<name>/config.json`. Small fleets run one process per instance; with
    more than 16 instances they are spread over 16 processes. Refuses if `directory` already runs some.
    """
    if n < 1:
        raise HotswapError("demo needs at least one instance")
    root = (directory or default_directory()).resolve()
    running = [i for i in list_instances(root) if _alive(i.pid)]
    if running:
        raise HotswapError(f"demo instances already run from {root} ({len(running)})",
                           hint="`hotswap demo down` first")
    root.mkdir(parents=True, exist_ok=True)
    per = per_process or max(1, math.ceil(n / MAX_PER_PROCESS_PROCESSES))
    names = [f"{prefix}-{i}" for i in range(1, n + 1)]
    procs: list[tuple[subprocess.Popen[bytes], Path, list[str]]] = []
    for start in range(0, n, per):
        group = names[start:start + per]
        args = [sys.executable, "-m", "hotswap_cli.demo.service"]
        for offset, name in enumerate(group, start=start):
            config = root / name / "config.json"
            config.parent.mkdir(exist_ok=True)
            if not config.exists():
                config.write_text(json.dumps(INITIAL_CONFIG, indent=2) + "\n")
            port = base_port + offset if base_port else 0
            args += ["--instance", f"{name}={port}:{config}"]
        ready = root / f"ready-{start}.json"
        ready.unlink(missing_ok=True)
        args += ["--ready-file", str(ready)]
        log = open(root / f"service-{start}.log", "ab")  # noqa: SIM115 - handed to the child
        procs.append((subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       start_new_session=True), ready, group))
        log.close()
    instances: list[DemoInstance] = []
    try:
        deadline = time.monotonic() + timeout
        for proc, ready, group in procs:
            ports = _wait_ready(proc, ready, deadline, root)
            for name in group:
                port = ports[name]
                instances.append(DemoInstance(name, port, f"http://127.0.0.1:{port}",
                                              str(root / name / "config.json"), proc.pid))
        # each /health answers after the instance's simulated latency (35 ms): one after another,
        # 10,000 instances took ~6 minutes to come up
        with ThreadPoolExecutor(max_workers=HEALTH_WAITERS) as pool:
            list(pool.map(lambda inst: _wait_healthy(inst, deadline), instances))
    except BaseException:
        for proc, _, _ in procs:
            proc.kill()
            proc.wait()
        raise
    (root / STATE_FILE).write_text(json.dumps([asdict(i) for i in instances], indent=2) + "\n")
    return instances


def stop_instances(directory: Path | None = None, timeout: float = 10.0) -> list[DemoInstance]:
    """Stop exactly the processes recorded in `directory`'s state file; returns the instances stopped."""
    root = directory or default_directory()
    instances = list_instances(root)
    pids = sorted({i.pid for i in instances if _alive(i.pid)})
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        _reap(pid)
    (root / STATE_FILE).unlink(missing_ok=True)
    return instances


def _reap(pid: int) -> None:
    """Collect the exit status when we started it in this process (no zombie left behind)."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _alive(pid: int) -> bool:
    """Running and still our demo service (the pid was not reused by something else)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read()
        with open(f"/proc/{pid}/stat") as fh:
            zombie = fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False
    return b"hotswap_cli.demo.service" in cmdline and not zombie


def _wait_ready(proc: subprocess.Popen[bytes], ready: Path, deadline: float, root: Path) -> dict[str, int]:
    while time.monotonic() < deadline:
        if ready.exists():
            ports: dict[str, int] = json.loads(ready.read_text())["ports"]
            ready.unlink()
            return ports
        if proc.poll() is not None:
            raise HotswapError(f"demo service exited with {proc.returncode}",
                               hint=f"see {root}/service-*.log")
        time.sleep(0.02)
    raise HotswapError("demo service did not start in time", hint=f"see {root}/service-*.log")


def _wait_healthy(inst: DemoInstance, deadline: float) -> None:
    while True:
        try:
            with urllib.request.urlopen(f"{inst.url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() >= deadline:
            raise HotswapError(f"demo instance {inst.name} does not answer {inst.url}/health")
        time.sleep(0.05)
