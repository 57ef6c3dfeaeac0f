"""Orders for a running deploy from anywhere: a thread reads the control ref (core.deploy.control)
every HOTSWAP_CONTROL_POLL seconds (2s) and hands the engine each control meant for this run once.
The latest control wins: two sent within one poll, only the second is seen."""

from __future__ import annotations

import os
import threading
from collections import deque
from typing import TYPE_CHECKING

from hotswap_cli.core.deploy import control
from hotswap_cli.errors import HotswapError
from hotswap_cli.runner.engine import Order

if TYPE_CHECKING:
    from hotswap_cli.core.versions.git import GitRepo

DEFAULT_POLL = 2.0


def poll_interval() -> float:
    try:
        return max(0.05, float(os.environ.get("HOTSWAP_CONTROL_POLL", DEFAULT_POLL)))
    except ValueError:
        return DEFAULT_POLL


class OrderPoller:
    """Callable as the engine's `orders`: the next unseen order for run `run_id`, or None."""

    def __init__(self, git_repo: GitRepo, profile: str, run_id: str, poll: float | None = None) -> None:
        self.git_repo = git_repo
        self.profile = profile
        self.run_id = run_id
        self.poll = poll if poll is not None else poll_interval()
        self._orders: deque[Order] = deque()
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hotswap-orders", daemon=True)
        self._thread.start()

    def __call__(self) -> Order | None:
        return self._orders.popleft() if self._orders else None

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                found = control.read(self.git_repo, self.profile)
            except HotswapError:
                continue  # origin unreachable for a moment: try again next poll
            if found is not None and found.run == self.run_id and found.id not in self._seen:
                self._seen.add(found.id)
                self._orders.append(Order(found.action, found.by, found.full, found.id))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
