"""What changed for an account since the trade streams last looked: orders and positions.

The engine reports dirty accounts, not orders, so the face compares each order's progress
with what it last published: active orders, the newest ended ones (the engine's history is
append-only, scanned back to the last one seen) and the orders the face ended itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from perpflow.sim.account import Position
from perpflow.sim.changes import ended_since
from perpflow.sim.engine import Engine
from perpflow.sim.faces.grvt.desk import OrderDesk
from perpflow.sim.faces.grvt.records import OrderRecord
from perpflow.sim.order import Order

Progress = tuple[str, int, int, int]
Changed = tuple[OrderRecord | None, Order | None]


def _progress(o: Order) -> Progress:
    return (o.status.value, o.filled_base, o.remaining, o.version)


@dataclass
class AccountWatch:
    account: int
    seen: dict[int, Progress] = field(default_factory=dict)
    last_ended: Order | None = None
    face_only_seen: int = 0
    positions: dict[int, tuple[int, int, int]] = field(default_factory=dict)

    def start(self, engine: Engine, desk: OrderDesk) -> None:
        """Take the current state as published (a subscriber just got its snapshot)."""
        acct = engine.account(self.account)
        self.seen = {o.order_index: _progress(o) for o in acct.open_orders.values()}
        ended = engine.inactive.get(self.account)
        self.last_ended = ended[-1] if ended else None
        self.face_only_seen = len(desk.face_only.get(self.account, []))
        self.positions = {m: _pos(p) for m, p in acct.positions.items()}

    def orders(self, engine: Engine, desk: OrderDesk) -> list[Changed]:
        out: list[Changed] = []
        for o in reversed(self._new_ended(engine)):
            self.seen.pop(o.order_index, None)
            out.append((desk.records.get(o.order_index), o))
        for o in engine.account(self.account).open_orders.values():
            progress = _progress(o)
            if self.seen.get(o.order_index) != progress:
                self.seen[o.order_index] = progress
                out.append((desk.records.get(o.order_index), o))
        face_only = desk.face_only.get(self.account, [])
        out += [(rec, None) for rec in face_only[self.face_only_seen :]]
        self.face_only_seen = len(face_only)
        return out

    def _new_ended(self, engine: Engine) -> list[Order]:
        """Ended orders newer than the last one seen, newest first."""
        fresh, self.last_ended = ended_since(engine.inactive.get(self.account, ()), self.last_ended)
        return fresh

    def moved_positions(self, engine: Engine) -> list[tuple[int, Position]]:
        out = []
        for market, p in engine.account(self.account).positions.items():
            now = _pos(p)
            if self.positions.get(market, (0, 0, 0)) != now:
                self.positions[market] = now
                out.append((market, p))
        return out


def _pos(p: Position) -> tuple[int, int, int]:
    return (p.size, p.entry_quote, p.realised)
