"""Orders and waiting: promote/resume/abort sent to a running deploy (from any machine, or a
terminal's answer), and a paused run's wait for one. The engine decides what an order does to its
phases; this module only hands orders over and waits, with a deadline, never missing a conclusive
health failure while it waits."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from hotswap_cli.clock import Clock
from hotswap_cli.runner.events import ControlReceived, EventSink

PAUSE_LIMIT = 24 * 3600.0  # a pause step with no duration waits this long for resume/promote, then fails
GATE_PAUSE_LIMIT = 30 * 60.0  # an inconclusive gate under `on_inconclusive: pause` waits this long
PAUSE_STEP = 0.2  # how often a paused run looks for an order
EPSILON = 1e-3  # a clock reading this close to a deadline has reached it


@dataclass(frozen=True)
class Order:
    """`hotswap promote|resume|abort` sent to this run (from any machine), or a terminal's answer."""

    action: str  # promote | resume | abort
    by: str
    full: bool = False  # promote: every remaining phase now, no more bakes, gates or pauses
    id: str = ""


Orders = Callable[[], "Order | None"]  # the next order for this run, or None; never blocks for long


class Waiter:
    """Hands the run its orders (each announced as a ControlReceived event) and waits while paused."""

    def __init__(self, orders: Orders | None, clock: Clock, sink: EventSink, cancel: threading.Event) -> None:
        self.orders = orders
        self.clock = clock
        self.sink = sink
        self.cancel = cancel

    def next(self) -> Order | None:
        order = self.orders() if self.orders is not None else None
        if order is not None:
            self.sink.emit(ControlReceived(self.clock.now(), order.action, order.by, order.full, order.id))
        return order

    def wait(self, seconds: float, *, interval: float, failing: Callable[[], bool] | None = None,
             ask: Callable[[], bool] | None = None) -> tuple[str, Order | None]:
        """Wait up to `seconds` for an order, or for `ask`'s answer at a terminal (True: promote);
        every `interval` seconds `failing()` looks at health, and True ends the wait. Returns
        (resume | promote | abort | timeout | failed | cancel, the order)."""
        answer: list[bool] = []
        if ask is not None:
            threading.Thread(target=lambda: answer.append(ask()), name="hotswap-pause-ask", daemon=True).start()
        start = self.clock.now()
        end, next_look = start + seconds, start + interval
        while not self.cancel.is_set():
            order = self.next()
            if order is not None:
                return order.action, order
            if answer:
                order = Order("promote" if answer[0] else "abort", "the terminal")
                return order.action, order
            now = self.clock.now()
            if now >= end - EPSILON:
                return "timeout", None
            if failing is not None and now >= next_look:
                if failing():
                    return "failed", None
                next_look = self.clock.now() + interval
            self.clock.sleep(max(0.0, min(PAUSE_STEP, end - now)))
        return "cancel", None
