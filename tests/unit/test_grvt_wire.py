"""GRVT websocket feeds and REST answers -> venue-neutral events; the reconnect back-off."""

from __future__ import annotations

from decimal import Decimal

import aiohttp

from perpflow.venues.feed import StreamHooks
from perpflow.venues.grvt import parse, wire
from perpflow.venues.grvt.stream import GrvtSocket, error_of
from perpflow.venues.types import OrderStatus, Side

COID = str(2**63 + 1_000_007)


def book_msg(seq: int, prev: int, bids: list[dict[str, object]]) -> dict[str, object]:
    return {
        "stream": "v1.book.d", "selector": "ETH_USDT_Perp@100", "sequence_number": str(seq),
        "prev_sequence_number": str(prev),
        "feed": {"instrument": "ETH_USDT_Perp", "bids": bids, "asks": [], "event_time": "1"},
    }  # fmt: skip


def test_the_first_book_message_is_the_snapshot_and_deltas_chain_by_prev() -> None:
    snap = wire.book_update(book_msg(0, 0, [{"price": "3000.5", "size": "2", "num_orders": 1}]), first=True)
    assert snap.snapshot and snap.market == "ETH_USDT_Perp" and snap.bids == [(Decimal("3000.5"), Decimal(2))]
    delta = wire.book_update(book_msg(1, 0, [{"price": "3000.5", "size": "0", "num_orders": 0}]), first=False)
    assert not delta.snapshot and (delta.seq, delta.prev_seq) == (1, 0)
    assert delta.bids == [(Decimal("3000.5"), Decimal(0))]


def test_a_fill_stream_gap_is_told_from_a_duplicate() -> None:
    assert wire.in_sequence(book_msg(5, 4, []), first=False, last=4)
    assert wire.in_sequence(book_msg(4, 3, []), first=False, last=4)  # the same message again
    assert not wire.in_sequence(book_msg(7, 6, []), first=False, last=4)
    assert wire.in_sequence(book_msg(9, 8, []), first=True, last=None)


FILL = {
    "event_time": "1767225600123456789", "sub_account_id": "7", "instrument": "ETH_USDT_Perp",
    "is_buyer": False, "is_taker": False, "size": "0.5", "price": "3001.25", "mark_price": "3001",
    "index_price": "3001", "interest_rate": "0", "forward_price": "0", "realized_pnl": "0",
    "fee": "-0.01", "fee_rate": "-0.0001", "trade_id": "65424692-2",
    "order_id": "0x01010105034cddc7000000006621285c", "venue": "ORDERBOOK", "client_order_id": COID,
    "signer": "0x0", "is_rpi": False,
}  # fmt: skip


def test_a_fill_routes_by_our_client_order_index() -> None:
    fill = wire.fill({"stream": "v1.fill", "selector": "7", "sequence_number": "1", "feed": FILL})
    assert fill.client_order_index == 1_000_007
    assert fill.fill_id == "grvt-65424692-2-sell" and fill.side is Side.SELL and fill.is_maker
    assert (fill.price, fill.size, fill.fee) == (Decimal("3001.25"), Decimal("0.5"), Decimal("-0.01"))
    assert fill.order_index == parse.order_index("0x01010105034CDDC7000000006621285C")
    assert fill.order_index >= 2**62 > 2**48 and fill.order_index < 2**63


def test_orders_read_their_state_and_the_placeholder_id() -> None:
    from types import SimpleNamespace as N

    leg = N(instrument="ETH_USDT_Perp", size="2", is_buying_asset=True, limit_price="3000")
    state = N(status="OPEN", reject_reason="UNSPECIFIED", book_size=["1.5"], traded_size=["0.5"],
              update_time="1", avg_fill_price=["2999"])  # fmt: skip
    o = N(legs=[leg], state=state, order_id="0x00", metadata=N(client_order_id=COID), reduce_only=None)
    order = parse.order(o)
    assert (order.status, order.order_index, order.client_order_index) == (OrderStatus.OPEN, 0, 1_000_007)
    assert (order.filled_size, order.remaining_size, order.filled_quote) == (
        Decimal("0.5"), Decimal("1.5"), Decimal("1499.5"),
    )  # fmt: skip
    o.state = N(status="REJECTED", reject_reason="BELOW_MARGIN", book_size=["0"], traded_size=["0"],
                update_time="1", avg_fill_price=["0"])  # fmt: skip
    refused = parse.order(o)
    assert refused.status is OrderStatus.CANCELED and refused.reason == "BELOW_MARGIN"


def test_error_frames_in_either_form() -> None:
    assert error_of({"jsonrpc": "2.0", "error": {"code": 1000, "message": "auth"}, "id": 1}) == (1000, "auth")
    assert error_of({"code": 1101, "message": "bad selector", "status": 400}) == (1101, "bad selector")
    assert error_of({"jsonrpc": "2.0", "result": {"stream": "v1.fill"}, "id": 1}) is None


async def test_reconnects_back_off_1_2_4_seconds_up_to_30_with_jitter() -> None:
    async with aiohttp.ClientSession() as http:
        socket = GrvtSocket("t", "ws://127.0.0.1:9/ws/full", http, lambda *_: True, StreamHooks())
        delays = [socket._backoff.next_delay() for _ in range(8)]
    for delay, ceiling in zip(delays, [1, 2, 4, 8, 16, 30, 30, 30], strict=True):
        assert ceiling / 2 <= delay <= ceiling
