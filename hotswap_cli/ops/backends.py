"""Open the backends a target names: its transport and its health probes. Each kind (and its
library) is imported only when used; adding a transport or a probe adds a branch here."""

from __future__ import annotations

from hotswap_cli.errors import ConfigError, ProbeError
from hotswap_cli.model import Target
from hotswap_cli.probes.base import Probe
from hotswap_cli.transports.base import Transport

TRANSPORTS = ("local", "ssh", "http")
PROBES = ("http", "metrics", "prometheus", "command")


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
    raise ConfigError(f"target {target.name}: unknown transport type {kind!r} (use one of {', '.join(TRANSPORTS)})")


def open_probes(target: Target) -> list[Probe]:
    """One Probe per entry of the target's `health:` list, in order."""
    probes: list[Probe] = []
    for spec in target.probes:
        kind = spec.get("type")
        if kind == "http":
            from hotswap_cli.probes.http import HttpProbe

            probes.append(HttpProbe(target.name, spec))
        elif kind == "metrics":
            from hotswap_cli.probes.metrics import MetricsProbe

            probes.append(MetricsProbe(target.name, spec))
        elif kind == "prometheus":
            from hotswap_cli.probes.prometheus import PrometheusProbe

            probes.append(PrometheusProbe(target.name, spec))
        elif kind == "command":
            from hotswap_cli.probes.command import CommandProbe

            probes.append(CommandProbe(target.name, spec, target.transport))
        else:
            raise ProbeError(f"target {target.name}: unknown probe type {kind!r} (use one of {', '.join(PROBES)})")
    return probes
