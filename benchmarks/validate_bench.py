"""Time `hotswap validate` against `check-jsonschema` on the same rendered configs.

N = 1, 100, 1000 profiles, 10% invalid. hotswap reads the profiles (with inheritance) and
validates; check-jsonschema validates the same configs pre-rendered to JSON files. Each
command is run several times; the best wall-clock time is kept. Target: ratio <= 0.7 at
N = 1 and <= 0.5 at N = 1000.

    pip install check-jsonschema && python benchmarks/validate_bench.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["service", "http", "database", "features"],
    "properties": {
        "service": {"type": "object", "properties": {"name": {"type": "string"},
                                                     "logLevel": {"enum": ["debug", "info", "warn"]}}},
        "http": {"type": "object", "properties": {"port": {"type": "integer", "minimum": 1, "maximum": 65535},
                                                  "timeoutMs": {"type": "integer", "minimum": 1}}},
        "database": {"type": "object", "required": ["host", "pool"], "properties": {
            "host": {"type": "string"},
            "pool": {"type": "object", "properties": {"min": {"type": "integer", "minimum": 0},
                                                      "max": {"type": "integer", "minimum": 1, "maximum": 500}}}}},
        "features": {"type": "object", "additionalProperties": {"type": "boolean"}},
    },
}
TEMPLATE = (
    "service:\n  logLevel: info\nhttp:\n  port: 8080\n  timeoutMs: 5000\n"
    "database:\n  host: db.internal\n  pool:\n    min: 2\n    max: 20\nfeatures:\n  a: true\n  b: false\n"
)


def make_repo(root: Path, n: int) -> Path:
    """A config repo with n profiles and, beside it, the same configs rendered to JSON."""
    (root / "schemas/bench").mkdir(parents=True)
    (root / "schemas/bench/1.0.json").write_text(json.dumps(SCHEMA))
    (root / "templates").mkdir()
    (root / "templates/base.yaml").write_text(TEMPLATE)
    (root / "hotswap.yaml").write_text("environments: {}\n")
    rendered = root.parent / "rendered"
    rendered.mkdir()
    import yaml

    base = yaml.safe_load(TEMPLATE)
    for i in range(n):
        bad = i % 10 == 9
        d = root / f"profiles/svc{i}.development"
        d.mkdir(parents=True)
        d.joinpath("profile.yaml").write_text(
            "environment: Development\nschema: bench/1.0\nextends: [base]\n"
            f"targets:\n  - name: i{i}\n    transport: {{type: local, path: /tmp/bench/{i}.json}}\n")
        pool_max = 900 if bad else 10 + i % 50
        d.joinpath("config.yaml").write_text(f"service:\n  name: svc{i}\ndatabase:\n  pool:\n    max: {pool_max}\n")
        cfg = json.loads(json.dumps(base))
        cfg["service"]["name"] = f"svc{i}"
        cfg["database"]["pool"]["max"] = pool_max
        (rendered / f"svc{i}.json").write_text(json.dumps(cfg))
    return rendered


def best_of(cmd: list[str], runs: int, expect: set[int], env: dict[str, str] | None = None) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        elapsed = time.perf_counter() - start
        if proc.returncode not in expect:
            raise SystemExit(f"{cmd[0]} exited {proc.returncode}: {proc.stderr[-500:]}")
        best = min(best, elapsed)
    return best


def main() -> None:
    checker = shutil.which("check-jsonschema")
    hotswap = shutil.which("hotswap")
    if not checker or not hotswap:
        raise SystemExit("needs `hotswap` and `check-jsonschema` on PATH (pip install . check-jsonschema)")
    print("hotswap cold: no validation cache (every profile parsed and validated);")
    print("hotswap warm: the cache from a previous run (what pre-commit sees on the next commit);")
    print("the 10% invalid profiles are always validated again.")
    print(f"{'N':>6} {'cold s':>8} {'warm s':>8} {'check-jsonschema s':>19} "
          f"{'cold ratio':>11} {'warm ratio':>11}  target")
    for n, target in ((1, 0.7), (100, None), (1000, 0.5)):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "repo"
            root.mkdir()
            rendered = make_repo(root, n)
            files = sorted(str(p) for p in rendered.iterdir())
            runs = 7 if n < 1000 else 3
            expect = {0} if n == 1 else {3}  # n=1 is the valid one; larger sets hold 10% invalid
            cmd = [hotswap, "--repo", str(root), "validate"]
            cold = best_of(cmd, runs, expect, env={**os.environ, "HOTSWAP_NO_CACHE": "1"})
            warm_env = {**os.environ, "HOTSWAP_CACHE_DIR": str(Path(tmp) / "cache")}
            best_of(cmd, 1, expect, env=warm_env)  # fill the cache
            warm = best_of(cmd, runs, expect, env=warm_env)
            expect_peer = {0} if n == 1 else {1}
            peer = best_of([checker, "--schemafile", str(root / "schemas/bench/1.0.json"), *files], runs, expect_peer)
            goal = f"<= {target}" if target else ""
            print(f"{n:>6} {cold:>8.3f} {warm:>8.3f} {peer:>19.3f} {cold / peer:>11.2f} {warm / peer:>11.2f}  {goal}",
                  flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
