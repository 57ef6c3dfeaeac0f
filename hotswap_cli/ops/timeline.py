"""The run's health timeline for the ledger record (what `deployments show` charts): an EventSink
that keeps, per instance, the figures of each health sample, compactly."""

from __future__ import annotations

from typing import Any

from hotswap_cli.runner.events import Event


class Timeline:
    """An EventSink; `to_record()` is what the ledger record keeps under "timeline"."""

    def emit(self, event: Event) -> None:
        pass

    def to_record(self) -> dict[str, Any]:
        return {}
