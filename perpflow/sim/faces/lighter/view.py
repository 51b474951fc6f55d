"""The admin state's accounts, trades and books in Lighter's shapes (the sim's first face)."""

from __future__ import annotations

from perpflow.sim.account import Account
from perpflow.sim.faces.lighter import wire
from perpflow.sim.faces.lighter.keys import ApiKeys
from perpflow.sim.order import Trade
from perpflow.sim.venue import Venue

Json = wire.Json
STATE_BOOK_DEPTH = 50


class LighterView:
    def __init__(self, venue: Venue, keys: ApiKeys) -> None:
        self.venue = venue
        self.keys = keys

    def account(self, acct: Account) -> Json:
        engine = self.venue.engine
        return {
            **wire.detailed_account(engine, acct),
            "api_keys": {str(k): v for k, v in self.keys.of(acct.index).items()},
            "nonces": {str(k): self.keys.next_nonce(acct.index, k) for k in self.keys.of(acct.index)},
            "open_orders": [wire.order(engine.markets[o.market_id], o) for o in acct.open_orders.values()],
        }

    def trade(self, trade: Trade) -> Json:
        return wire.trade(self.venue.engine.markets[trade.market_id], trade)

    def book(self, market_id: int) -> Json:
        return wire.book_snapshot(self.venue.engine, market_id, depth=STATE_BOOK_DEPTH)
