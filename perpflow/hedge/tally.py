"""Fill bookkeeping of a cycle, from two sources that must never double count.

Fill signals arrive one increment at a time (deduplicated by fill id); polling reports an
order's cumulative fill. Each order keeps both tallies and trusts whichever has seen more,
so a fill seen by both paths counts once. Positions, cash and fees are derived, never
accumulated. Signals carry each fill's fee; a polled fill is charged the market's fee rate of
its order type. Pure and deterministic: used inside workflows.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from perpflow.models import Model
from perpflow.venues.types import Side


class Role(StrEnum):
    MAKER = "maker"  # account A's quotes
    HEDGE = "hedge"  # account B's hedges
    CLOSE = "close"  # either account's reduce-only closes


class OrderTally(Model):
    key: str
    role: Role
    account_index: int
    side: Side
    polled_size: Decimal = Decimal(0)
    polled_quote: Decimal = Decimal(0)
    signalled_size: Decimal = Decimal(0)
    signalled_quote: Decimal = Decimal(0)
    signalled_fees: Decimal = Decimal(0)
    fee_rate: Decimal = Decimal(0)  # fraction of notional charged to a polled fill
    fill_ids: list[str] = []
    final: bool = False

    @property
    def size(self) -> Decimal:
        return max(self.polled_size, self.signalled_size)

    @property
    def quote(self) -> Decimal:
        return self.polled_quote if self.polled_size >= self.signalled_size else self.signalled_quote

    @property
    def fees(self) -> Decimal:
        if self.polled_size > self.signalled_size:
            return self.polled_quote * self.fee_rate
        return self.signalled_fees


class Tally(Model):
    orders: dict[int, OrderTally] = {}  # by client order index

    def track(
        self, coi: int, key: str, role: Role, account_index: int, side: Side, *, fee_rate: Decimal
    ) -> OrderTally:
        if coi not in self.orders:
            self.orders[coi] = OrderTally(
                key=key, role=role, account_index=account_index, side=side, fee_rate=fee_rate
            )
        return self.orders[coi]

    def polled(self, coi: int, size: Decimal, quote: Decimal, final: bool) -> bool:
        """Record an order's cumulative fill; True when it adds something new."""
        t = self.orders[coi]
        grew = size > t.size
        if size > t.polled_size:
            t.polled_size, t.polled_quote = size, quote
        t.final = t.final or final
        return grew

    def signalled(self, coi: int, fill_id: str, size: Decimal, price: Decimal, fee: Decimal) -> bool:
        """Record one fill increment; False for an unknown order or a fill already counted."""
        t = self.orders.get(coi)
        if t is None or fill_id in t.fill_ids:
            return False
        t.fill_ids.append(fill_id)
        before = t.size
        t.signalled_size += size
        t.signalled_quote += size * price
        t.signalled_fees += fee
        return t.size > before

    def filled(self, role: Role) -> Decimal:
        return sum((t.size for t in self.orders.values() if t.role is role), Decimal(0))

    def position(self, account_index: int) -> Decimal:
        """Signed size this cycle holds on ``account_index``."""
        return sum(
            (t.side.sign * t.size for t in self.orders.values() if t.account_index == account_index),
            Decimal(0),
        )

    def cash(self, account_index: int) -> Decimal:
        return sum(
            (-t.side.sign * t.quote for t in self.orders.values() if t.account_index == account_index),
            Decimal(0),
        )

    def fees(self, account_index: int | None = None) -> Decimal:
        return sum(
            (t.fees for t in self.orders.values() if account_index in (None, t.account_index)),
            Decimal(0),
        )

    def realized(self) -> Decimal:
        """The PnL of what was closed, net of every fee: each account's quote flow, with a part
        still open (a close that failed) taken back at its own average entry, so an open leg adds
        neither profit nor loss until it is closed."""
        total = -self.fees()
        for account in {t.account_index for t in self.orders.values()}:
            held = self.position(account)
            entry = self._entry(account, held)
            total += self.cash(account) + held * entry
        return total

    def _entry(self, account_index: int, held: Decimal) -> Decimal:
        """The average price of ``account_index``'s fills on the side of what it still holds."""
        side = [
            t for t in self.orders.values() if t.account_index == account_index and t.side.sign * held > 0
        ]
        size = sum((t.size for t in side), Decimal(0))
        return sum((t.quote for t in side), Decimal(0)) / size if size else Decimal(0)

    def open_orders(self) -> list[int]:
        return [coi for coi, t in self.orders.items() if not t.final]

    def avg_price(self, role: Role) -> Decimal | None:
        size = self.filled(role)
        quote = sum((t.quote for t in self.orders.values() if t.role is role), Decimal(0))
        return quote / size if size else None

    def floating_pnl(self, account_index: int, mark: Decimal) -> Decimal:
        return self.position(account_index) * mark + self.cash(account_index) - self.fees(account_index)
