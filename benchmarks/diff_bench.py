"""Time `diff_configs` on two ~1 MiB rendered configs of ~20,000 keys (target: under 2 s).

The configs are nested maps (services -> settings), a keyed list of routes
(`x-hotswap-key: name`), an unkeyed list, and a secret field; the new one changes, adds,
removes and retypes a few hundred keys. The schema describes every key, so the breaking
check (each config against the other's schema) validates all of them.

    python benchmarks/diff_bench.py [--repeat 5] [--cli]

`--cli` also times the whole command, `hotswap diff bench.production 1.0.0` (a released
version read from git against the working tree), in a temporary git repo.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hotswap_cli.core.secrets.crypto import DEMO_SECRET_KEY, encrypt_value, parse_key
from hotswap_cli.core.versions.diff import diff_configs

SERVICES = 950
KEYS = 20  # per service
ROUTES = 400


def seal(value: str) -> str:
    return encrypt_value(value, parse_key(DEMO_SECRET_KEY), "config.json", ("secrets", "apiKey"))


def make_config(seed: int = 1) -> dict[str, Any]:
    rnd = random.Random(seed)
    services = {
        f"svc{i:04d}": {
            f"setting{j:02d}": rnd.randint(0, 100_000) if j % 3 else f"value-{i}-{j}-" + "x" * 88
            for j in range(KEYS)
        }
        for i in range(SERVICES)
    }
    routes = [{"name": f"route{i}", "prefix": f"/api/r{i}", "upstream": f"http://up{i}.internal:8080",
               "timeoutMs": 1000 + i} for i in range(ROUTES)]
    return {"services": services, "routes": routes, "ports": list(range(8000, 8200)),
            "secrets": {"apiKey": seal("bench-secret-value")}}


def make_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "services": {"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": {"type": ["integer", "string"]}}},
            "routes": {"type": "array", "x-hotswap-key": "name", "items": {
                "type": "object", "required": ["name", "prefix"],
                "properties": {"name": {"type": "string"}, "prefix": {"type": "string", "pattern": "^/"},
                               "upstream": {"type": "string"}, "timeoutMs": {"type": "integer"}}}},
            "ports": {"type": "array", "items": {"type": "integer"}},
            "secrets": {"type": "object", "properties": {"apiKey": {"type": "string", "x-hotswap-secret": True}}},
        },
    }


def mutate(config: dict[str, Any]) -> dict[str, Any]:
    new = copy.deepcopy(config)
    services = new["services"]
    for i in range(0, SERVICES, 5):
        services[f"svc{i:04d}"]["setting01"] += 1  # changed
    for i in range(0, SERVICES, 40):
        del services[f"svc{i:04d}"]["setting02"]  # removed
        services[f"svc{i:04d}"]["extra"] = True  # added
    services["svc0003"]["setting04"] = "4"  # type change
    new["routes"].reverse()  # keyed: order does not matter
    new["routes"][7]["timeoutMs"] = 1
    new["routes"].pop(0)
    new["ports"][10] = 1
    new["secrets"]["apiKey"] = seal("rotated")
    return new


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cli", action="store_true", help="also time the `hotswap diff` command end to end")
    args = parser.parse_args()
    old, schema = make_config(), make_schema()
    new = mutate(old)
    size = len(json.dumps(old, separators=(",", ":")))
    keys = _count_keys(old)
    import deepdiff  # noqa: F401 - import time is not diff time
    import jsonschema  # noqa: F401

    times = []
    result = None
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = diff_configs(old, new, schema, schema)
        times.append(time.perf_counter() - start)
    assert result is not None
    counts = {k: len(result.of_kind(k)) for k in ("added", "removed", "changed")}
    print(f"configs: {size / 1024 / 1024:.2f} MiB, {keys} keys each")
    print(f"changes: {counts}, breaking: {result.breaking} ({len(result.breaking_reasons)} reasons)")
    print(f"diff_configs: best {min(times):.3f}s, median {sorted(times)[len(times) // 2]:.3f}s "
          f"over {args.repeat} runs (target < 2 s)")
    no_schema = time.perf_counter()
    diff_configs(old, new, schema, schema, check_schemas=False)
    print(f"without the schema checks: {time.perf_counter() - no_schema:.3f}s")
    ok = min(times) < 2.0
    if args.cli:
        ok = time_cli(old, new, schema) < 2.0 and ok
    return 0 if ok else 1


def time_cli(old: dict[str, Any], new: dict[str, Any], schema: dict[str, Any]) -> float:
    """`hotswap diff` on a committed, released 1 MiB profile against its edited working tree."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "schemas/bench").mkdir(parents=True)
        (root / "schemas/bench/1.0.json").write_text(json.dumps(schema))
        (root / "hotswap.yaml").write_text("environments: {}\n")
        profile = root / "profiles/bench.production"
        profile.mkdir(parents=True)
        (profile / "profile.yaml").write_text("environment: Production\nschema: bench/1.0\n")
        (profile / "config.json").write_text(json.dumps(old))
        env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
               "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com", "HOTSWAP_NO_CACHE": "1"}
        for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "x"],
                    ["hotswap", "release", "bench.production", "1.0.0"]):
            subprocess.run(cmd, cwd=root, env=env, check=True, capture_output=True)
        (profile / "config.json").write_text(json.dumps(new))
        start = time.perf_counter()
        out = subprocess.run(["hotswap", "diff", "bench.production", "1.0.0", "--json"], cwd=root, env=env,
                             capture_output=True, text=True, check=True)
        took = time.perf_counter() - start
        changes = json.loads(out.stdout)
        print(f"hotswap diff (whole command, process start to exit): {took:.3f}s, "
              f"{sum(len(changes[k]) for k in ('added', 'removed', 'changed'))} changes (target < 2 s)")
        return took


def _count_keys(data: Any) -> int:
    if isinstance(data, dict):
        return len(data) + sum(_count_keys(v) for v in data.values())
    if isinstance(data, list):
        return sum(_count_keys(v) for v in data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
