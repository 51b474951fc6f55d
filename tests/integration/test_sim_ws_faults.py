"""WebSocket streams (through the SDK's WsClient) and injected faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import aiohttp
import lighter
import pytest

from tests.plugins.sim import SimHandle, Trader

ETH = 0
SC = lighter.SignerClient


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def ticks(price: str) -> int:
    return int(price.replace(".", ""))


async def best(api: lighter.ApiClient) -> tuple[int, int]:
    ob = await lighter.OrderApi(api).order_book_orders(ETH, 5)
    return ticks(ob.bids[0].price), ticks(ob.asks[0].price)


async def coi_status(api: lighter.ApiClient, t: Trader, coi: int) -> lighter.Order:
    resp = await lighter.OrderApi(api).account_orders(t.auth_token(), str(coi), account_index=t.account_index)
    return resp.orders[0]


async def test_ws_book_and_account_updates_apply_cleanly(
    trader: Trader, api: lighter.ApiClient, fresh: SimHandle
) -> None:
    books: dict[str, Any] = {}
    accounts: list[dict[str, Any]] = []
    unhandled: list[dict[str, Any]] = []
    ws = lighter.WsClient(
        ws_url=fresh.ws_url,
        order_book_ids=[ETH],
        account_ids=[trader.account_index],
        on_order_book_update=books.__setitem__,
        on_account_update=lambda a, msg: accounts.append(msg),
        on_unhandled_message=unhandled.append,
    )
    task = asyncio.create_task(ws.run_async())
    try:
        await eventually(lambda: "0" in books and len(accounts) >= 1)
        bid, ask = await best(api)
        _, _, err = await trader.client.create_order(ETH, 81, 1000, bid + 10, False, 0, 1)  # type: ignore[attr-defined]
        assert err is None
        await eventually(lambda: any(b["price"] == f"{(bid + 10) / 100:.2f}" for b in books["0"]["bids"]))
        _, _, err = await trader.client.create_market_order(ETH, 82, 500, ask + 1000, False)  # type: ignore[attr-defined]
        assert err is None
        await eventually(lambda: any(m.get("trades", {}).get("0") for m in accounts))
        fills = [t for m in accounts for t in m.get("trades", {}).get("0", [])]
        assert [(t["bid_client_id"], t["size"]) for t in fills] == [(82, "0.0500")]
        assert accounts[-1]["positions"]["0"]["position"] == "0.0500"
        # The WsClient's book must still match the REST book at the top.
        rest = await lighter.OrderApi(api).order_book_orders(ETH, 50)
        ws_bids = sorted(books["0"]["bids"], key=lambda lv: -ticks(lv["price"]))
        assert ws_bids[0]["price"] == rest.bids[0].price
        assert not [u for u in unhandled if u.get("type") == "error"]
    finally:
        task.cancel()


async def test_ws_update_nonces_are_continuous(fresh: SimHandle) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(fresh.ws_url) as ws:
        assert (await ws.receive_json())["type"] == "connected"
        await ws.send_json({"type": "subscribe", "channel": "order_book/0"})
        snap = await ws.receive_json()
        assert snap["type"] == "subscribed/order_book" and snap["channel"] == "order_book:0"
        last = snap["order_book"]["nonce"]
        for price in ("3010", "3020"):
            await fresh.admin.set_price(ETH, Decimal(price))
            upd = await asyncio.wait_for(ws.receive_json(), 5)
            assert upd["type"] == "update/order_book"
            assert upd["order_book"]["begin_nonce"] == last
            last = upd["order_book"]["nonce"]
        await ws.send_json({"type": "ping"})
        assert (await asyncio.wait_for(ws.receive_json(), 5))["type"] == "pong"


async def test_fault_http_5xx_and_429(api: lighter.ApiClient, fresh: SimHandle) -> None:
    await fresh.admin.inject_fault("http_5xx", count=1, status=503)
    with pytest.raises(lighter.exceptions.ServiceException):
        await lighter.OrderApi(api).order_books()
    await fresh.admin.inject_fault("http_429", count=1)
    with pytest.raises(lighter.ApiException) as info:
        await lighter.OrderApi(api).order_books()
    assert info.value.status == 429 and "23000" in info.value.body
    assert (await lighter.OrderApi(api).order_books()).code == 200


async def test_fault_latency_delays_the_response(api: lighter.ApiClient, fresh: SimHandle) -> None:
    await fresh.admin.inject_fault("latency", count=1, latency_ms=300)
    start = time.monotonic()
    await lighter.OrderApi(api).order_books()
    assert time.monotonic() - start >= 0.3


async def test_fault_invalid_nonce_then_sdk_recovers(
    trader: Trader, api: lighter.ApiClient, fresh: SimHandle
) -> None:
    bid, _ = await best(api)
    await fresh.admin.inject_fault("invalid_nonce", count=1)
    _, _, err = await trader.client.create_order(ETH, 91, 1000, bid - 1000, False, 0, 1)  # type: ignore[attr-defined]
    assert err is not None and "invalid nonce" in err
    _, _, err = await trader.client.create_order(ETH, 92, 1000, bid - 1000, False, 0, 1)  # type: ignore[attr-defined]
    assert err is None
    assert (await coi_status(api, trader, 92)).status == "open"


async def test_fault_dropped_response_still_creates_the_order(
    trader: Trader, api: lighter.ApiClient, fresh: SimHandle
) -> None:
    bid, _ = await best(api)
    await fresh.admin.inject_fault("drop_response", count=1)
    with pytest.raises(aiohttp.ClientError):
        await trader.client.create_order(ETH, 93, 1000, bid - 1000, False, 0, 1)  # type: ignore[attr-defined]
    assert (await coi_status(api, trader, 93)).status == "open"


async def test_fault_rejected_orders(trader: Trader, api: lighter.ApiClient, fresh: SimHandle) -> None:
    bid, _ = await best(api)
    await fresh.admin.inject_fault("reject_orders", count=1)
    _, _, err = await trader.client.create_order(ETH, 94, 1000, bid - 1000, False, 0, 1)  # type: ignore[attr-defined]
    assert err is not None and "21739" in err
    _, _, err = await trader.client.create_order(ETH, 95, 1000, bid - 1000, False, 0, 1)  # type: ignore[attr-defined]
    assert err is None


async def test_fault_forced_partial_fill(trader: Trader, api: lighter.ApiClient, fresh: SimHandle) -> None:
    _, ask = await best(api)
    await fresh.admin.inject_fault("partial_fill", count=1, ratio=0.5)
    _, _, err = await trader.client.create_market_order(ETH, 96, 1000, ask + 1000, False)  # type: ignore[attr-defined]
    assert err is None
    order = await coi_status(api, trader, 96)
    assert (order.status, order.filled_base_amount) == ("canceled", "0.0500")


async def test_fault_ws_drop_closes_streams(fresh: SimHandle) -> None:
    connected = asyncio.Event()
    ws = lighter.WsClient(
        ws_url=fresh.ws_url,
        order_book_ids=[ETH],
        on_order_book_update=lambda m, s: connected.set(),
        on_account_update=print,
    )
    task = asyncio.create_task(ws.run_async())
    await asyncio.wait_for(connected.wait(), 5)
    result = await fresh.admin.inject_fault("ws_drop", seconds=0)
    assert result["dropped"] >= 1
    await asyncio.wait_for(task, 5)  # run_async returns when the server closes the socket


async def test_clearing_the_faults_ends_a_ws_drop_refusal(fresh: SimHandle) -> None:
    await fresh.admin.inject_fault("ws_drop", seconds=300)
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(fresh.ws_url) as ws:
            refused = await ws.receive()
        assert refused.type is aiohttp.WSMsgType.CLOSE and refused.data == 1013
        await fresh.admin.clear_faults()
        async with http.ws_connect(fresh.ws_url) as ws:
            assert (await ws.receive_json())["type"] == "connected"
