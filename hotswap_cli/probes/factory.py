"""Open a target's health probes; each kind (and its library) is imported only when used."""

from __future__ import annotations

from hotswap_cli.errors import ProbeError
from hotswap_cli.model import Target
from hotswap_cli.probes.base import Probe

KINDS = ("http", "metrics", "prometheus", "command")


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
            raise ProbeError(f"target {target.name}: unknown probe type {kind!r} (use one of {', '.join(KINDS)})")
    return probes
