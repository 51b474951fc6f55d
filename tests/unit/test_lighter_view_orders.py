"""The Lighter account view's order frames: they may come late or twice, and a client order index
may be reused; an ended order stays ended and the newest order keeps its client index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from perpflow.venues.lighter.view import AccountView
from perpflow.venues.types import OrderStatus

ACCOUNT = 7


@pytest.fixture
async def view() -> AsyncIterator[AccountView]:
    async with aiohttp.ClientSession() as session:
        yield AccountView(
            "unit", "ws://unused/stream", session, ACCOUNT, token=lambda: "token", symbol_of=lambda _: "ETH"
        )


def frame(order_index: int, status: str, filled: str = "0") -> dict[str, Any]:
    order = {
        "order_index": order_index, "client_order_index": 5, "market_index": 0, "is_ask": False,
        "price": "3000.00", "initial_base_amount": "0.1000", "remaining_base_amount": "0.1000",
        "filled_base_amount": filled, "filled_quote_amount": "0", "reduce_only": False, "status": status,
    }  # fmt: skip
    return {
        "channel": f"account_all_orders:{ACCOUNT}",
        "type": "update/account_all_orders",
        "orders": {"0": [order]},
    }


def test_a_late_open_frame_never_puts_a_filled_order_back_open(view: AccountView) -> None:
    view.on_message(frame(11, "filled", "0.1000"))
    view.on_message(frame(11, "open"))
    shown = view.shown(5)
    assert shown is not None and (shown.status, shown.order_index) == (OrderStatus.FILLED, 11)


def test_an_older_order_with_the_same_client_index_never_replaces_the_newer(view: AccountView) -> None:
    view.on_message(frame(12, "open"))
    view.on_message(frame(11, "canceled"))
    view.on_message(frame(12, "filled", "0.1000"))
    shown = view.shown(5)
    assert shown is not None and (shown.status, shown.order_index) == (OrderStatus.FILLED, 12)
