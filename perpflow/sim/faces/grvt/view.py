"""The admin state's accounts, trades and books in GRVT's shapes (when GRVT is the first face)."""

from __future__ import annotations

from typing import Any

from perpflow.sim.account import Account
from perpflow.sim.faces.grvt import wire
from perpflow.sim.faces.grvt.state import GrvtState
from perpflow.sim.order import Trade

STATE_BOOK_DEPTH = 50


class GrvtView:
    def __init__(self, grvt: GrvtState) -> None:
        self.grvt = grvt

    def account(self, acct: Account) -> dict[str, Any]:
        grvt = self.grvt
        sub = grvt.keys.sub_account_id(acct.index)
        return {
            "account_index": acct.index,
            **wire.sub_account(grvt.instruments, grvt.engine, sub, acct),
            "api_keys": [k.api_key for k in grvt.keys.of(acct.index)],
        }

    def trade(self, trade: Trade) -> dict[str, Any]:
        inst = self.grvt.instruments.by_market[trade.market_id]
        return wire.public_trade(inst, self.grvt.engine, trade)

    def book(self, market_id: int) -> dict[str, Any]:
        return wire.book(self.grvt.instruments.by_market[market_id], self.grvt.engine, STATE_BOOK_DEPTH)
