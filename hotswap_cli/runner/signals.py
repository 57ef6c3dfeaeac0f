"""Ctrl-C and SIGTERM during a deploy set the cancel event; the runner reverts, then returns."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def cancel_on_signals(cancel: threading.Event) -> Iterator[threading.Event]:
    """While inside, SIGINT/SIGTERM set `cancel` instead of raising (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        cancel.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield cancel
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
