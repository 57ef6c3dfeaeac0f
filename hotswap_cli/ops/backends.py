"""Open the backends a target names: its transport and its health probes. Each kind (and its
library) is imported only when used; adding a transport or a probe adds a branch here."""

from __future__ import annotations

from collections.abc import Collection

from hotswap_cli.errors import ConfigError, ProbeError
from hotswap_cli.probes.base import Probe
from hotswap_cli.specs import (
    CommandProbeSpec,
    EtcdSpec,
    HttpProbeSpec,
    HttpSpec,
    LocalSpec,
    MetricsProbeSpec,
    ProbeSpec,
    PrometheusProbeSpec,
    SshSpec,
    Target,
)
from hotswap_cli.transports.base import Transport


def open_transport(target: Target, *, traceparent: str | None = None,
                   allowed_env: Collection[str] = frozenset(), profile: str = "") -> Transport:
    """A Transport for `target`; nothing connects until its first step. Header values may use the
    `allowed_env` environment variables only (see check_env, which runs before any connection).
    `profile`: the profile's name, which an etcd key may use ({profile}, {service})."""
    spec = target.transport
    if isinstance(spec, LocalSpec):
        from hotswap_cli.transports.local import LocalTransport

        return LocalTransport(target.name, spec, traceparent=traceparent)
    if isinstance(spec, SshSpec):
        from hotswap_cli.transports.ssh import SshTransport

        return SshTransport(target.name, spec, traceparent=traceparent, allowed_env=allowed_env)
    if isinstance(spec, HttpSpec):
        from hotswap_cli.transports.http import HttpTransport

        return HttpTransport(target.name, spec, traceparent=traceparent, allowed_env=allowed_env)
    if isinstance(spec, EtcdSpec):
        from hotswap_cli.transports.etcd import EtcdTransport

        return EtcdTransport(target.name, spec, profile=profile, traceparent=traceparent, allowed_env=allowed_env)
    raise ConfigError(f"target {target.name}: no transport for {spec!r}")


def open_probes(target: Target, allowed_env: Collection[str] = frozenset()) -> list[Probe]:
    """One Probe per entry of the target's `health:` list, in order."""
    return [_probe(target, spec, allowed_env) for spec in target.probes]


def _probe(target: Target, spec: ProbeSpec, allowed_env: Collection[str]) -> Probe:
    if isinstance(spec, HttpProbeSpec):
        from hotswap_cli.probes.http import HttpProbe

        return HttpProbe(target.name, spec, allowed_env)
    if isinstance(spec, MetricsProbeSpec):
        from hotswap_cli.probes.metrics import MetricsProbe

        return MetricsProbe(target.name, spec, allowed_env)
    if isinstance(spec, PrometheusProbeSpec):
        from hotswap_cli.probes.prometheus import PrometheusProbe

        return PrometheusProbe(target.name, spec, allowed_env)
    if isinstance(spec, CommandProbeSpec):
        from hotswap_cli.probes.command import CommandProbe

        return CommandProbe(target.name, spec, target.transport)
    raise ProbeError(f"target {target.name}: no probe for {spec!r}")
