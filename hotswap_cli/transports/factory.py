"""Open the transport a target names; each backend (and its library) is imported only when used."""

from __future__ import annotations

import json
from typing import Any

from hotswap_cli.errors import ConfigError
from hotswap_cli.model import Target
from hotswap_cli.transports.base import Transport

KINDS = ("local", "ssh", "http")


def open_transport(target: Target, *, traceparent: str | None = None) -> Transport:
    """A Transport for `target`; nothing connects until its first step."""
    spec = target.transport
    kind = spec.get("type")
    if kind == "local":
        from hotswap_cli.transports.local import LocalTransport

        return LocalTransport(target.name, spec, traceparent=traceparent)
    if kind == "ssh":
        from hotswap_cli.transports.ssh import SshTransport

        return SshTransport(target.name, spec, traceparent=traceparent)
    if kind == "http":
        from hotswap_cli.transports.http import HttpTransport

        return HttpTransport(target.name, spec, traceparent=traceparent)
    raise ConfigError(f"target {target.name}: unknown transport type {kind!r} (use one of {', '.join(KINDS)})")


def payload_format(target: Target) -> str:
    """`format:` if given, else from the path or URL suffix (.yaml/.yml -> yaml), else json."""
    spec = target.transport
    if spec.get("format"):
        return str(spec["format"])
    where = str(spec.get("path") or spec.get("url") or "")
    return "yaml" if where.endswith((".yaml", ".yml")) else "json"


def encode_payload(config: Any, target: Target) -> bytes:
    """The bytes pushed to `target` for a rendered config (its hash is still config_hash(config))."""
    if payload_format(target) == "yaml":
        import yaml

        return yaml.safe_dump(config, sort_keys=False, allow_unicode=True).encode("utf-8")
    return (json.dumps(config, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
