"""What reading a long ledger costs `status` and `deploy`: both read every record of the profile
(the last good version, the names of live versions, a reverted version's warning, an open
journal's own record). N records of an M-instance fleet are written with `ledger.append_record`
into a fresh repo; then, best of --repeat, one `read_records` of the whole records (what every
reader did before summaries) beside one of the summaries (what status and deploy read now), and
the same for a ledger written by an older hotswap (record.json only: summarised on read).

    python benchmarks/ledger_read_bench.py [--records 50] [--instances 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hotswap_cli.core.deploy import ledger  # noqa: E402
from hotswap_cli.core.versions.git import GitRepo  # noqa: E402

PROFILE = "web.production"


def fleet_record(n: int, version: str) -> dict[str, object]:
    """A record shaped like a direct deploy's: an entry, a verdict line and a timeline per instance."""
    names = [f"web-{i}" for i in range(n)]
    instances = [{"instance": x, "state": "healthy", "phase": 1, "touched": True, "previous_present": True,
                  "previous_sha256": "ab" * 32, "previous_config": "cd" * 32, "started_at": "2026-12-01T05:00:00Z",
                  "finished_at": "2026-12-01T05:00:01Z", "error": None} for x in names]
    verdict = {"phase": 1, "ok": True, "outcome": "pass", "instances": [
        {"instance": x, "checks": 2, "failed_checks": 0, "error_rate": None, "p99_ms": None} for x in names]}
    return {"kind": "deploy", "profile": PROFILE, "version": version, "status": "completed", "sha256": "ef" * 32,
            "phases": [{"number": 1, "name": "all", "instances": names}], "instances": instances,
            "verdicts": [verdict], "timeline": {"states": {x: [[0.7, "staged"], [0.8, "live"]] for x in names}}}


def build(root: Path, records: int, instances: int) -> GitRepo:
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    repo = GitRepo(root)
    for i in range(records):
        ledger.append_record(repo, fleet_record(instances, f"1.{i}.0"))
    return repo


def without_summaries(repo: GitRepo) -> None:
    """Rewrite the profile's ledger as an older hotswap wrote it: each commit's tree holds record.json only."""
    ref = ledger.ledger_ref(PROFILE)
    parent = None
    for commit in repo.git("rev-list", "--reverse", ref).stdout.split():
        entry = repo.git("ls-tree", commit, ledger.RECORD_FILE).stdout
        tree = repo.git("mktree", input=entry).stdout.strip()
        subject = repo.git("log", "-1", "--format=%s", commit).stdout.strip()
        parent = repo.git("commit-tree", tree, *(["-p", parent] if parent else []), "-m", subject).stdout.strip()
    assert parent is not None
    repo.git("update-ref", ref, parent)


def best(repeat: int, fn: object) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=50)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hotswap-ledger-read-") as tmp:
        repo = build(Path(tmp) / "repo", args.records, args.instances)
        size = sum(len(ledger.document_text(r)) for r in ledger.read_records(repo, PROFILE))
        print(f"{args.records} records of {args.instances} instances ({size / 1e6:.1f} MB of records), "
              f"best of {args.repeat}:")
        for label in ("with summaries", "written by an older hotswap"):
            if label != "with summaries":
                without_summaries(repo)
            whole = best(args.repeat, lambda: ledger.read_records(repo, PROFILE))
            brief = best(args.repeat, lambda: ledger.read_records(repo, PROFILE, summaries=True))
            print(f"  {label}: whole records {whole * 1000:.0f} ms (every reader before), "
                  f"summaries {brief * 1000:.0f} ms (status and deploy now): {whole / brief:.1f}x")


if __name__ == "__main__":
    main()
