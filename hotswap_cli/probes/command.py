"""The `command` probe: run a command here or over the instance's ssh connection; exit 0 = healthy.
With `where: target` it runs on the pooled connection the instance's ssh transport uses (io.ssh):
no login of its own."""

from __future__ import annotations

import shlex
import time
from dataclasses import replace

from hotswap_cli.errors import ProbeError, TransportError
from hotswap_cli.io.process import argv_of, run_command, tail
from hotswap_cli.probes.base import HealthSample
from hotswap_cli.specs import CommandProbeSpec, SshSpec, TransportSpec


class CommandProbe:
    kind = "command"

    def __init__(self, instance: str, spec: CommandProbeSpec, transport: TransportSpec | None = None) -> None:
        self.instance = instance
        self.command = spec.command
        self.where = spec.where
        self.timeout = spec.timeout
        self._conn = None
        if self.where == "target":
            if not isinstance(transport, SshSpec):
                raise ProbeError(f"target {instance}: a command probe with `where: target` needs an ssh transport")
            from hotswap_cli.io.ssh import SshConnection

            self._conn = SshConnection(instance, replace(transport, command_timeout=self.timeout))

    def sample(self) -> HealthSample:
        started = time.perf_counter()
        try:
            code, output = self._run()
        except TransportError as exc:
            return HealthSample(self.instance, self.kind, time.time(), ok=False, detail=exc.reason)
        latency = (time.perf_counter() - started) * 1000.0
        detail = f"exit {code}" + (f": {tail(output, 2)}" if code else "")
        return HealthSample(self.instance, self.kind, time.time(), ok=code == 0, latency_ms=latency, detail=detail)

    def _run(self) -> tuple[int, str]:
        if self._conn is not None:
            command = self.command if isinstance(self.command, str) else shlex.join(self.command)
            return self._conn.run(command)
        return run_command(self.instance, "health", argv_of(self.command), timeout=self.timeout)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
