"""Start-up cost of `hotswap`: wall and CPU time, modules imported, and which of paramiko, httpx,
GitPython (and PyYAML) each command loads.

The commands run as `sys.executable -m hotswap_cli` with this checkout first on PYTHONPATH (not
the `hotswap` on PATH, which may be a pyenv shim: a bash script costing ~200 ms of its own), with
bytecode in a temporary PYTHONPYCACHEPREFIX written by a warm-up run (an installed package has
its .pyc files; PYTHONDONTWRITEBYTECODE would otherwise compile every module on every run). The
interpreter alone (`python -c pass`, with this machine's site-packages .pth files) is the floor.
Runs are interleaved, best of N kept.

    python benchmarks/startup_bench.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
EXAMPLE = CHECKOUT / "example-config-repo"
WATCHED = ("paramiko", "httpx", "git", "yaml")
CASES = [  # label, argv after `python`
    ("python -c pass", ["-c", "pass"]),
    ("hotswap --help", ["-m", "hotswap_cli", "--help"]),
    ("hotswap status --help", ["-m", "hotswap_cli", "status", "--help"]),
    ("hotswap validate <1 profile>", ["-m", "hotswap_cli", "validate", "payment-service.development"]),
]
# `python -m hotswap_cli ARGS`, writing the modules loaded at exit to the file $STARTUP_BENCH_MODULES names
# (not sys.modules' None entries: hotswap blocks `httpx._main` with one, which loads nothing)
RUNNER = """
import atexit, os, runpy, sys
def dump():
    with open(os.environ["STARTUP_BENCH_MODULES"], "w") as fh:
        fh.write("\\n".join(sorted(k for k, v in sys.modules.items() if v is not None)))
atexit.register(dump)
sys.argv = ["hotswap", *sys.argv[1:]]
runpy.run_module("hotswap_cli", run_name="__main__", alter_sys=True)
"""


def child_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join([str(CHECKOUT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    env["HOTSWAP_NO_CACHE"] = "1"  # validate: no validation or compiled-schema cache from a previous run
    env["NO_COLOR"] = "1"
    return env


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *argv], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"`python {' '.join(argv)}` exited {code}")
    return wall, usage.ru_utime + usage.ru_stime


def modules_of(argv: list[str], cwd: Path, env: dict[str, str], work: Path) -> list[str]:
    if argv[:1] == ["-c"]:
        argv = ["-c", "import sys; open(__import__('os').environ['STARTUP_BENCH_MODULES'], 'w')"
                      ".write('\\n'.join(k for k, v in sys.modules.items() if v is not None))"]
    else:
        argv = ["-c", RUNNER, *argv[2:]]
    listing = work / "modules.txt"
    subprocess.run([sys.executable, *argv], cwd=cwd, env={**env, "STARTUP_BENCH_MODULES": str(listing)},
                   capture_output=True, check=False)
    return listing.read_text().split()


def make_repo(work: Path) -> Path:
    repo = work / "config"
    shutil.copytree(EXAMPLE, repo, symlinks=False)
    git_env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@hotswap.local",
               "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@hotswap.local"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "bench"]):
        subprocess.run(["git", *args], cwd=repo, env=git_env, check=True, capture_output=True)
    return repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="hotswap-startup-") as tmp:
        work = Path(tmp)
        repo = make_repo(work)
        env = child_env(work)
        for _, argv in CASES:  # warm-up: writes the .pyc files
            timed(argv, repo, env)
        best = {label: (float("inf"), float("inf")) for label, _ in CASES}
        for _ in range(runs):
            for label, argv in CASES:
                wall, cpu = timed(argv, repo, env)
                best[label] = (min(best[label][0], wall), min(best[label][1], cpu))
        print(f"python {sys.version.split()[0]} ({sys.executable}), {os.cpu_count()} CPUs, best of {runs}, "
              f"runs interleaved; hotswap = python -m hotswap_cli from {CHECKOUT}")
        print(f"{'command':<30} {'wall ms':>8} {'cpu ms':>7} {'modules':>8}  {'imports of ' + ', '.join(WATCHED)}")
        floor = best["python -c pass"][0]
        for label, argv in CASES:
            modules = modules_of(argv, repo, env, work)
            top = {m.split(".")[0] for m in modules}
            heavy = ", ".join(w for w in WATCHED if w in top) or "none"
            wall, cpu = best[label]
            extra = f"  (+{(wall - floor) * 1000:.0f} ms over the interpreter)" if label != "python -c pass" else ""
            print(f"{label:<30} {wall * 1000:>8.0f} {cpu * 1000:>7.0f} {len(modules):>8}  {heavy}{extra}")
        print("targets: --help and status --help import none of paramiko, httpx, git; validate of one profile "
              "<= 120 ms wall on a quiet machine (see validate_bench.py for the ratio to check-jsonschema)")


if __name__ == "__main__":
    main()
