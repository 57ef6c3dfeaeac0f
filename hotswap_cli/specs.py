"""Targets as profile.yaml describes them, parsed once into typed, frozen specs: one type per
transport and probe kind, defaults applied, durations in seconds, paths expanded. Each backend
and probe receives its own spec type; nothing below reads a target as a dict."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hotswap_cli import formats
from hotswap_cli.durations import parse_duration
from hotswap_cli.errors import ConfigError

Command = str | tuple[str, ...]  # a string is split like a shell would (never run by one)
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")  # ${NAME} in a header value
KEY_FIELD = re.compile(r"\{([^{}]*)\}")  # {profile} in an etcd key
# `max_body`: the most bytes read of a response (config read back, health, metrics). Configs are at
# most 1 MiB; a large scrape still fits; a runaway body stops here instead of filling memory.
DEFAULT_MAX_BODY = 16 * 1024 * 1024
PROMETHEUS_MAX_BODY = 1024 * 1024  # a query for one instance's counts answers in far less


@dataclass(frozen=True)
class Tls:
    """TLS verification is on by default; `ca` adds a CA bundle; `verify: false` turns it off."""

    verify: bool = True
    ca: str | None = None  # an expanded path


@dataclass(frozen=True)
class LocalSpec:
    """A config file on this machine."""

    kind: ClassVar[str] = "local"
    path: str
    format: str = "json"
    template: str | None = None  # a repo path under templates/: the payload is its rendering (text)
    check: Command | None = None
    reload: Command | None = None
    confirm_url: str | None = None
    confirm_timeout: float = 10.0
    mode: int | None = None
    timeout: float = 60.0


@dataclass(frozen=True)
class SshSpec:
    """A config file on a host reached over SSH (SFTP for files, the remote shell for commands)."""

    kind: ClassVar[str] = "ssh"
    host: str
    path: str
    format: str = "json"
    template: str | None = None  # a repo path under templates/: the payload is its rendering (text)
    port: int = 22
    user: str | None = None
    key: str | None = None
    known_hosts: str = "~/.ssh/known_hosts"
    timeout: float = 10.0
    command_timeout: float = 60.0
    retries: int = 3
    check: str | None = None
    reload: str | None = None
    reload_url: str | None = None
    reload_headers: Mapping[str, str] = field(default_factory=dict)
    confirm_url: str | None = None
    confirm_timeout: float = 10.0
    mode: int | None = None
    tls: Tls = field(default_factory=Tls)
    ssh_config: str | None = None  # an ssh config file to read instead of ~/.ssh/config
    jump: tuple[str, ...] | None = None  # ProxyJump hops, overriding the ssh config's
    become: bool = False  # file steps, check and reload under sudo on the host
    become_user: str = "root"
    become_password_env: str | None = None  # an allowed environment variable holding the sudo password
    given: frozenset[str] | None = None  # the keys profile.yaml set, which win over the ssh config (None: all)


@dataclass(frozen=True)
class HttpSpec:
    """An endpoint that receives the whole config in one request and applies it."""

    kind: ClassVar[str] = "http"
    url: str
    format: str = "json"
    template: str | None = None  # a repo path under templates/: the payload is its rendering (text)
    method: str = "PUT"
    current_url: str | None = None
    confirm_url: str | None = None
    timeout: float = 10.0
    retries: int = 2
    confirm_timeout: float = 10.0
    headers: Mapping[str, str] = field(default_factory=dict)
    tls: Tls = field(default_factory=Tls)
    max_body: int = DEFAULT_MAX_BODY


@dataclass(frozen=True)
class EtcdConnection:
    """How to reach an etcd cluster (its v3 HTTP/JSON gateway): endpoints tried in turn, TLS (a CA,
    a client certificate and key), and a user whose password, or a token, comes from an allowed
    environment variable (never from the repo)."""

    endpoints: tuple[str, ...]
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    verify: bool = True
    user: str | None = None
    password_env: str | None = None
    token_env: str | None = None
    timeout: float = 5.0


@dataclass(frozen=True)
class EtcdSpec:
    """The instance's config is the value of one etcd key (`key`, with {profile}, {service} and
    {instance} filled in), which the instance (or its agent: confd, a watcher) reads."""

    kind: ClassVar[str] = "etcd"
    connection: EtcdConnection
    key: str
    format: str = "json"
    template: str | None = None
    confirm_url: str | None = None
    confirm_timeout: float = 10.0
    tls: Tls = field(default_factory=Tls)  # for confirm_url

    def key_for(self, profile: str, instance: str) -> str:
        """The key with {profile}, {service} (the profile's name before its first dot:
        `payment-service.production` -> `payment-service`) and {instance} filled in."""
        return (self.key.replace("{profile}", profile).replace("{service}", profile.split(".", 1)[0])
                .replace("{instance}", instance))


TransportSpec = LocalSpec | SshSpec | HttpSpec | EtcdSpec


@dataclass(frozen=True)
class EtcdInventory:
    """`targets_from: {etcd: …}`: the live keys under `prefix` ({service}, {profile} filled in),
    each written by an instance under a lease: a JSON object with its `name`, `url` and `labels`."""

    kind: ClassVar[str] = "etcd"
    connection: EtcdConnection
    prefix: str  # the lease's TTL is the instance's to choose (the demo service: --etcd-ttl, 120 s)


@dataclass(frozen=True)
class CommandInventory:
    """`targets_from: {command: …}`: a program that prints the targets as JSON (Ansible's dynamic
    inventory, for other registries)."""

    kind: ClassVar[str] = "command"
    command: Command
    timeout: float = 30.0


InventorySpec = EtcdInventory | CommandInventory


@dataclass(frozen=True)
class HttpProbeSpec:
    kind: ClassVar[str] = "http"
    url: str
    expect_status: int = 200
    timeout: float = 5.0
    headers: Mapping[str, str] = field(default_factory=dict)
    tls: Tls = field(default_factory=Tls)
    max_body: int = DEFAULT_MAX_BODY


@dataclass(frozen=True)
class MetricsProbeSpec:
    kind: ClassVar[str] = "metrics"
    url: str
    requests_metric: str = "http_requests_total"
    status_label: str = "status"
    error_status_pattern: str = r"5\d\d"
    latency_metric: str = "http_request_duration_seconds"
    timeout: float = 5.0
    headers: Mapping[str, str] = field(default_factory=dict)
    tls: Tls = field(default_factory=Tls)
    max_body: int = DEFAULT_MAX_BODY


PROMETHEUS_QUERIES = {
    "requests": 'sum(increase(http_requests_total{instance="{{name}}"}[{{window}}]))',
    "errors": 'sum(increase(http_requests_total{instance="{{name}}",status=~"5.."}[{{window}}]))',
    "latency_buckets": 'sum by (le) (increase(http_request_duration_seconds_bucket{instance="{{name}}"}[{{window}}]))',
}


@dataclass(frozen=True)
class PrometheusProbeSpec:
    kind: ClassVar[str] = "prometheus"
    url: str  # the server
    requests: str | None = PROMETHEUS_QUERIES["requests"]
    errors: str | None = PROMETHEUS_QUERIES["errors"]
    latency_buckets: str | None = PROMETHEUS_QUERIES["latency_buckets"]
    lookback: float = 300.0
    timeout: float = 5.0
    headers: Mapping[str, str] = field(default_factory=dict)
    tls: Tls = field(default_factory=Tls)
    max_body: int = PROMETHEUS_MAX_BODY


@dataclass(frozen=True)
class CommandProbeSpec:
    kind: ClassVar[str] = "command"
    command: Command
    where: str = "local"  # local | target (over the target's ssh connection)
    timeout: float = 10.0


ProbeSpec = HttpProbeSpec | MetricsProbeSpec | PrometheusProbeSpec | CommandProbeSpec


@dataclass(frozen=True)
class Target:
    """One instance: its transport and its health probes."""

    name: str
    transport: TransportSpec
    probes: tuple[ProbeSpec, ...] = ()

    @property
    def structured(self) -> bool:
        """Whether its bytes read back as data (json, yaml: known by config hash, diffed key by
        key); any other payload is known by the sha256 of its bytes and diffed as text."""
        return self.transport.template is None and self.transport.format in ("json", "yaml")


def env_refs(target: Target) -> set[str]:
    """The environment variables a target reads: those its header values name (${NAME}),
    become_password_env, and an etcd connection's password_env / token_env."""
    headers: list[Mapping[str, str]] = []
    spec = target.transport
    if isinstance(spec, HttpSpec):
        headers.append(spec.headers)
    if isinstance(spec, SshSpec):
        headers.append(spec.reload_headers)
    headers += [p.headers for p in target.probes if not isinstance(p, CommandProbeSpec)]
    names = {m.group(1) for h in headers for value in h.values() for m in ENV_REF.finditer(value)}
    if isinstance(spec, SshSpec) and spec.become_password_env:
        names.add(spec.become_password_env)
    if isinstance(spec, EtcdSpec):
        names |= {n for n in (spec.connection.password_env, spec.connection.token_env) if n}
    return names


def refused_env(names: Iterable[str], allowed: Iterable[str]) -> list[str]:
    """The names not allowed: anything not listed, and HOTSWAP_* always (the secret key lives there)."""
    ok = set(allowed)
    return sorted(n for n in set(names) if n.startswith("HOTSWAP_") or n not in ok)


def check_env(targets: Iterable[Target], allowed: Iterable[str]) -> None:
    """Before anything connects: every ${NAME} the targets' headers use must be allowed, and a
    become_password_env or an etcd password_env / token_env must be allowed and set."""
    allowed = frozenset(allowed)
    for t in targets:
        refused = refused_env(env_refs(t), allowed)
        if refused:
            names = ", ".join(refused)
            spec = t.transport
            what = ("become_password_env names" if isinstance(spec, SshSpec) and spec.become_password_env == refused[0]
                    else "etcd credentials name" if isinstance(spec, EtcdSpec)
                    and refused[0] in (spec.connection.password_env, spec.connection.token_env)
                    else "header values use")
            raise ConfigError(f"target {t.name}: {what} ${{{refused[0]}}}, which is not an allowed "
                              f"environment variable (refused: {names}); nothing was sent",
                              hint=f"allow it with HOTSWAP_ALLOW_ENV={refused[0]}, or `allow_env: [{refused[0]}]` "
                                   "in hotswap.yaml on the default branch (HOTSWAP_* never)")
        spec = t.transport
        if isinstance(spec, SshSpec) and spec.become_password_env and not os.environ.get(spec.become_password_env):
            raise ConfigError(f"target {t.name}: become_password_env names ${{{spec.become_password_env}}}, which "
                              "is not set; nothing was sent",
                              hint=f"export {spec.become_password_env} with the sudo password of the login user")
        if isinstance(spec, EtcdSpec):
            for env in (spec.connection.password_env, spec.connection.token_env):
                if env and not os.environ.get(env):
                    raise ConfigError(f"target {t.name}: etcd credentials name ${{{env}}}, which is not set; "
                                      "nothing was sent", hint=f"export {env} with the etcd "
                                      f"{'password' if env == spec.connection.password_env else 'token'}")


# -- parsing: from profile.yaml's (schema-checked) mappings ------------------------------------


def target(name: str, transport: Mapping[str, Any], probes: Iterable[Mapping[str, Any]] = ()) -> Target:
    """A Target from profile.yaml's `transport:` and `health:` entries."""
    return Target(name, parse_transport(name, transport), tuple(parse_probe(name, p) for p in probes))


def parse_transport(name: str, raw: Mapping[str, Any]) -> TransportSpec:
    kind = raw.get("type")
    try:
        if kind == "local":
            path = os.path.abspath(os.path.expanduser(raw["path"]))
            return LocalSpec(path=path, format=_format(path, raw), template=raw.get("template"),
                             check=_command(raw.get("check")), reload=_command(raw.get("reload")),
                             confirm_url=raw.get("confirm_url"),
                             confirm_timeout=_seconds(raw, "confirm_timeout", 10), mode=_mode(raw),
                             timeout=_seconds(raw, "timeout", 60))
        if kind == "ssh":
            return SshSpec(host=str(raw["host"]), path=str(raw["path"]),
                           format=_format(str(raw["path"]), raw), template=raw.get("template"),
                           port=int(raw.get("port", 22)), user=raw.get("user") or None,
                           key=os.path.expanduser(raw["key"]) if raw.get("key") else None,
                           known_hosts=os.path.expanduser(raw.get("known_hosts") or "~/.ssh/known_hosts"),
                           timeout=_seconds(raw, "timeout", 10), command_timeout=_seconds(raw, "command_timeout", 60),
                           retries=int(raw.get("retries", 3)), check=raw.get("check"), reload=raw.get("reload"),
                           reload_url=raw.get("reload_url"), reload_headers=_headers(raw.get("reload_headers")),
                           confirm_url=raw.get("confirm_url"), confirm_timeout=_seconds(raw, "confirm_timeout", 10),
                           mode=_mode(raw), tls=_tls(raw),
                           ssh_config=os.path.expanduser(raw["ssh_config"]) if raw.get("ssh_config") else None,
                           jump=_hops(raw.get("jump")), become=bool(raw.get("become", False)),
                           become_user=str(raw.get("become_user") or "root"),
                           become_password_env=raw.get("become_password_env") or None, given=frozenset(raw))
        if kind == "http":
            url, method = str(raw["url"]), str(raw.get("method", "PUT")).upper()
            return HttpSpec(url=url, format=_format(url, raw), template=raw.get("template"), method=method,
                            current_url=raw.get("current_url") or (url if method == "PUT" else None),
                            confirm_url=raw.get("confirm_url"), timeout=_seconds(raw, "timeout", 10),
                            retries=int(raw.get("retries", 2)), confirm_timeout=_seconds(raw, "confirm_timeout", 10),
                            headers=_headers(raw.get("headers")), tls=_tls(raw),
                            max_body=_size(raw, "max_body", DEFAULT_MAX_BODY))
        if kind == "etcd":
            unknown = sorted(set(KEY_FIELD.findall(str(raw.get("key") or ""))) - {"profile", "service", "instance"})
            if unknown:
                raise ConfigError(f"target {name}: etcd key {raw.get('key')!r} uses {{{unknown[0]}}} "
                                  "(it may use {profile}, {service} and {instance})")
            return EtcdSpec(connection=etcd_connection(raw), key=str(raw.get("key") or "/config/{profile}/{instance}"),
                            format=str(raw.get("format") or "json"), template=raw.get("template"),
                            confirm_url=raw.get("confirm_url"), confirm_timeout=_seconds(raw, "confirm_timeout", 10),
                            tls=_tls(raw))
    except KeyError as exc:
        raise ConfigError(f"target {name}: the {kind} transport needs `{exc.args[0]}`") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"target {name}: transport: {exc}") from None
    raise ConfigError(f"target {name}: unknown transport type {kind!r} (use one of local, ssh, http, etcd)")


def etcd_connection(raw: Mapping[str, Any]) -> EtcdConnection:
    """An EtcdConnection from a transport's or `targets_from.etcd`'s mapping."""
    endpoints = raw["endpoints"]
    endpoints = [endpoints] if isinstance(endpoints, str) else list(endpoints)

    def path(key: str) -> str | None:
        return os.path.abspath(os.path.expanduser(str(raw[key]))) if raw.get(key) else None

    return EtcdConnection(endpoints=tuple(str(e).rstrip("/") for e in endpoints), ca=path("ca"), cert=path("cert"),
                          key=path("key_file"), verify=bool(raw.get("verify", True)), user=raw.get("user") or None,
                          password_env=raw.get("password_env") or None, token_env=raw.get("token_env") or None,
                          timeout=_seconds(raw, "timeout", 5))


def parse_inventory(raw: Mapping[str, Any]) -> InventorySpec:
    """`targets_from:` of profile.yaml: exactly one of `etcd:` or `command:`."""
    try:
        if raw.get("etcd") is not None:
            etcd = raw["etcd"]
            return EtcdInventory(connection=etcd_connection(etcd), prefix=str(etcd["prefix"]))
        if raw.get("command") is not None:
            command = _command(raw["command"])
            assert command is not None
            return CommandInventory(command=command, timeout=_seconds(raw, "timeout", 30))
    except KeyError as exc:
        raise ConfigError(f"targets_from: needs `{exc.args[0]}`") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"targets_from: {exc}") from None
    raise ConfigError("targets_from: give `etcd:` or `command:`")


def _format(location: str, raw: Mapping[str, Any]) -> str:
    """`format:`, else `text` with a template, else guessed from the path or URL suffix."""
    fmt = raw.get("format")
    if raw.get("template"):
        if fmt not in (None, "text"):
            raise ValueError(f"`template` renders text: drop `format: {fmt}` (or make it `text`)")
        return "text"
    if fmt is not None and fmt not in formats.FORMATS:
        raise ValueError(f"unknown format {fmt!r} (use one of {', '.join(formats.FORMATS)})")
    return formats.format_for(location, fmt)


def parse_probe(name: str, raw: Mapping[str, Any]) -> ProbeSpec:
    kind = raw.get("type")
    try:
        if kind == "http":
            return HttpProbeSpec(url=str(raw["url"]), expect_status=int(raw.get("expect_status", 200)),
                                 timeout=_seconds(raw, "timeout", 5), headers=_headers(raw.get("headers")),
                                 tls=_tls(raw), max_body=_size(raw, "max_body", DEFAULT_MAX_BODY))
        if kind == "metrics":
            d = MetricsProbeSpec
            return MetricsProbeSpec(url=str(raw["url"]), requests_metric=raw.get("requests_metric", d.requests_metric),
                                    status_label=raw.get("status_label", d.status_label),
                                    error_status_pattern=raw.get("error_status_pattern", d.error_status_pattern),
                                    latency_metric=raw.get("latency_metric", d.latency_metric),
                                    timeout=_seconds(raw, "timeout", 5), headers=_headers(raw.get("headers")),
                                    tls=_tls(raw), max_body=_size(raw, "max_body", DEFAULT_MAX_BODY))
        if kind == "prometheus":
            queries = {key: raw.get(key, default) for key, default in PROMETHEUS_QUERIES.items()}
            return PrometheusProbeSpec(url=str(raw["url"]), **queries, lookback=_seconds(raw, "lookback", 300),
                                       timeout=_seconds(raw, "timeout", 5), headers=_headers(raw.get("headers")),
                                       tls=_tls(raw), max_body=_size(raw, "max_body", PROMETHEUS_MAX_BODY))
        if kind == "command":
            command = _command(raw["command"])
            assert command is not None
            return CommandProbeSpec(command=command, where=str(raw.get("where", "local")),
                                    timeout=_seconds(raw, "timeout", 10))
    except KeyError as exc:
        raise ConfigError(f"target {name}: the {kind} probe needs `{exc.args[0]}`") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"target {name}: health: {exc}") from None
    raise ConfigError(f"target {name}: unknown probe type {kind!r} (use one of http, metrics, prometheus, command)")


def _seconds(raw: Mapping[str, Any], key: str, default: float) -> float:
    return parse_duration(raw.get(key, default))


_SIZE = re.compile(r"^(\d+)\s*(B|KB|MB|GB|KiB|MiB|GiB)?$")
_UNITS = {None: 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


def _size(raw: Mapping[str, Any], key: str, default: int) -> int:
    """A byte count: a number, or text such as `16MiB` or `500 KB`."""
    value = raw.get(key, default)
    match = _SIZE.match(str(value).strip()) if not isinstance(value, bool) else None
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"{key}: {value!r} is not a size (bytes, or e.g. 16MiB, 512KiB)")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _command(value: Any) -> Command | None:
    if value is None:
        return None
    return value if isinstance(value, str) else tuple(str(v) for v in value)


def _hops(value: str | list[str] | None) -> tuple[str, ...] | None:
    """`jump:` as ProxyJump hops: a comma-separated string or a list of them."""
    if value is None:
        return None
    parts = [value] if isinstance(value, str) else list(value)
    return tuple(hop.strip() for part in parts for hop in str(part).split(",") if hop.strip())


def _mode(raw: Mapping[str, Any]) -> int | None:
    return int(raw["mode"], 8) if raw.get("mode") else None


def _headers(value: Mapping[str, Any] | None) -> Mapping[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}


def _tls(raw: Mapping[str, Any]) -> Tls:
    return Tls(verify=raw.get("verify") is not False, ca=os.path.expanduser(raw["ca"]) if raw.get("ca") else None)
