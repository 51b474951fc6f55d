"""The unmodified lighter-sdk trading against the simulated venue (a subprocess)."""

from __future__ import annotations

from decimal import Decimal

import lighter
import pytest

from tests.plugins.sim import SimHandle, Trader

ETH = 0
SC = lighter.SignerClient


async def book(api: lighter.ApiClient, market: int = ETH, limit: int = 20) -> lighter.OrderBookOrders:
    return await lighter.OrderApi(api).order_book_orders(market, limit)


def ticks(price: str) -> int:
    return int(price.replace(".", ""))


async def order_by_coi(api: lighter.ApiClient, t: Trader, coi: int) -> lighter.Order:
    resp = await lighter.OrderApi(api).account_orders(t.auth_token(), str(coi), account_index=t.account_index)
    assert resp.orders, f"no order with client index {coi}"
    return resp.orders[0]


async def place(
    t: Trader, coi: int, size: int, price: int, *, ask: bool, tif: int = SC.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME
) -> None:
    _, resp, err = await t.client.create_order(ETH, coi, size, price, ask, SC.ORDER_TYPE_LIMIT, tif)  # type: ignore[attr-defined]
    assert err is None, err
    assert resp.code == 200


async def test_market_lookup_by_symbol_and_details(api: lighter.ApiClient) -> None:
    books = await lighter.OrderApi(api).order_books()
    by_symbol = {b.symbol: b for b in books.order_books}
    assert (
        by_symbol["ETH"].market_id == 0
        and by_symbol["BTC"].market_id == 1
        and by_symbol["SOL"].market_id == 2
    )
    details = await lighter.OrderApi(api).order_book_details(market_id=ETH)
    eth = details.order_book_details[0]
    assert (eth.size_decimals, eth.price_decimals, eth.min_base_amount) == (4, 2, "0.0050")


async def test_book_read_is_sorted_with_exact_decimals(api: lighter.ApiClient) -> None:
    ob = await book(api)
    asks = [ticks(a.price) for a in ob.asks]
    bids = [ticks(b.price) for b in ob.bids]
    assert asks == sorted(asks) and bids == sorted(bids, reverse=True) and bids[0] < asks[0]
    assert all(
        len(a.price.split(".")[1]) == 2 and len(a.remaining_base_amount.split(".")[1]) == 4 for a in ob.asks
    )


async def test_check_client_accepts_registered_key(trader: Trader) -> None:
    assert trader.client.check_client() is None  # type: ignore[attr-defined]


async def test_post_only_limit_rests(trader: Trader, api: lighter.ApiClient) -> None:
    best_bid = ticks((await book(api)).bids[0].price)
    await place(trader, 11, 1000, best_bid - 500, ask=False, tif=SC.ORDER_TIME_IN_FORCE_POST_ONLY)
    active = await lighter.OrderApi(api).account_active_orders(
        trader.auth_token(), trader.account_index, market_id=ETH
    )
    assert [(o.client_order_index, o.status, o.time_in_force) for o in active.orders] == [
        (11, "open", "post-only")
    ]


async def test_post_only_that_would_cross_is_cancelled(trader: Trader, api: lighter.ApiClient) -> None:
    best_ask = ticks((await book(api)).asks[0].price)
    await place(trader, 12, 1000, best_ask, ask=False, tif=SC.ORDER_TIME_IN_FORCE_POST_ONLY)
    order = await order_by_coi(api, trader, 12)
    assert (order.status, order.filled_base_amount) == ("canceled-post-only", "0.0000")


async def test_market_order_fills_across_levels_within_worst_price(
    trader: Trader, api: lighter.ApiClient
) -> None:
    ob = await book(api)
    l1, l2, l3 = (ticks(a.remaining_base_amount) for a in ob.asks[:3])
    worst = ticks(ob.asks[1].price)  # levels 1 and 2 only; level 3 is beyond the bound
    _, _, err = await trader.client.create_market_order(ETH, 13, l1 + l2 + l3, worst, False)  # type: ignore[attr-defined]
    assert err is None
    order = await order_by_coi(api, trader, 13)
    assert order.status == "canceled"
    assert ticks(order.filled_base_amount) == l1 + l2
    trades = await lighter.OrderApi(api).trades(
        "timestamp", 10, authorization=trader.auth_token(), account_index=trader.account_index
    )
    assert sorted(ticks(t.price) for t in trades.trades) == [ticks(ob.asks[0].price), worst]
    assert all(t.bid_client_id == 13 for t in trades.trades)


async def test_limit_order_partially_fills_and_rests_the_rest(trader: Trader, api: lighter.ApiClient) -> None:
    ob = await book(api)
    l1 = ticks(ob.asks[0].remaining_base_amount)
    await place(trader, 14, l1 + 500, ticks(ob.asks[0].price), ask=False)
    order = await order_by_coi(api, trader, 14)
    assert (order.status, ticks(order.filled_base_amount), ticks(order.remaining_base_amount)) == (
        "open",
        l1,
        500,
    )
    account = (await lighter.AccountApi(api).account(by="index", value=str(trader.account_index))).accounts[0]
    pos = account.positions[0]
    assert (pos.sign, ticks(pos.position), pos.avg_entry_price) == (1, l1, ob.asks[0].price)


async def test_cancel_by_client_index_and_by_order_index(trader: Trader, api: lighter.ApiClient) -> None:
    bid = ticks((await book(api)).bids[0].price) - 1000
    await place(trader, 21, 1000, bid, ask=False)
    await place(trader, 22, 1000, bid, ask=False)
    _, _, err = await trader.client.cancel_order(ETH, 21)  # type: ignore[attr-defined]
    assert err is None
    second = await order_by_coi(api, trader, 22)
    _, _, err = await trader.client.cancel_order(ETH, second.order_index)  # type: ignore[attr-defined]
    assert err is None
    assert [(await order_by_coi(api, trader, c)).status for c in (21, 22)] == ["canceled", "canceled"]
    _, _, err = await trader.client.cancel_order(ETH, 21)  # type: ignore[attr-defined]
    assert err is not None and "21600" in err


async def test_cancel_all_scoped_then_unscoped(trader: Trader, api: lighter.ApiClient) -> None:
    bid = ticks((await book(api)).bids[0].price) - 1000
    await place(trader, 31, 1000, bid, ask=False)
    btc_bid = ticks((await book(api, 1)).bids[0].price) - 1000
    _, _, err = await trader.client.create_order(
        1,
        32,
        100,
        btc_bid,
        False,
        SC.ORDER_TYPE_LIMIT,  # type: ignore[attr-defined]
        SC.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME,
    )
    assert err is None
    _, _, err = await trader.client.cancel_all_orders(
        SC.CANCEL_ALL_TIF_IMMEDIATE, 0, cancel_all_market_index=ETH
    )  # type: ignore[attr-defined]
    assert err is None
    active = await lighter.OrderApi(api).account_active_orders(trader.auth_token(), trader.account_index)
    assert [o.client_order_index for o in active.orders] == [32]
    _, _, err = await trader.client.cancel_all_orders(SC.CANCEL_ALL_TIF_IMMEDIATE, 0)  # type: ignore[attr-defined]
    assert err is None
    active = await lighter.OrderApi(api).account_active_orders(trader.auth_token(), trader.account_index)
    assert active.orders == []


async def test_modify_changes_price_and_size(trader: Trader, api: lighter.ApiClient) -> None:
    bid = ticks((await book(api)).bids[0].price) - 1000
    await place(trader, 41, 1000, bid, ask=False)
    _, _, err = await trader.client.modify_order(ETH, 41, 2000, bid - 100)  # type: ignore[attr-defined]
    assert err is None
    order = await order_by_coi(api, trader, 41)
    assert (order.status, ticks(order.price), ticks(order.remaining_base_amount)) == ("open", bid - 100, 2000)


async def test_batch_of_creates_and_cancel(trader: Trader, api: lighter.ApiClient, fresh: SimHandle) -> None:
    bid = ticks((await book(api)).bids[0].price) - 1000
    c = trader.client
    nonce = (await lighter.TransactionApi(api).next_nonce(trader.account_index, trader.api_key_index)).nonce
    k = trader.api_key_index
    t1, i1, _, e1 = c.sign_create_order(ETH, 51, 1000, bid, 0, 0, 1, nonce=nonce, api_key_index=k)  # type: ignore[attr-defined]
    t2, i2, _, e2 = c.sign_create_order(ETH, 52, 1000, bid, 0, 0, 1, nonce=nonce + 1, api_key_index=k)  # type: ignore[attr-defined]
    t3, i3, _, e3 = c.sign_cancel_order(ETH, 51, nonce=nonce + 2, api_key_index=k)  # type: ignore[attr-defined]
    assert e1 is e2 is e3 is None
    resp = await c.send_tx_batch([t1, t2, t3], [i1, i2, i3])  # type: ignore[attr-defined]
    assert resp.code == 200 and len(resp.tx_hash) == 3 and all(len(h) == 80 for h in resp.tx_hash)
    active = await lighter.OrderApi(api).account_active_orders(trader.auth_token(), trader.account_index)
    assert [o.client_order_index for o in active.orders] == [52]
    after = await lighter.TransactionApi(api).next_nonce(trader.account_index, k)
    assert after.nonce == nonce + 3


async def test_invalid_nonce_then_sdk_resyncs(trader: Trader, api: lighter.ApiClient) -> None:
    bid = ticks((await book(api)).bids[0].price) - 1000
    await place(trader, 61, 1000, bid, ask=False)  # SDK now tracks the nonce optimistically
    # Another process uses the same key behind the SDK's back.
    nonce = (await lighter.TransactionApi(api).next_nonce(trader.account_index, trader.api_key_index)).nonce
    tx_type, info, _, _ = trader.client.sign_cancel_order(
        ETH, 61, nonce=nonce, api_key_index=trader.api_key_index
    )  # type: ignore[attr-defined]
    await lighter.TransactionApi(api).send_tx(tx_type, info)
    _, _, err = await trader.client.create_order(ETH, 62, 1000, bid, False, 0, 1)  # type: ignore[attr-defined]
    assert err is not None and "invalid nonce" in err and "21104" in err
    await place(trader, 63, 1000, bid, ask=False)  # the SDK hard-refreshed its nonce
    assert (await order_by_coi(api, trader, 63)).status == "open"


async def test_rate_limit_answers_429_with_code_23000(
    trader: Trader, api: lighter.ApiClient, fresh: SimHandle
) -> None:
    await fresh.admin.set_rate_limit(600)  # two 300-weight reads per minute
    try:
        acc = lighter.AccountApi(api)
        await acc.account(by="index", value=str(trader.account_index))
        await acc.account(by="index", value=str(trader.account_index))
        with pytest.raises(lighter.ApiException) as info:
            await acc.account(by="index", value=str(trader.account_index))
        assert info.value.status == 429
        assert '"code":23000' in info.value.body.replace(" ", "") and "Too Many Requests!" in info.value.body
    finally:
        await fresh.admin.set_rate_limit(None)


async def test_private_read_without_token_is_refused(trader: Trader, api: lighter.ApiClient) -> None:
    with pytest.raises(lighter.exceptions.BadRequestException):
        await lighter.OrderApi(api).account_active_orders("", trader.account_index)
    other = await new_trader_like(trader)
    with pytest.raises(lighter.exceptions.BadRequestException):
        await lighter.OrderApi(api).account_active_orders(other, trader.account_index)


async def new_trader_like(t: Trader) -> str:
    """A well-formed token for a different account."""
    return f"{int(__import__('time').time()) + 600}:{t.account_index + 999}:{t.api_key_index}:" + "ab" * 80


async def test_resting_order_fills_when_price_moves_through_it(
    trader: Trader, api: lighter.ApiClient, fresh: SimHandle
) -> None:
    await place(trader, 71, 1000, ticks("2950.00"), ask=False)
    await fresh.admin.set_price(ETH, Decimal("2900"))
    order = await order_by_coi(api, trader, 71)
    assert (order.status, order.filled_base_amount) == ("filled", "0.1000")
    account = (await lighter.AccountApi(api).account(by="index", value=str(trader.account_index))).accounts[0]
    assert account.positions[0].avg_entry_price == "2950.00"
    assert account.positions[0].unrealized_pnl == "-5.000000"
