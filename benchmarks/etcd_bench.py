"""Direct deploy of N instance keys to a local single-node etcd, beside the same fleet pushed over HTTP
(issue #17), through the real pipeline: `hotswap release`, then `hotswap deploy ... --yes --json` as
a measured subprocess.

    python benchmarks/etcd_bench.py [--n 10000] [--http-n N] [--per-process 100] [--timeout 900]

- etcd:  N targets `{type: etcd, endpoints: [<local etcd>], key: "/config/{profile}/{instance}"}`,
         one key each, against a private etcd 3.4 (tests/support/etcd.py's start_etcd: loopback
         ports, data dir in a temp dir, stopped by PID at the end, always).
- http:  the same profile with `{type: http, url: .../config, confirm_url: .../config}` targets on
         demo service instances (deploy_bench.py's demo_fleet: `--per-process` instances per demo
         process, one port each). `--http-n` runs it at a smaller N (the demo processes share this
         machine's CPUs); per-instance figures make the two comparable. `--http-n 0` skips it.

Both profiles: `strategy: {type: direct}` (no bake), the default concurrency (50), no health
probes, so the figures are push + confirm only. For each transport it prints N, wall (the whole
`hotswap deploy` process, spawn to exit), run (the result event's `elapsed_s` minus the first
event's), per-instance ms (run / N), peak RSS of the hotswap process (ru_maxrss from wait4 on that
child only: not etcd, not the demo services), then the etcd/http ratio of the per-instance run time
and of the peak RSS. Exit 0 when every deploy completed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _bench_support import ConfigRepo, Run, http_target  # noqa: E402
from deploy_bench import demo_fleet, deploy, result_of, workdir  # noqa: E402
from support.etcd import start_etcd  # noqa: E402

STRATEGY = {"type": "direct"}
CONFIG = {"service": {"name": "bench", "rev": 1}, "simulate": {"errorRate": 0.0, "latencyMs": 20}}


@dataclass(frozen=True)
class Figures:
    transport: str
    n: int
    wall: float
    run: float
    rss_mb: float
    status: str
    note: str = ""

    @property
    def per_instance_ms(self) -> float:
        return 1000.0 * self.run / self.n if self.n else float("nan")


def figures_of(transport: str, n: int, run: Run) -> Figures:
    if run.first("result") is None:  # timed out or crashed: say how far it got, and what it held
        live = len({e["instance"] for e in run.of("instance_state") if e.get("state") == "live"})
        started = "deploy started" if run.first("deploy_started") else "still preparing (no deploy_started)"
        raise RuntimeError(f"{transport} N={n}: no result after {run.wall:.0f}s (exit {run.code}"
                           f"{', killed at the timeout' if run.timed_out else ''}); {started}, {live}/{n} "
                           f"instances live; peak RSS {run.maxrss_mb:.0f} MB; stderr: {run.stderr.strip()[-800:]}")
    res = result_of(run)
    # `result` itself carries no elapsed_s (docs/json.md): the run is the first to the last event
    # that does (deploy_started, elapsed_s 0, to deploy_finished); `plan`, with its live reads, is before
    timed = [e["elapsed_s"] for e in run.events if "elapsed_s" in e]
    elapsed = timed[-1] - timed[0] if timed else float("nan")
    note = "" if res["status"] == "completed" else f"{res.get('reason')}"
    return Figures(transport, n, run.wall, elapsed, run.maxrss_mb, res["status"], note)


def bench_etcd(n: int, timeout: float) -> Figures:
    with workdir("etcd") as work:
        server = start_etcd(work, name="etcd")
        try:
            key = "/config/{profile}/{instance}"
            targets: list[dict[str, Any]] = [
                {"name": f"e{i}", "transport": {"type": "etcd", "endpoints": [server.endpoint], "key": key}}
                for i in range(n)]
            repo = ConfigRepo(work / "repo", targets, strategy=STRATEGY, config=CONFIG)
            t0 = time.monotonic()
            repo.release(work, "1.0.0")
            print(f"  etcd: {n} targets, released in {time.monotonic() - t0:.1f}s; deploying", flush=True)
            run = deploy(repo, work, "1.0.0", timeout=timeout)
            found = figures_of("etcd", n, run)
            written = _count_keys(server, f"/config/{repo.profile}/")
            return Figures(found.transport, found.n, found.wall, found.run, found.rss_mb, found.status,
                           f"{written} keys in etcd{'; ' + found.note if found.note else ''}")
        finally:
            server.stop()


def _count_keys(server: Any, prefix: str) -> int:
    """Keys under `prefix` (a range's `count` is the whole range's, whatever its limit; etcdctl 3.4
    has no --count-only)."""
    out = server.etcdctl("get", prefix, "--prefix", "--keys-only", "--limit=1", "--write-out=json", check=False)
    try:
        return int(json.loads(out.stdout).get("count", 0))
    except ValueError:
        raise RuntimeError(f"etcdctl get: {out.stderr.strip()[-500:]}") from None


def bench_http(n: int, per_process: int, timeout: float) -> Figures:
    with workdir("etcd-http") as work:
        t0 = time.monotonic()
        with demo_fleet(work / "instances", n, per_process=min(n, per_process), timeout=300) as instances:
            procs = len({i.pid for i in instances})
            print(f"  http: {n} demo instances on {procs} processes up in {time.monotonic() - t0:.1f}s",
                  flush=True)
            targets = []
            for i, inst in enumerate(instances):
                target = http_target(f"h{i}", inst.url)
                del target["health"]  # push + confirm only, like the etcd side
                targets.append(target)
            repo = ConfigRepo(work / "repo", targets, strategy=STRATEGY, config=CONFIG)
            repo.release(work, "1.0.0")
            run = deploy(repo, work, "1.0.0", timeout=timeout)
            found = figures_of("http", n, run)
            return Figures(found.transport, found.n, found.wall, found.run, found.rss_mb, found.status,
                           f"{procs} demo processes{'; ' + found.note if found.note else ''}")


def print_table(rows: list[Figures]) -> None:
    print(f"{'transport':<9} {'N':>6} {'wall s':>8} {'run s':>8} {'per-instance ms':>15} {'peak RSS MB':>11}  status")
    for r in rows:
        print(f"{r.transport:<9} {r.n:>6} {r.wall:>8.2f} {r.run:>8.2f} {r.per_instance_ms:>15.2f} "
              f"{r.rss_mb:>11.0f}  {r.status} ({r.note})")
    by = {r.transport: r for r in rows}
    if "etcd" in by and "http" in by:
        e, h = by["etcd"], by["http"]
        print(f"etcd/http: per-instance run time {_ratio(e.per_instance_ms, h.per_instance_ms)}, "
              f"per-instance wall {_ratio(e.wall / e.n, h.wall / h.n)}, peak RSS {_ratio(e.rss_mb, h.rss_mb)}"
              + (f" (at N {e.n} vs {h.n})" if e.n != h.n else ""))


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="etcd keys / instances (default 10000)")
    parser.add_argument("--http-n", type=int, default=None, help="http instances (default: --n; 0 skips)")
    parser.add_argument("--per-process", type=int, default=100, help="demo instances per process (default 100)")
    parser.add_argument("--timeout", type=float, default=900.0, help="each deploy's timeout, seconds")
    args = parser.parse_args()
    http_n = args.n if args.http_n is None else args.http_n
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print(f"hotswap etcd vs http direct deploy: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
          flush=True)
    rows: list[Figures] = []
    failed = False
    for name, bench in (("etcd", lambda: bench_etcd(args.n, args.timeout)),
                        ("http", lambda: bench_http(http_n, args.per_process, args.timeout))):
        if name == "http" and http_n <= 0:
            continue
        try:
            rows.append(bench())
            failed |= rows[-1].status != "completed"
        except KeyboardInterrupt:
            print(f"{name}: interrupted", flush=True)
            return 130
        except Exception as exc:  # one failing side must not hide the other's figures
            print(f"{name}: ERROR {type(exc).__name__}: {exc}", flush=True)
            failed = True
    print_table(rows)
    print("  * wall = spawn -> exit of `hotswap deploy`; run = first to last event's elapsed_s "
          "(deploy_started -> deploy_finished); per-instance = run / N; "
          "peak RSS = ru_maxrss of the hotswap process (wait4)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
