"""Crossings wait a moment for a fill that says as much.

A move through a level where a workflow's order rests makes two facts at once: the book's mid
crosses the level's watch, and the order fills. Sent apart they cost the workflow two signals and
two workflow tasks for one event. So a crossing whose watch says a fill may stand in for it
(``WatchSpec.fill_stands_in``: it only tells the price, as a grid session's do) waits ``hold_s``
before it is sent; a fill routed to the same workflow meanwhile carries the market's mid
(``OrderFilled.mid``), and a crossing that mid is already past is dropped: the workflow learns the
same price from the fill. Of the crossings waiting on the fill's market only the newest can tell
more than the fill: it goes out right behind the fill (mostly in its workflow task) unless the
fill is past it. The older ones are dropped: their prices are behind the newest one's, and sent
after the fill they would set the workflow's price back (a move down through two levels and back
up through them, filling the upper one's sell, left a session at the low with the buy below owed
but never placed: the up crossings were folded into the fill, the down ones came after it).

Only a fill routed after the crossing was seen can drop it: its mid comes from the same book, as
new or newer. Nothing is lost at shutdown: what waits is sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from perpflow.marketdata.delivery import Delivery
from perpflow.signals import Direction, OrderFilled, PriceCrossed

log = logging.getLogger(__name__)


@dataclass
class _Waiting:
    delivery: Delivery  # its payload a PriceCrossed
    timer: asyncio.TimerHandle


def passed(crossed: PriceCrossed, price: Decimal) -> bool:
    """Whether ``price`` is at or past the crossing's level, the way it crossed."""
    return price <= crossed.level if crossed.direction is Direction.DOWN else price >= crossed.level


class CrossingHold:
    def __init__(self, send: Callable[[Delivery], None], hold_s: float) -> None:
        self._send, self.hold_s = send, hold_s
        self._waiting: dict[str, list[_Waiting]] = defaultdict(list)
        self.folded = 0  # crossings a fill made redundant

    def crossing(self, d: Delivery, fill_stands_in: bool) -> None:
        """``fill_stands_in``: the watch's ``fill_stands_in`` (else the crossing goes at once)."""
        assert isinstance(d.payload, PriceCrossed)
        if self.hold_s <= 0 or not fill_stands_in:
            self._send(d)
            return
        timer = asyncio.get_running_loop().call_later(self.hold_s, self._release, d)
        self._waiting[d.workflow_id].append(_Waiting(d, timer))

    def fill(self, d: Delivery) -> None:
        """Send the fill, then of its market's crossings the newest unless the fill is past it
        (and every other market's)."""
        self._send(d)
        assert isinstance(d.payload, OrderFilled)
        price, market = d.payload.market_price(), d.payload.market
        waiting = self._waiting.pop(d.workflow_id, [])
        newest = {_crossed(w).market: w for w in waiting}
        for w in waiting:
            w.timer.cancel()
            crossed = _crossed(w)
            if crossed.market == market and (w is not newest[market] or passed(crossed, price)):
                self.folded += 1
                log.debug("crossing %s folded into fill %s -> %s", w.delivery.key, d.key, d.workflow_id)
            else:
                self._send(w.delivery)

    @property
    def waiting(self) -> int:
        return sum(len(w) for w in self._waiting.values())

    def flush(self) -> None:
        """Send everything waiting (at shutdown)."""
        for waiting in self._waiting.values():
            for w in waiting:
                w.timer.cancel()
                self._send(w.delivery)
        self._waiting.clear()

    def _release(self, d: Delivery) -> None:
        waiting = self._waiting.get(d.workflow_id, [])
        if not any(w.delivery is d for w in waiting):
            return  # a fill took it meanwhile
        waiting[:] = [w for w in waiting if w.delivery is not d]
        if not waiting:
            del self._waiting[d.workflow_id]
        self._send(d)


def _crossed(w: _Waiting) -> PriceCrossed:
    assert isinstance(w.delivery.payload, PriceCrossed)
    return w.delivery.payload
