"""Time `hotswap history` on a config repo with a long history (targets: the first 20 entries in
< 0.5 s on 10,000 commits; the whole history <= 1 s per 1,000 commits), beside
`git log --oneline -- <the profile's inputs>` as the floor.

The repo is example-config-repo/ plus COMMITS commits written by one `git fast-import` (seconds,
not 10,000 `git commit` processes): every 50th changes payment-service.production's config and is
released (an annotated tag), 1 in 500 changes the template it extends, halfway the profile starts
extending a new template (changed now and then before and after), and the rest touch other
profiles, another template and a notes file: commits a history of this profile must skip.

    python benchmarks/history_bench.py [--commits 10000] [--repeat 3] [--keep DIR]

Whole processes: `sys.executable -m hotswap_cli`, not the `hotswap` on PATH (a pyenv shim is a bash
script that costs ~200 ms before Python starts). Best of --repeat runs (a shared machine is noisy).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example-config-repo"
PROFILE = "payment-service.production"
PROFILE_DIR = f"profiles/{PROFILE}"
EXTRA = "templates/payments-extra.yaml"
FIRST_PAGE_TARGET = 0.5  # seconds to the first 20 entries
PER_1000_TARGET = 1.0  # seconds per 1,000 commits for the whole history
WHO = "hotswap bench <bench@hotswap.local>"
T0 = 1_700_000_000


def _data(text: str) -> bytes:
    raw = text.encode()
    return b"data %d\n" % len(raw) + raw + b"\n"


def _stream(commits: int) -> Iterator[bytes]:
    """fast-import commands: the example repo, then `commits` commits and their release tags."""
    config = (EXAMPLE / PROFILE_DIR / "config.yaml").read_text()
    base = (EXAMPLE / "templates/base-service.yaml").read_text()
    gateway = (EXAMPLE / "templates/gateway.yaml").read_text()
    profile_yaml = (EXAMPLE / PROFILE_DIR / "profile.yaml").read_text()
    others = [p.name for p in sorted((EXAMPLE / "profiles").iterdir()) if p.name != PROFILE]
    releases = 0
    for n in range(commits + 1):
        when = T0 + n * 60
        changes: list[tuple[str, str]] = []
        if n == 0:
            message = "initial config"
            changes = [(p.relative_to(EXAMPLE).as_posix(), p.read_text())
                       for p in sorted(EXAMPLE.rglob("*")) if p.is_file()]
        elif n % 50 == 0:
            releases += 1
            message = f"prod: charge limit {1200 + releases}"
            changes = [(f"{PROFILE_DIR}/config.yaml", config.replace("charge: 1200", f"charge: {1200 + releases}"))]
        elif n % 500 == 7:
            message = f"base template: read timeout {10000 + n}"
            changes = [("templates/base-service.yaml", base.replace("readMs: 10000", f"readMs: {10000 + n}"))]
        elif n == 101 or n % 1000 == 301:
            message = f"payments-extra template: {n}"
            changes = [(EXTRA, f"rateLimits:\n  extra: {n}\n")]
        elif n == commits // 2 + 1:
            message = "prod: extends payments-extra too"
            changes = [(f"{PROFILE_DIR}/profile.yaml", profile_yaml.replace(
                "extends: [payment-service]", "extends: [payment-service, payments-extra]"))]
        elif n % 3 == 0:
            message = f"gateway template: burst {n}"
            changes = [("templates/gateway.yaml", gateway.replace("burst: 100", f"burst: {100 + n}"))]
        elif n % 3 == 1:
            other = others[n % len(others)]
            message = f"{other}: note {n}"
            changes = [(f"profiles/{other}/NOTES.md", f"note {n}\n")]
        else:
            message = f"notes {n}"
            changes = [("NOTES.md", f"note {n}\n")]
        head = (b"commit refs/heads/main\nmark :%d\n" % (n + 1)
                + f"author {WHO} {when} +0000\ncommitter {WHO} {when} +0000\n".encode() + _data(message))
        if n:
            head += b"from :%d\n" % n
        yield head + b"".join(f"M 100644 inline {path}\n".encode() + _data(text) for path, text in changes)
        if message.startswith("prod: charge"):
            yield (f"tag {PROFILE}/1.0.{releases}\nfrom :{n + 1}\ntagger {WHO} {when} +0000\n".encode()
                   + _data(f"release 1.0.{releases}"))


def build_repo(root: Path, commits: int) -> None:
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    feed = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=root, stdin=subprocess.PIPE)
    assert feed.stdin is not None
    for chunk in _stream(commits):
        feed.stdin.write(chunk)
    feed.stdin.close()
    if feed.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=root, check=True)


def timed(argv: list[str], cwd: Path, repeat: int) -> tuple[float, str]:
    """Best wall time of `repeat` runs (this checkout's hotswap_cli first on the path), and the
    last run's stdout."""
    best, out = float("inf"), ""
    env = {**os.environ, "NO_COLOR": "1", "HOTSWAP_CACHE_DIR": str(cwd.parent / "cache"),
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    for _ in range(repeat):
        start = time.perf_counter()
        result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env, check=False)
        best = min(best, time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(argv)}: exit {result.returncode}\n{result.stderr}")
        out = result.stdout
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the repo here and keep it")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hotswap-history-bench-"))
    root = args.keep or work / "repo"
    try:
        start = time.perf_counter()
        build_repo(root, args.commits)
        print(f"repo: {args.commits:,} commits + 1, {args.commits // 50} releases of {PROFILE} "
              f"(git fast-import, {time.perf_counter() - start:.1f} s)")
        hotswap = [sys.executable, "-m", "hotswap_cli", "history", PROFILE]
        inputs = [PROFILE_DIR, "hotswap.yaml", "templates/payment-service.yaml", "templates/base-service.yaml",
                  EXTRA, "schemas/payment-config"]
        floor, log = timed(["git", "log", "--oneline", "--", *inputs], root, args.repeat)
        first, page = timed([*hotswap, "--limit", "20"], root, args.repeat)
        whole, text = timed([*hotswap, "--all"], root, args.repeat)
        entries = sum(1 for line in text.splitlines() if line[:1] not in ("", " "))
        per_1000 = whole / (args.commits / 1000)
        print(f"git log --oneline -- <inputs>: {floor:.3f} s ({len(log.splitlines())} commits touch the inputs)")
        print(f"hotswap history --limit 20: {first:.3f} s to the first 20 entries "
              f"(target < {FIRST_PAGE_TARGET} s; {first / floor:.1f}x the git log floor)")
        print(f"hotswap history --all: {whole:.2f} s for {entries} entries = {per_1000:.3f} s per 1,000 commits "
              f"(target <= {PER_1000_TARGET} s; {whole / floor:.0f}x the git log floor)")
        print(f"verdict: first page {'meets' if first < FIRST_PAGE_TARGET else 'misses'} its target, "
              f"whole history {'meets' if per_1000 <= PER_1000_TARGET else 'misses'} its target")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
