"""Which of an account's orders changed since ``account_all_orders/{a}`` last published.

Lighter's ``update/account_all_orders`` carries the orders that changed, each with its status as
it is now: a resting order that filled in part, and the orders that ended (``filled``,
``canceled-post-only``, ``canceled-margin-not-allowed``...), which a list of open orders would only
show by their absence. The engine reports dirty accounts, not orders, so the watch compares each
open order's progress with what it last published, and takes the ended orders newer than the last
one it saw (the engine's history of ended orders is append-only).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from perpflow.sim.changes import ended_since
from perpflow.sim.engine import Engine
from perpflow.sim.order import Order

Progress = tuple[str, str, int, int, int]


def _progress(o: Order) -> Progress:
    reason = o.cancel_reason.value if o.cancel_reason is not None else ""
    return (o.status.value, reason, o.filled_base, o.remaining, o.version)


@dataclass
class OrderWatch:
    account: int
    seen: dict[int, Progress] = field(default_factory=dict)
    last_ended: Order | None = None

    @classmethod
    def begin(cls, engine: Engine, account: int) -> OrderWatch:
        """The account's orders as a subscriber's snapshot shows them: its open orders, as published."""
        acct = engine.account(account)
        ended = engine.inactive.get(account)
        return cls(
            account=account,
            seen={o.order_index: _progress(o) for o in acct.open_orders.values()},
            last_ended=ended[-1] if ended else None,
        )

    def changed(self, engine: Engine) -> list[Order]:
        """The orders that ended (oldest first), then the open ones that moved, since the last call."""
        out: list[Order] = []
        for o in reversed(self._new_ended(engine)):
            self.seen.pop(o.order_index, None)
            out.append(o)
        for o in engine.account(self.account).open_orders.values():
            progress = _progress(o)
            if self.seen.get(o.order_index) != progress:
                self.seen[o.order_index] = progress
                out.append(o)
        return out

    def _new_ended(self, engine: Engine) -> list[Order]:
        """Ended orders newer than the last one seen, newest first."""
        fresh, self.last_ended = ended_since(engine.inactive.get(self.account, ()), self.last_ended)
        return fresh
