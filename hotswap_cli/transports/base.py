"""The Transport protocol every backend (local, ssh, http) implements."""

from __future__ import annotations

from typing import Protocol


class Transport(Protocol):
    """One instance's config slot. Steps run in order: read_current, stage, check, swap, reload.

    Every failure raises hotswap_cli.errors.TransportError naming the instance. Until `swap`
    the instance still runs its old bytes; after `swap` it holds the new bytes in full.
    `revert` puts back exactly the bytes seen by `read_current` (or removes the file when
    there was none) and reloads. Backends never print.
    """

    name: str
    traceparent: str | None  # W3C trace context sent with each request or command (telemetry)

    def read_current(self) -> bytes | None:
        """The bytes the instance holds now (None: no config yet). Kept for revert."""
        ...

    def stage(self, data: bytes) -> None:
        """Put `data` next to the live config without making it live."""
        ...

    def check(self) -> None:
        """Run the target's own check on the staged config (e.g. `nginx -t`); no-op if none."""
        ...

    def swap(self) -> None:
        """Atomically make the staged config live, keeping the previous one for revert."""
        ...

    def reload(self) -> None:
        """Tell the instance to load its config (command, signal or HTTP call)."""
        ...

    def confirm(self, expected_sha256: str) -> bool | None:
        """Whether the instance reports running `expected_sha256`; None when it cannot tell."""
        ...

    def discard(self) -> None:
        """Remove a staged config that was never swapped (blue-green abort)."""
        ...

    def revert(self) -> None:
        """Restore the exact previous bytes (or absence) and reload."""
        ...

    def close(self) -> None: ...
