"""`targets_from:`: the target list read at deploy, rollback, status and diff-live time from a
registry (etcd keys that instances keep alive under a lease, or a program that prints targets as
JSON), merged with profile.yaml's static `targets:`. Never called by `validate`."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hotswap_cli import specs
from hotswap_cli.errors import ConfigError
from hotswap_cli.model import Profile

MAX_OUTPUT = 16 * 1024 * 1024  # what a command inventory may print


@dataclass(frozen=True)
class Inventory:
    """The targets a registry listed, and where they came from (a line of the plan)."""

    kind: str  # etcd | command
    targets: tuple[specs.Target, ...]
    source: str  # "etcd /instances/demo/ at http://127.0.0.1:2379 (revision 345)", "command ./list-hosts"
    static: int = 0  # targets profile.yaml lists besides
    keys: Mapping[str, str] = field(default_factory=dict)  # instance -> its registration key (etcd)
    revision: int | None = None
    connection: specs.EtcdConnection | None = None  # etcd: where to look whether a registration is still there

    def describe(self) -> str:
        """`targets: 3 from etcd /instances/demo/ at http://… (revision 12)[, 1 from profile.yaml]`."""
        static = f", {self.static} from profile.yaml" if self.static else ""
        return f"targets: {len(self.targets)} from {self.source}{static}"


def service_of(profile: str) -> str:
    """`payment-service.production` -> `payment-service` (what {service} means in a prefix or key)."""
    return profile.split(".", 1)[0]


def with_inventory(profile: Profile, meta: Mapping[str, Any],
                   allowed_env: Collection[str]) -> tuple[Profile, Inventory | None]:
    """The profile with its registry's targets after its static ones (`meta`: profile.yaml, whose
    `targets_from:` says where from; none: the profile as it is). A name both list is an error, as
    is a registry that cannot be read: the plan must not silently shrink."""
    raw = meta.get("targets_from")
    if not raw:
        return profile, None
    spec = specs.parse_inventory(raw)
    payload = {k: meta[k] for k in ("format", "template") if meta.get(k)}  # the profile's, as for `targets:`
    if isinstance(spec, specs.EtcdInventory):
        inventory = read_etcd(spec, profile, allowed_env, payload)
    else:
        inventory = read_command(spec, payload)
    clash = sorted({t.name for t in inventory.targets} & {t.name for t in profile.targets})
    if clash:
        raise ConfigError(f"targets_from: {inventory.source} lists {', '.join(clash)}, which profile.yaml's "
                          "`targets:` also names", hint="rename one, or drop it from `targets:`")
    inventory = replace(inventory, static=len(profile.targets))
    return replace(profile, targets=profile.targets + inventory.targets), inventory


# -- etcd: keys kept alive by their instances -----------------------------------------------------


def _target(name: str, transport: Mapping[str, Any], health: Any, payload: Mapping[str, Any]) -> specs.Target:
    """As build_profile makes a static target: the profile's format/template unless the transport has its own."""
    own = "template" in transport or "format" in transport
    return specs.target(name, transport if own else {**payload, **transport}, health or ())


def instance_target(key: str, value: bytes, payload: Mapping[str, Any]) -> specs.Target:
    """The target a registration stands for: `{"name", "url", "labels"}` (optional `transport`
    and `health` in profile.yaml's shape override the defaults): transport http PUT `<url>/config`
    (read back there), probes http `<url>/health` and metrics `<url>/metrics`."""
    try:
        entry = json.loads(value)
    except ValueError:
        raise ConfigError(f"targets_from: {key} does not hold JSON") from None
    if not isinstance(entry, dict):
        raise ConfigError(f"targets_from: {key} holds {type(entry).__name__}, not an object")
    name = str(entry.get("name") or key.rstrip("/").rsplit("/", 1)[-1])
    url = str(entry.get("url") or "").rstrip("/")
    if not url.startswith(("http://", "https://")) and "transport" not in entry:
        raise ConfigError(f"targets_from: {key} has no http(s) `url` (got {entry.get('url')!r})")
    transport = entry.get("transport") or {"type": "http", "url": f"{url}/config", "confirm_url": f"{url}/config"}
    health = entry.get("health") or [{"type": "http", "url": f"{url}/health"},
                                     {"type": "metrics", "url": f"{url}/metrics"}]
    problem = target_problem({"name": name, "transport": transport, "health": health})
    if problem:
        raise ConfigError(f"targets_from: {key}: {problem}")
    return _target(name, transport, health, payload)


def read_etcd(spec: specs.EtcdInventory, profile: Profile, allowed_env: Collection[str],
              payload: Mapping[str, Any]) -> Inventory:
    from hotswap_cli.io.etcd import EtcdError, connect, prefix_end

    prefix = spec.prefix.replace("{service}", service_of(profile.name)).replace("{profile}", profile.name)
    try:
        client = connect(spec.connection, allowed_env)
    except EtcdError as exc:
        raise ConfigError(f"targets_from: {exc}", hint=exc.hint) from None
    try:
        answer = client.call("/v3/kv/range", {"key": base64.b64encode(prefix.encode()).decode(),
                                              "range_end": prefix_end(prefix)})
    except EtcdError as exc:
        raise ConfigError(f"targets_from: cannot list {prefix}: {exc}",
                          hint="the target list lives in etcd: nothing can be planned without it") from None
    finally:
        client.close()
    revision = int((answer.get("header") or {}).get("revision", 0))
    targets: list[specs.Target] = []
    keys: dict[str, str] = {}
    for item in answer.get("kvs") or []:
        key = base64.b64decode(item.get("key", "")).decode("utf-8", "replace")
        target = instance_target(key, base64.b64decode(item.get("value", "")), payload)
        if target.name in keys:
            raise ConfigError(f"targets_from: {key} and {keys[target.name]} both register {target.name}")
        targets.append(target)
        keys[target.name] = key
    source = f"etcd {prefix} at {client.endpoints[0]} (revision {revision})"
    return Inventory("etcd", tuple(targets), source, keys=keys, revision=revision, connection=spec.connection)


# -- command: a program that prints targets (Ansible's dynamic inventory) -----------------------


def read_command(spec: specs.CommandInventory, payload: Mapping[str, Any]) -> Inventory:
    """Run the program (argv, stdin closed, bounded by its timeout) and read its JSON list of
    targets, each in profile.yaml's `targets:` shape."""
    import shlex

    shown = spec.command if isinstance(spec.command, str) else shlex.join(spec.command)
    code, out, err = run_inventory(spec.command, spec.timeout, shown)
    if code != 0:
        raise ConfigError(f"targets_from: `{shown}` exited with {code}: {_tail(err or out)}")
    try:
        entries = json.loads(out)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"targets_from: `{shown}` did not print JSON ({exc.msg} at line {exc.lineno}): "
                          f"{_tail(out)}") from None
    if isinstance(entries, dict) and isinstance(entries.get("targets"), list):
        entries = entries["targets"]
    if not isinstance(entries, list):
        raise ConfigError(f"targets_from: `{shown}` printed {type(entries).__name__}, not a list of targets")
    targets, seen = [], set()
    for index, entry in enumerate(entries):
        problem = target_problem(entry)
        if problem:
            raise ConfigError(f"targets_from: `{shown}` target {index}: {problem}")
        if entry["name"] in seen:
            raise ConfigError(f"targets_from: `{shown}` target {index}: duplicate name {entry['name']!r}")
        seen.add(entry["name"])
        targets.append(_target(entry["name"], entry["transport"], entry.get("health"), payload))
    return Inventory("command", tuple(targets), f"command `{shown}`")


def run_inventory(command: specs.Command, timeout: float, shown: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr); the process group is killed at the deadline (a child it
    started cannot hold the pipe open past it)."""
    import signal
    import subprocess

    from hotswap_cli.io.process import argv_of, command_environment

    argv = argv_of(command)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=command_environment(), start_new_session=True)
    except OSError as exc:
        raise ConfigError(f"targets_from: `{shown}` could not run: {exc.strerror or exc}") from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise ConfigError(f"targets_from: `{shown}` did not finish within {timeout:g}s",
                          hint="make it faster, or raise targets_from.timeout") from None
    if len(out) > MAX_OUTPUT:
        raise ConfigError(f"targets_from: `{shown}` printed more than {MAX_OUTPUT >> 20} MiB")
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _tail(text: str) -> str:
    from hotswap_cli.io.process import tail

    line = tail(text, 2)
    return line if len(line) <= 200 else line[:197] + "..."


def target_problem(entry: Any) -> str | None:
    """What is wrong with one target in profile.yaml's shape (its schema's `targets` items), or None."""
    from hotswap_cli.core.config.schema import describe

    if not isinstance(entry, dict):
        return f"expected an object with name and transport, got {type(entry).__name__}"
    for error in _target_checker().violations(entry):
        where = "/".join(str(p) for p in error.path)
        return f"{where + ': ' if where else ''}{describe(error)}"
    return None


_checker: Any = None


def _target_checker() -> Any:
    global _checker
    if _checker is None:
        from hotswap_cli.core.config.configrepo import load_meta_schema
        from hotswap_cli.core.config.schema import SchemaChecker

        items = load_meta_schema("profile.schema.json")["properties"]["targets"]["items"]
        _checker = SchemaChecker(items, "profile.schema.json#/properties/targets/items")
    return _checker
