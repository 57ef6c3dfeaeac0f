"""The demo service: many instances in one asyncio process, each on its own 127.0.0.1 port.

Each instance takes its config by HTTP (PUT /config) or from its config file (watched), reloads
without restarting, and serves /health, /config (the raw config, its hash in X-Config-Sha256),
/metrics (synthetic traffic whose error rate and latency follow `simulate.*`) and POST /-/reload.
With --etcd, each instance registers itself under /instances/<service>/<name> (a lease kept alive
every TTL/3, revoked at shutdown); with --etcd-key it also takes its config from that key.

    python -m hotswap_cli.demo.service --instance NAME=PORT:CONFIG_PATH ... [--ready-file F]
        [--etcd URL [--etcd-ttl 120] [--service demo] [--etcd-key /config/{service}/{instance}]]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotswap_cli.demo.traffic import Traffic
from hotswap_cli.formats import parse_config_bytes
from hotswap_cli.io.files import write_atomic
from hotswap_cli.model import config_hash

MAX_BODY = 2 * 1024 * 1024
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           413: "Payload Too Large", 422: "Unprocessable Entity", 500: "Internal Server Error",
           503: "Service Unavailable"}
DEFAULTS = {"rps": 2000.0, "errorRate": 0.0, "latencyMs": 20.0}


def parse_config(raw: bytes) -> dict[str, Any]:
    """JSON or YAML; the config must be a mapping. Raises ValueError with the reason."""
    data = parse_config_bytes(raw)
    if not isinstance(data, dict):
        raise ValueError("config must be a mapping")
    return data


@dataclass
class Instance:
    name: str
    port: int
    config_path: str
    raw: bytes | None = None
    config: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    load_error: str = ""
    stamp: tuple[int, int, int] | None = None
    reloads: int = 0
    traffic: Traffic = field(default_factory=lambda: Traffic(time.monotonic()))

    def simulate(self, key: str) -> Any:
        sim = self.config.get("simulate")
        value = sim.get(key) if isinstance(sim, dict) else None
        return DEFAULTS.get(key) if value is None else value

    def apply(self, raw: bytes, data: dict[str, Any]) -> None:
        self._advance()  # traffic so far follows the old settings
        self.raw, self.config, self.sha256, self.load_error = raw, data, config_hash(data), ""
        self.reloads += 1

    def load_file(self, force: bool = False) -> bool:
        """Reload from the config file if it changed; a bad file keeps the running config."""
        try:
            st = os.stat(self.config_path)
        except FileNotFoundError:
            self.stamp = None
            return False
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self.stamp and not force:
            return False
        self.stamp = stamp
        try:
            with open(self.config_path, "rb") as fh:
                raw = fh.read()
            self.apply(raw, parse_config(raw))
        except (OSError, ValueError) as exc:
            self.load_error = f"{self.config_path}: {exc}"
            return False
        return True

    def put_config(self, raw: bytes, data: dict[str, Any]) -> None:
        """What PUT /config does (and a new value of the watched etcd key): write through, apply."""
        self.write_file(raw)
        self.apply(raw, data)

    def write_file(self, raw: bytes) -> None:
        """PUT writes through to the config file (atomically), so the file and HTTP views agree."""
        write_atomic(Path(self.config_path), raw)
        st = os.stat(self.config_path)
        self.stamp = (st.st_mtime_ns, st.st_size, st.st_ino)

    def _advance(self) -> None:
        self.traffic.advance(time.monotonic(), float(self.simulate("rps")), float(self.simulate("errorRate")),
                             float(self.simulate("latencyMs")))

    def metrics(self) -> str:
        self._advance()
        return self.traffic.render() + f"demo_config_reloads_total {self.reloads}\n"


Response = tuple[int, dict[str, str], bytes]


def _json(status: int, body: Any) -> Response:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode() + b"\n"


async def route(inst: Instance, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
    path = path.split("?", 1)[0]
    if path == "/health" and method == "GET":
        await asyncio.sleep(min(5.0, float(inst.simulate("latencyMs")) / 1000.0))
        status = inst.simulate("healthStatus")
        if status is None:
            status = 503 if random.random() < float(inst.simulate("errorRate")) else 200
        return _json(int(status), {"instance": inst.name, "status": "ok" if status == 200 else "failing",
                                   "sha256": inst.sha256})
    if path == "/config" and method == "GET":
        if inst.raw is None:
            return _json(404, {"error": "no config loaded", "detail": inst.load_error})
        hdrs = {"Content-Type": "application/octet-stream", "X-Config-Sha256": inst.sha256}
        if inst.load_error:
            hdrs["X-Config-Error"] = inst.load_error.replace("\n", " ")[:300]
        return 200, hdrs, inst.raw
    if path == "/config" and method in ("PUT", "POST"):
        try:
            data = parse_config(body)
        except ValueError as exc:
            return _json(400, {"error": str(exc)})
        sim = data.get("simulate")
        if isinstance(sim, dict) and sim.get("rejectReload"):
            return _json(422, {"error": "config rejected: simulate.rejectReload is set"})
        inst.put_config(body, data)
        return _json(200, {"sha256": inst.sha256})
    if path == "/-/reload" and method == "POST":
        inst.load_file(force=True)
        if inst.load_error:
            return _json(500, {"error": inst.load_error, "sha256": inst.sha256})
        return _json(200, {"sha256": inst.sha256})
    if path == "/metrics" and method == "GET":
        return 200, {"Content-Type": "text/plain; version=0.0.4"}, inst.metrics().encode()
    if path in ("/health", "/config", "/-/reload", "/metrics"):
        return _json(405, {"error": f"{method} not allowed on {path}"})
    return _json(404, {"error": f"no such path: {path}"})


async def serve_connection(inst: Instance, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """HTTP/1.1 with keep-alive, Content-Length bodies only: all the demo's clients need."""
    try:
        while True:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=60)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                return
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                return
            method, target, _version = parts
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0") or 0)
            if length > MAX_BODY:
                status, hdrs, body = _json(413, {"error": "config too large"})
            else:
                data = await reader.readexactly(length) if length else b""
                status, hdrs, body = await route(inst, method, target, headers, data)
            close = headers.get("connection", "").lower() == "close"
            out = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}", f"Content-Length: {len(body)}"]
            out += [f"{k}: {v}" for k, v in hdrs.items()]
            out.append("Connection: close" if close else "Connection: keep-alive")
            writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
            if close:
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def watch(instances: list[Instance], interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        for inst in instances:
            inst.load_file()


@dataclass(frozen=True)
class EtcdOptions:
    endpoint: str
    ttl: int = 120
    service: str = "demo"
    key: str | None = None  # {service} and {instance} filled in: the key each instance watches


async def watch_keys(instances: list[Instance], options: EtcdOptions, client: Any) -> None:
    """Every 0.5 s: a new value of an instance's key is applied as PUT /config would (a value that
    does not parse, or asks to be rejected, is logged and the running config kept)."""
    from hotswap_cli.demo.registration import KeyWatch

    assert options.key is not None
    watches = [(inst, KeyWatch(client, options.key.format(service=options.service, instance=inst.name)))
               for inst in instances]
    while True:
        for inst, watch_ in watches:
            raw = await asyncio.to_thread(watch_.changed)
            if raw is None:
                continue
            try:
                data = parse_config(raw)
            except ValueError as exc:
                inst.load_error = f"{watch_.key}: {exc}"
                continue
            sim = data.get("simulate")
            if isinstance(sim, dict) and sim.get("rejectReload"):
                inst.load_error = f"{watch_.key}: config rejected: simulate.rejectReload is set"
                continue
            if config_hash(data) != inst.sha256:
                inst.put_config(raw, data)
        await asyncio.sleep(0.5)


async def run(instances: list[Instance], ready_file: str | None, poll: float,
              etcd: EtcdOptions | None = None) -> None:
    servers, ports = [], {}
    for inst in instances:
        inst.load_file(force=True)

        async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter, inst: Instance = inst) -> None:
            await serve_connection(inst, r, w)

        server = await asyncio.start_server(handler, "127.0.0.1", inst.port, backlog=256)
        inst.port = server.sockets[0].getsockname()[1]
        ports[inst.name] = inst.port
        servers.append(server)
    registration = None
    if etcd is not None:
        from hotswap_cli.demo.registration import Registration
        from hotswap_cli.io.etcd import EtcdClient

        client = EtcdClient([etcd.endpoint], timeout=3.0)
        registration = Registration(client, etcd.service, etcd.ttl)
        for inst in instances:
            registration.add(inst.name, f"http://127.0.0.1:{inst.port}")
        await asyncio.to_thread(registration.start)
    if ready_file:
        write_atomic(Path(ready_file), json.dumps({"pid": os.getpid(), "ports": ports}).encode())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(watch(instances, poll))]
    if etcd is not None and etcd.key and registration is not None:
        tasks.append(asyncio.create_task(watch_keys(instances, etcd, registration.client)))
    await stop.wait()
    for task in tasks:
        task.cancel()
    for server in servers:
        server.close()
    if registration is not None:
        await asyncio.to_thread(registration.stop)
        registration.client.close()


def parse_instance(text: str) -> Instance:
    """NAME=PORT:CONFIG_PATH (PORT 0: any free port, reported in the ready file)."""
    name, _, rest = text.partition("=")
    port, _, path = rest.partition(":")
    if not name or not port.isdigit() or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PORT:CONFIG_PATH, got {text!r}")
    return Instance(name=name, port=int(port), config_path=os.path.abspath(path))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hotswap_cli.demo.service", description=__doc__)
    parser.add_argument("--instance", action="append", type=parse_instance, default=[], required=True)
    parser.add_argument("--ready-file", help="write {pid, ports} here once every port listens")
    parser.add_argument("--poll", type=float, default=0.2, help="config file poll interval, seconds")
    parser.add_argument("--etcd", metavar="URL", help="register each instance in this etcd (http://host:port)")
    parser.add_argument("--etcd-ttl", type=int, default=120, help="the registration lease's TTL, seconds")
    parser.add_argument("--service", default="demo", help="registered under /instances/SERVICE/NAME")
    parser.add_argument("--etcd-key", metavar="KEY", help="also take the config from this key ({service} and "
                        "{instance} filled in), polled every 0.5 s")
    args = parser.parse_args(argv)
    if args.etcd_key and not args.etcd:
        parser.error("--etcd-key needs --etcd")
    etcd = EtcdOptions(args.etcd, max(1, args.etcd_ttl), args.service, args.etcd_key) if args.etcd else None
    asyncio.run(run(args.instance, args.ready_file, args.poll, etcd))


if __name__ == "__main__":
    main()
