"""A real Prometheus server on 127.0.0.1 for tests, scraping given targets every second.

`scraped_demo(directory, n)` starts n demo instances and a Prometheus scraping them, waits until
each has been scraped a few times, and stops everything it started on the way out.
`start_prometheus(directory, targets)` starts Debian's `prometheus` (installed by .ci/run) with
its own config and storage in `directory`; `targets` maps an `instance` label to host:port, so
queries select `{instance="<target name>"}` as hotswap's default queries do. A missing binary
fails the tests, it does not skip them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from hotswap_cli.demo.instances import DemoInstance, start_instances, stop_instances


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PrometheusServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def query(self, promql: str) -> list[dict[str, object]]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as response:
            return list(json.load(response)["data"]["result"])

    def wait_for_scrapes(self, instances: list[str], count: int = 3, timeout: float = 30.0) -> None:
        """Until every instance has been scraped `count` times (rates need a few points)."""
        ends = time.monotonic() + timeout
        while time.monotonic() < ends:
            seen = {str(r["metric"]["instance"]): float(r["value"][1])  # type: ignore[index]
                    for r in self.query('count_over_time(up{job="demo"}[5m])')}
            if all(seen.get(name, 0) >= count for name in instances):
                return
            time.sleep(0.5)
        raise RuntimeError(f"prometheus did not scrape {instances} {count} times in {timeout:g}s: "
                           f"{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_prometheus(directory: Path, targets: dict[str, str], *, timeout: float = 30.0) -> PrometheusServer:
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not os.path.exists(binary):
        raise RuntimeError("prometheus not found: install the Debian package `prometheus` (CI does, in .ci/run)")
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{
            "job_name": "demo",
            "scrape_interval": "1s",
            "static_configs": [{"targets": [address], "labels": {"instance": name}}
                               for name, address in targets.items()],
        }],
    }
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = directory / "prometheus.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [binary, f"--config.file={directory / 'prometheus.yml'}", f"--storage.tsdb.path={directory / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = PrometheusServer(f"http://127.0.0.1:{port}", process, log)
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"prometheus did not get ready in {timeout:g}s: {log.read_text()[-2000:]}")


@contextmanager
def scraped_demo(directory: Path, n: int) -> Iterator[tuple[PrometheusServer, list[DemoInstance]]]:
    instances = start_instances(n, directory / "demo")
    try:
        server = start_prometheus(directory / "prometheus", {i.name: f"127.0.0.1:{i.port}" for i in instances})
        try:
            server.wait_for_scrapes([i.name for i in instances])
            yield server, instances
        finally:
            server.stop()
    finally:
        stop_instances(directory / "demo")
