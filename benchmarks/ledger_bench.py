"""How long a deploy's record takes to reach the remote ledger when N pipelines deploy at once.

One bare origin, one config repo with N Development profiles (one local target each), N fresh
clones, N `hotswap deploy PROFILE 1.0.0 --yes --json` processes started together. For each run:
from its last instance going live (the `instance_state live` event; the runner's clock is
CLOCK_MONOTONIC, shared by every process on the machine) to its ledger ref being on origin
(the process has exited 0 by then: the push is the last thing it does; the time is taken when the
process exits and checked against `git ls-remote`). Prints median and max per N, and how many
records reached origin.

    python benchmarks/ledger_bench.py [--n 1,10,50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "ops"))

from datetime import datetime

from deploy_support import clone_jobs, hotswap_cmd, subprocess_env  # noqa: E402
from support.repo import git  # noqa: E402
from test_ledger_scale import monorepo, with_origin  # noqa: E402


def one_round(n: int) -> tuple[list[float], int]:
    with tempfile.TemporaryDirectory(prefix="hotswap-ledger-bench-") as tmp:
        work = Path(tmp)
        root = work / "repo"
        names = monorepo(root, work / "instances", n)
        origin = with_origin(root, work)
        clones = clone_jobs(origin, work, n)
        env = subprocess_env()
        procs = [subprocess.Popen(hotswap_cmd(c, "deploy", name, "1.0.0", "--yes", "--json"),
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env) for c, name in zip(clones, names, strict=True)]
        waits = []
        pending = dict(enumerate(procs))
        ended: dict[int, float] = {}
        outputs: dict[int, str] = {}
        while pending:
            for i, p in list(pending.items()):
                if p.poll() is not None:
                    ended[i] = time.time()  # wall clock: the events' `at` is ISO-8601 UTC
                    outputs[i] = p.stdout.read() if p.stdout else ""
                    del pending[i]
            time.sleep(0.005)
        for i, out in outputs.items():
            events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
            live = [datetime.fromisoformat(e["at"].replace("Z", "+00:00")).timestamp() for e in events
                    if e.get("event") == "instance_state" and e.get("state") == "live"]
            if procs[i].returncode == 0 and live:
                waits.append(ended[i] - max(live))
        on_origin = git(work, "ls-remote", str(origin), "refs/hotswap/ledger/*").count("\n")
        return waits, on_origin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", default="1,10,50", help="concurrent deploys per round, comma-separated")
    args = parser.parse_args()
    print(f"{'concurrent':>10}  {'records on origin':>17}  {'live -> recorded, median':>24}  {'max':>8}")
    for n in (int(x) for x in args.n.split(",")):
        waits, on_origin = one_round(n)
        median = statistics.median(waits) if waits else float("nan")
        print(f"{n:>10}  {on_origin:>10} of {n:<4}  {median:>22.2f} s  {max(waits, default=float('nan')):>6.2f} s")


if __name__ == "__main__":
    main()
