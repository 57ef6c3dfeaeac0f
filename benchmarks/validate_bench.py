"""Time `hotswap validate` beside check-jsonschema and a bare PyYAML + jsonschema script, N = 1
and 1000 profiles (10% of the 1000 invalid), all in one run.

- hotswap cold: `python -m hotswap_cli --repo R validate` with HOTSWAP_NO_CACHE=1: no validation
  results and no compiled schemas from a previous run (a fresh CI container).
- hotswap kept: the compiled-schema cache hotswap keeps in ~/.cache/hotswap (written by one run
  before), the validation results deleted before each run: a developer's next commit that
  changed every profile.
- check-jsonschema: the same configs, pre-rendered to JSON files, against the same schema; and
  "check-jsonschema yaml": the same rendered as YAML files (what a config repo holds and a hook
  would check; it parses them with ruamel.yaml, ~2 ms a file).
- floor: `python validate_bench.py --floor R`: one process with PyYAML's C loader and jsonschema
  doing what hotswap does (profile.yaml against hotswap's profile schema, the `extends:`
  templates merged under config.yaml, the result against its schema); "floor, configs only"
  skips the profile.yaml check.

hotswap runs as `sys.executable -m hotswap_cli` with this checkout first on PYTHONPATH (the
`hotswap` on PATH may be a pyenv shim, a bash script costing ~200 ms), with bytecode in a
temporary PYTHONPYCACHEPREFIX written by a warm-up run (installed packages have their .pyc files;
PYTHONDONTWRITEBYTECODE would compile every module on every run). Runs are interleaved, the best
wall and CPU (user + system, children included) of each kept. Targets (issue 15): N = 1 cold
<= 0.5x check-jsonschema and <= 120 ms on a quiet machine; N = 1000 cold <= 0.2x check-jsonschema
and <= 1.2x the floor.

    pip install -e '.[bench]' && python benchmarks/validate_bench.py [--runs 7]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

CHECKOUT = Path(__file__).resolve().parent.parent
PROFILE_SCHEMA = CHECKOUT / "hotswap_cli" / "data" / "profile.schema.json"

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


def make_repo(root: Path, n: int) -> tuple[Path, Path]:
    """A config repo with n profiles and, beside it, the same configs rendered to JSON and to YAML."""
    (root / "schemas/bench").mkdir(parents=True)
    (root / "schemas/bench/1.0.json").write_text(json.dumps(SCHEMA))
    (root / "templates").mkdir()
    (root / "templates/base.yaml").write_text(TEMPLATE)
    (root / "hotswap.yaml").write_text("environments: {}\n")
    rendered, rendered_yaml = root.parent / "rendered", root.parent / "rendered-yaml"
    rendered.mkdir()
    rendered_yaml.mkdir()
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
        (rendered_yaml / f"svc{i}.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return rendered, rendered_yaml


def floor(root: Path) -> None:
    """The bare script: what hotswap validate checks, with PyYAML and jsonschema, in one process.
    Exit 1 when a profile is invalid (as check-jsonschema does)."""
    import jsonschema
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    check_profiles = "--configs-only" not in sys.argv
    validators: dict[Path, Any] = {}
    templates: dict[str, Any] = {}

    def load(path: Path) -> Any:
        with open(path, "rb") as fh:
            return yaml.load(fh, Loader=loader)

    def validator(path: Path) -> Any:
        if path not in validators:
            schema = json.loads(path.read_text())
            validators[path] = jsonschema.validators.validator_for(schema)(schema)
        return validators[path]

    def merge(base: Any, overlay: Any) -> Any:
        if not (isinstance(base, dict) and isinstance(overlay, dict)):
            return overlay
        return {**base, **{k: merge(base[k], v) if k in base else v for k, v in overlay.items()}}

    invalid = 0
    for folder in sorted((root / "profiles").iterdir()):
        profile = load(folder / "profile.yaml")
        errors = list(validator(PROFILE_SCHEMA).iter_errors(profile)) if check_profiles else []
        config: Any = {}
        for name in profile.get("extends") or []:
            if name not in templates:
                templates[name] = load(root / "templates" / f"{name}.yaml")
            config = merge(config, templates[name])
        config = merge(config, load(folder / "config.yaml"))
        schema_id, version = profile["schema"].split("/")
        errors += validator(root / "schemas" / schema_id / f"{version}.json").iter_errors(config)
        invalid += bool(errors)
    sys.exit(1 if invalid else 0)


def child_env(work: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join([str(CHECKOUT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    env["NO_COLOR"] = "1"
    return env


def timed(cmd: list[str], env: dict[str, str], expect: int, before: Any = None) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, its children included) of one run."""
    import os
    import subprocess
    import time

    if before is not None:
        before()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != expect:
        raise SystemExit(f"{' '.join(cmd[:4])} ... exited {code}, expected {expect}: {stderr[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime


def checker_command() -> str:
    import shutil

    beside = Path(sys.executable).parent / "check-jsonschema"
    found = str(beside) if beside.exists() else shutil.which("check-jsonschema")
    if not found:
        raise SystemExit("needs check-jsonschema (pip install -e '.[bench]')")
    return found


def measure(n: int, work: Path, runs: int, checker: str) -> dict[str, tuple[float, float]]:
    root = work / f"n{n}" / "repo"
    root.mkdir(parents=True)
    rendered, rendered_yaml = make_repo(root, n)
    env = child_env(work)
    kept_dir = work / f"n{n}" / "cache"
    invalid = n > 1
    hotswap = [sys.executable, "-m", "hotswap_cli", "--repo", str(root), "validate"]
    floor_cmd = [sys.executable, str(Path(__file__).resolve()), "--floor", str(root)]

    def forget_results() -> None:
        for path in kept_dir.glob("validate-*.json"):
            path.unlink()

    cases: dict[str, tuple[list[str], dict[str, str], int, Any]] = {
        "hotswap cold": (hotswap, {**env, "HOTSWAP_NO_CACHE": "1"}, 3 if invalid else 0, None),
        "hotswap kept": (hotswap, {**env, "HOTSWAP_CACHE_DIR": str(kept_dir)}, 3 if invalid else 0, forget_results),
        "check-jsonschema": ([checker, "--schemafile", str(root / "schemas/bench/1.0.json"),
                              *sorted(str(p) for p in rendered.iterdir())], env, 1 if invalid else 0, None),
        "check-jsonschema yaml": ([checker, "--schemafile", str(root / "schemas/bench/1.0.json"),
                                   *sorted(str(p) for p in rendered_yaml.iterdir())], env, 1 if invalid else 0, None),
        "floor": (floor_cmd, env, 1 if invalid else 0, None),
        "floor, configs only": ([*floor_cmd, "--configs-only"], env, 1 if invalid else 0, None),
    }
    for cmd, case_env, expect, before in cases.values():  # warm-up: .pyc files, the kept cache
        timed(cmd, case_env, expect, before)
    best = {name: (float("inf"), float("inf")) for name in cases}
    for _ in range(runs):
        for name, (cmd, case_env, expect, before) in cases.items():
            wall, cpu = timed(cmd, case_env, expect, before)
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def main() -> None:
    import argparse
    import os
    import tempfile

    if sys.argv[1:2] == ["--floor"]:
        floor(Path(sys.argv[2]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    checker = checker_command()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; hotswap = {sys.executable} -m hotswap_cli "
          f"from {CHECKOUT}; best of {runs} interleaved runs (1000: best of {max(3, runs // 2)})")
    columns = ("hotswap cold", "hotswap kept", "check-jsonschema", "check-jsonschema yaml", "floor",
               "floor, configs only")
    with tempfile.TemporaryDirectory(prefix="hotswap-validate-bench-") as tmp:
        results = {n: measure(n, Path(tmp), runs if n == 1 else max(3, runs // 2), checker) for n in (1, 1000)}
    for unit, index in (("wall ms", 0), ("cpu ms", 1)):
        print(f"\n{unit:<8}" + "".join(f"{c:>23}" for c in columns))
        for n, best in results.items():
            print(f"N={n:<6}" + "".join(f"{best[c][index] * 1000:>23.0f}" for c in columns))
    pairs = (("hotswap cold", "check-jsonschema"), ("hotswap cold", "check-jsonschema yaml"), ("hotswap cold", "floor"),
             ("hotswap cold", "floor, configs only"), ("hotswap kept", "check-jsonschema"))
    print("\nwall ratio" + "".join(f"{a.split()[1] + ' / ' + b:>30}" for a, b in pairs))
    for n, best in results.items():
        print(f"N={n:<8}" + "".join(f"{best[a][0] / best[b][0]:>30.2f}" for a, b in pairs))
    one, many = results[1], results[1000]
    # The repo's configs are YAML, and so is what check-jsonschema checks in a team's hook; the JSON
    # column is its fastest case (no YAML parser: ruamel.yaml costs it ~2 ms a file).
    checks = [
        ("N=1 cold <= 0.5x check-jsonschema (JSON)", one["hotswap cold"][0] <= 0.5 * one["check-jsonschema"][0]),
        ("N=1 cold <= 0.5x check-jsonschema (YAML)",
         one["hotswap cold"][0] <= 0.5 * one["check-jsonschema yaml"][0]),
        ("N=1 cold <= 120 ms wall (a quiet machine)", one["hotswap cold"][0] <= 0.120),
        ("N=1000 cold <= 0.2x check-jsonschema (JSON)", many["hotswap cold"][0] <= 0.2 * many["check-jsonschema"][0]),
        ("N=1000 cold <= 0.2x check-jsonschema (YAML)",
         many["hotswap cold"][0] <= 0.2 * many["check-jsonschema yaml"][0]),
        ("N=1000 cold <= 1.2x the floor", many["hotswap cold"][0] <= 1.2 * many["floor"][0]),
    ]
    print("\ntargets")
    for text, ok in checks:
        print(f"  {'PASS' if ok else 'MISS'}  {text}")


if __name__ == "__main__":
    main()
