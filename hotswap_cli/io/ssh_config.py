"""Where an ssh target really is: the operator's ssh config (OpenSSH's format, read with paramiko's
parser) merged with what profile.yaml says, each setting with where it came from.

Which file: `HOTSWAP_SSH_CONFIG` (`hotswap --ssh-config FILE` sets it; `none` reads no file), else
the transport's `ssh_config:`, else `~/.ssh/config` when it exists. Values profile.yaml gives win
over the file; ProxyJump hops are looked up in the same file, recursively, as OpenSSH does."""

from __future__ import annotations

import getpass
import glob
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import paramiko

from hotswap_cli.errors import TransportError
from hotswap_cli.specs import SshSpec

DEFAULT_CONFIG = "~/.ssh/config"
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
_MAX_HOPS = 10
_MAX_INCLUDE_DEPTH = 16


@dataclass(frozen=True)
class Hop:
    """One ssh login: the target itself or a jump host on the way to it."""

    alias: str  # as written: the target's `host:` or a ProxyJump entry
    host: str  # the name or address connected to (HostName)
    port: int
    user: str
    keys: tuple[str, ...] = ()  # identity files; none: the agent and ~/.ssh/id_*
    certificate: str | None = None  # CertificateFile (else paramiko loads <key>-cert.pub itself)
    identities_only: bool = False  # no agent keys besides `keys`
    known_hosts: tuple[str, ...] = ()
    host_key_alias: str | None = None
    connect_timeout: float = 10.0

    @property
    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    @property
    def key_name(self) -> str:
        """The name its host key is looked up by in known_hosts (as OpenSSH: `[host]:port` off port 22)."""
        if self.host_key_alias:
            return self.host_key_alias
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


@dataclass(frozen=True)
class Route:
    """How to reach a target: directly, through jump hosts (ProxyJump), or through a ProxyCommand."""

    target: Hop
    jumps: tuple[Hop, ...] = ()
    proxy_command: str | None = None
    config_file: str | None = None
    origins: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # setting -> (value, where from)


def describe(instance: str, spec: SshSpec) -> dict[str, object]:
    """What `hotswap deploy --dry-run` shows for an ssh target: the route and where each setting
    came from (nothing connects)."""
    try:
        route = resolve(instance, spec)
    except TransportError as exc:
        return {"error": exc.reason}
    via = " -> ".join(h.where for h in route.jumps)
    path = route.target.where + (f" via {via}" if via else "") + (" via ProxyCommand" if route.proxy_command else "")
    settings = {name: {"value": value, "from": origin} for name, (value, origin) in route.origins.items()}
    if spec.become:
        settings["become"] = {"value": f"sudo -u {spec.become_user}", "from": "profile"}
    return {"route": path, "settings": settings}


def config_path(spec: SshSpec) -> tuple[str | None, str]:
    """The ssh config file to read (None: none) and what chose it."""
    chosen = os.environ.get("HOTSWAP_SSH_CONFIG", "").strip()
    if chosen:
        return (None, "HOTSWAP_SSH_CONFIG=none") if chosen == "none" else (os.path.expanduser(chosen),
                                                                          "HOTSWAP_SSH_CONFIG")
    if spec.ssh_config:
        return spec.ssh_config, "the target's ssh_config"
    default = os.path.expanduser(DEFAULT_CONFIG)
    return (default, "default") if os.path.exists(default) else (None, "no ~/.ssh/config")


_cache: dict[tuple[str, float], paramiko.SSHConfig] = {}
_cache_lock = threading.Lock()


def load_config(instance: str, path: str) -> paramiko.SSHConfig:
    """The parsed file (cached while unchanged); `Include` is followed, as OpenSSH does."""
    try:
        mtime = os.stat(path).st_mtime
    except OSError as exc:
        raise TransportError(instance, f"ssh config {path}: {exc.strerror or exc}",
                             hint="fix the path in --ssh-config, HOTSWAP_SSH_CONFIG or the target's "
                                  "ssh_config") from None
    with _cache_lock:
        found = _cache.get((path, mtime))
        if found is None:
            try:
                found = paramiko.SSHConfig.from_text(_expand_includes(path, 0))
            except (OSError, ValueError, paramiko.SSHException) as exc:
                raise TransportError(instance, f"ssh config {path}: {exc}") from None
            _cache[(path, mtime)] = found
        return found


def _expand_includes(path: str, depth: int) -> str:
    """The file's text with each `Include` replaced by the files it names (relative to ~/.ssh),
    inline: a following `Host` line starts a new block either way."""
    if depth > _MAX_INCLUDE_DEPTH:
        raise ValueError(f"Include nested more than {_MAX_INCLUDE_DEPTH} deep")
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    out = []
    for line in lines:
        words = line.strip().replace("=", " ", 1).split()
        if words and words[0].lower() == "include":
            for pattern in words[1:]:
                pattern = os.path.expanduser(pattern)
                if not os.path.isabs(pattern):
                    pattern = os.path.join(os.path.expanduser("~/.ssh"), pattern)
                for included in sorted(glob.glob(pattern)):
                    out.append(_expand_includes(included, depth + 1))
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def resolve(instance: str, spec: SshSpec) -> Route:
    """The route to `spec`'s host: the ssh config's settings under profile.yaml's."""
    path, chosen_by = config_path(spec)
    config = load_config(instance, path) if path else None
    source = f"ssh config {path}" if path else "default"
    given = spec.given if spec.given is not None else frozenset(  # built in code: whatever it set counts
        name for name in SshSpec.__dataclass_fields__ if getattr(spec, name) is not None)
    origins: dict[str, tuple[str, str]] = {}

    def pick(name: str, profile_value: object, found: object, default: object) -> object:
        if name.removeprefix("connect_") in given:
            origins[name] = (str(profile_value), "profile")
            return profile_value
        if found is not None:
            origins[name] = (str(found), source)
            return found
        origins[name] = (str(default), "default")
        return default

    found = config.lookup(spec.host) if config else {}
    _refuse_unverified(instance, spec.host, found, path)
    host = found.get("hostname", spec.host)
    origins["host"] = (host, source if host != spec.host else "profile")
    port = int(pick("port", spec.port, found.get("port"), 22))  # type: ignore[call-overload]
    user = str(pick("user", spec.user, found.get("user"), spec.user or _local_user()))
    keys = _keys(spec, found, given, origins, source)
    known = _known_hosts(spec, found, given, origins, source)
    timeout = float(pick("connect_timeout", spec.timeout, found.get("connecttimeout"),  # type: ignore[arg-type]
                         spec.timeout))
    target = Hop(alias=spec.host, host=host, port=port, user=user, keys=keys,
                 certificate=_expand(found.get("certificatefile")), identities_only=_identities_only(spec, found,
                                                                                                  given),
                 known_hosts=known, host_key_alias=found.get("hostkeyalias"), connect_timeout=timeout)
    strict = found.get("stricthostkeychecking")
    origins["host keys"] = ("verified" + (f" (StrictHostKeyChecking {strict}: unknown keys still refused)"
                                          if strict and strict.lower() != "yes" else ""), "hotswap")
    jumps: tuple[Hop, ...] = ()
    proxy_command = None
    if spec.jump is not None:
        jumps = _hops(instance, spec, config, path, spec.jump, ())
        origins["jump"] = (",".join(spec.jump), "profile")
    elif found.get("proxyjump", "none").lower() != "none":
        hops = tuple(h.strip() for h in found["proxyjump"].split(",") if h.strip())
        jumps = _hops(instance, spec, config, path, hops, (spec.host,))
        origins["jump"] = (",".join(hops), source)
    elif found.get("proxycommand", "none").lower() != "none":
        proxy_command = found["proxycommand"]
        origins["proxy_command"] = (proxy_command, source)
    if path:
        origins["ssh config"] = (path, chosen_by)
    return Route(target, jumps, proxy_command, path, origins)


def _local_user() -> str:
    return getpass.getuser()


def _expand(value: object) -> str | None:
    return os.path.expanduser(str(value)) if value else None


def _keys(spec: SshSpec, found: Mapping[str, object], given: frozenset[str],
          origins: dict[str, tuple[str, str]], source: str) -> tuple[str, ...]:
    if "key" in given and spec.key:
        origins["key"] = (spec.key, "profile")
        return (spec.key,)
    files = [os.path.expanduser(str(f)) for f in found.get("identityfile", []) or []]  # type: ignore[attr-defined]
    if files:
        origins["key"] = (" ".join(files), source)
        return tuple(files)
    origins["key"] = ("ssh agent, ~/.ssh/id_*", "default")
    return ()


def _identities_only(spec: SshSpec, found: Mapping[str, object], given: frozenset[str]) -> bool:
    return ("key" in given and spec.key is not None) or str(found.get("identitiesonly", "no")).lower() == "yes"


def _known_hosts(spec: SshSpec, found: Mapping[str, object], given: frozenset[str],
                 origins: dict[str, tuple[str, str]], source: str) -> tuple[str, ...]:
    extra = tuple(os.path.expanduser(f) for f in str(found.get("globalknownhostsfile", "")).split())
    if "known_hosts" in given:
        files: tuple[str, ...] = (spec.known_hosts,)
        origins["known_hosts"] = (spec.known_hosts, "profile")
    elif found.get("userknownhostsfile"):
        files = tuple(os.path.expanduser(f) for f in str(found["userknownhostsfile"]).split())
        origins["known_hosts"] = (" ".join(files), source)
    else:
        files = (spec.known_hosts,)
        origins["known_hosts"] = (spec.known_hosts, "default")
    return files + extra


def _refuse_unverified(instance: str, alias: str, found: Mapping[str, object], path: str | None) -> None:
    strict = str(found.get("stricthostkeychecking", "yes")).lower()
    if strict in ("no", "off", "false"):
        raise TransportError(
            instance, f"ssh config {path}: `StrictHostKeyChecking {strict}` applies to {alias}; hotswap never "
                      "connects without verifying the host key",
            hint=f"drop that line for {alias} (hotswap refuses unknown keys either way) and add the host's key: "
                 "ssh-keyscan HOST >> ~/.ssh/known_hosts, after checking its fingerprint")


def parse_hop(text: str) -> tuple[str | None, str, int | None]:
    """`[user@]host[:port]` or `ssh://[user@]host[:port]` -> (user, host, port)."""
    text = text.removeprefix("ssh://")
    user, _, rest = text.rpartition("@")
    port = None
    if rest.startswith("["):  # [v6]:port
        host, _, tail = rest[1:].partition("]")
        port = int(tail[1:]) if tail.startswith(":") else None
    elif rest.count(":") == 1:
        host, _, number = rest.partition(":")
        port = int(number)
    else:
        host = rest
    if not host:
        raise ValueError(f"no host in jump {text!r}")
    return user or None, host, port


def _hops(instance: str, spec: SshSpec, config: paramiko.SSHConfig | None, path: str | None,
          entries: tuple[str, ...], seen: tuple[str, ...]) -> tuple[Hop, ...]:
    """Each ProxyJump entry as a Hop, preceded by its own ProxyJump hops from the config."""
    out: list[Hop] = []
    for entry in entries:
        try:
            user, alias, port = parse_hop(entry)
        except ValueError as exc:
            raise TransportError(instance, f"jump host {entry!r}: {exc}",
                                 hint="write it as [user@]host[:port]") from None
        if alias in seen or len(seen) > _MAX_HOPS:
            raise TransportError(instance, f"jump hosts loop or nest too deep at {alias} (via {' -> '.join(seen)})",
                                 hint="check ProxyJump in the ssh config") from None
        found = config.lookup(alias) if config else {}
        _refuse_unverified(instance, alias, found, path)
        if found.get("proxyjump", "none").lower() != "none":
            inner = tuple(h.strip() for h in found["proxyjump"].split(",") if h.strip())
            out.extend(_hops(instance, spec, config, path, inner, (*seen, alias)))
        files = [os.path.expanduser(str(f)) for f in found.get("identityfile", []) or []]
        known = (tuple(os.path.expanduser(f) for f in str(found["userknownhostsfile"]).split())
                 if found.get("userknownhostsfile") else (spec.known_hosts,))
        known += tuple(os.path.expanduser(f) for f in str(found.get("globalknownhostsfile", "")).split())
        keys = tuple(files) if files else ((spec.key,) if spec.key else ())
        out.append(Hop(
            alias=alias, host=found.get("hostname", alias), port=port or int(found.get("port", 22)),
            user=user or found.get("user") or _local_user(), keys=keys,
            certificate=_expand(found.get("certificatefile")),
            identities_only=str(found.get("identitiesonly", "no")).lower() == "yes" or (not files and bool(spec.key)),
            known_hosts=known, host_key_alias=found.get("hostkeyalias"),
            connect_timeout=float(found.get("connecttimeout", spec.timeout)),
        ))
    return tuple(out)
