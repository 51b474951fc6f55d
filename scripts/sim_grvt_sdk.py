"""Acceptance check: the unmodified grvt-pysdk trades against a running sim's GRVT face.

Two accounts meet inside the spread through the SDK only: the ccxt-like clients (sync and
async), the raw clients (sync and async, typed responses) and the websocket client (its
order and fill streams, and an order sent over JSON-RPC). Then every market-data call the SDK
makes (instrument, ticker, mini, trade, trade_history, kline, funding) is held to what the sim
itself says (``GET /_sim/state``, read before and after so that a moving sim is read again; the
funding step sets a 1 s funding interval and puts the old one back), and the cancel-on-disconnect
switch is armed and fires. The SDK is pointed at the sim by replacing its
host lookups at runtime (grvt-api.md §3); no installed file changes. Starts nothing:
``python scripts/sim_grvt_sdk.py --url http://127.0.0.1:8787``. Exits 1 on a problem.

Every step and check prints a line as it happens (flushed), and every wait has its own deadline
and fails naming its step; a watchdog ends a run that outlives ``RUN_S`` whatever it waits on,
with the step it was in and every thread's stack. A stuck run therefore shows how far it got.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import gc
import itertools
import json
import logging
import os
import sys
import threading
import time
import traceback
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

# The SDK reads the cookie's GMT Expires as local time (grvt-api.md §4): run it in UTC.
os.environ["TZ"] = "UTC"
time.tzset()

from eth_account import Account  # noqa: E402
from pysdk import grvt_ccxt_env, grvt_ccxt_ws, grvt_raw_base, grvt_raw_signing  # noqa: E402
from pysdk import grvt_raw_types as types  # noqa: E402
from pysdk.grvt_ccxt import GrvtCcxt  # noqa: E402
from pysdk.grvt_ccxt_env import GrvtEndpointType, GrvtEnv, GrvtWSEndpointType  # noqa: E402
from pysdk.grvt_ccxt_pro import GrvtCcxtPro  # noqa: E402
from pysdk.grvt_ccxt_ws import GrvtCcxtWS  # noqa: E402
from pysdk.grvt_raw_async import GrvtRawAsync  # noqa: E402
from pysdk.grvt_raw_base import GrvtApiConfig, GrvtError  # noqa: E402
from pysdk.grvt_raw_env import GrvtEndpointConfig, GrvtEnvConfig  # noqa: E402
from pysdk.grvt_raw_env import GrvtEnv as RawEnv  # noqa: E402
from pysdk.grvt_raw_sync import GrvtRawSync  # noqa: E402

ETH = "ETH_USDT_Perp"
SIZE = "0.1000"
# A step makes a few SDK calls, each bounded by the SDK's own 5 s timeout; here one takes ms.
STEP_S = 15.0
# One websocket event. The SDK's readers look at a socket that is not open yet every 2 s, so a
# subscription's answer can take that long to be read; an order's or fill's news takes 50 ms.
WS_WAIT_S = 15.0
# The whole run takes about 6 s; the test's subprocess timeout is above this.
RUN_S = 60.0
MINUTE_NS = 60 * 10**9
# Reads of the sim's state around an SDK read: a sim whose prices walk (or where others trade)
# may move in between, and the pair is read again up to this many times.
STEADY_TRIES = 5


def point_sdk_at(url: str) -> None:
    """Every SDK client's hosts -> the sim's ``/grvt/{edge,td,md}`` (grvt-api.md §3)."""
    base, ws = url.rstrip("/") + "/grvt", url.rstrip("/").replace("http", "ws", 1) + "/grvt"
    domains = {
        GrvtEndpointType.EDGE: f"{base}/edge",
        GrvtEndpointType.TRADE_DATA: f"{base}/td",
        GrvtEndpointType.MARKET_DATA: f"{base}/md",
    }
    sockets = {
        GrvtWSEndpointType.TRADE_DATA: f"{ws}/td/ws",
        GrvtWSEndpointType.MARKET_DATA: f"{ws}/md/ws",
        GrvtWSEndpointType.TRADE_DATA_RPC_FULL: f"{ws}/td/ws/full",
        GrvtWSEndpointType.MARKET_DATA_RPC_FULL: f"{ws}/md/ws/full",
    }

    def env_config(env: RawEnv) -> GrvtEnvConfig:
        return GrvtEnvConfig(
            edge=GrvtEndpointConfig(f"{base}/edge", None),
            trade_data=GrvtEndpointConfig(f"{base}/td", f"{ws}/td/ws"),
            market_data=GrvtEndpointConfig(f"{base}/md", f"{ws}/md/ws"),
            chain_id=grvt_raw_signing.CHAIN_IDS[env],
        )

    grvt_ccxt_env.get_grvt_endpoint_domains = lambda env_name: domains
    grvt_ccxt_ws.get_grvt_ws_endpoint = lambda env_name, kind: sockets[kind]
    grvt_raw_base.get_env_config = env_config


def admin(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        data: dict[str, Any] = json.load(resp)
        return data


@dataclass
class Trader:
    sub_account_id: str
    api_key: str
    private_key: str

    def params(self) -> dict[str, str]:
        return {
            "api_key": self.api_key,
            "trading_account_id": self.sub_account_id,
            "private_key": self.private_key,
        }

    def raw_config(self) -> GrvtApiConfig:
        return GrvtApiConfig(RawEnv.TESTNET, self.sub_account_id, self.private_key, self.api_key, None)


def sim_eth(url: str) -> dict[str, Any]:
    """What the sim itself says of ETH (``GET /_sim/state``: the engine, through no GRVT code):
    its mark, best bid and ask, and its trades newest first."""
    with urllib.request.urlopen(url + "/_sim/state", timeout=10) as resp:
        state = json.load(resp)
    market_id, market = next((int(k), m) for k, m in state["markets"].items() if m["symbol"] == "ETH")
    bids, asks = market["book"]["bids"], market["book"]["asks"]
    return {
        "mark": market["mark"],
        "bid": (bids[0]["price"], bids[0]["size"]),
        "ask": (asks[0]["price"], asks[0]["size"]),
        "trades": [t for t in reversed(state["trades"]) if t["market_id"] == market_id],
    }


def new_trader(url: str, name: str) -> Trader:
    signer = Account.create()
    api_key = f"{name}-{signer.address[2:10]}"
    body = {"collateral": "50000", "grvt_api_keys": [{"api_key": api_key, "signer": signer.address}]}
    index = admin(url, "/_sim/accounts", body)["account_index"]
    return Trader(str(index), api_key, signer.key.hex())


class Stuck(Exception):
    """A step or a wait passed its deadline (already reported, naming it)."""


@dataclass
class Report:
    """Prints each step and check as it happens, flushed: a run killed from outside still
    shows how far it got. ``current`` is the step under way, for the watchdog."""

    problems: list[str] = field(default_factory=list)
    current: str = "starting"
    start: float = field(default_factory=time.monotonic)

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.start:5.1f}s] {text}", flush=True)

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.problems.append(what)
        self.say(f"{'ok' if ok else 'PROBLEM'}: {what}")

    def stuck(self, what: str) -> Stuck:
        """Reported at once: a teardown that fails after it must not hide it."""
        self.check(False, what)
        return Stuck(what)

    @asynccontextmanager
    async def step(self, what: str, seconds: float = STEP_S) -> AsyncIterator[None]:
        self.current = what
        self.say(f"{what} ...")
        began = time.monotonic()
        try:
            async with asyncio.timeout(seconds) as deadline:
                yield
        except TimeoutError as exc:
            if deadline.expired():
                raise self.stuck(f"{what}: not done within {seconds:.0f} s") from exc
            raise
        self.say(f"{what}: done in {time.monotonic() - began:.2f} s")


async def until(report: Report, what: str, condition: Callable[[], bool]) -> None:
    """Waits for what a websocket callback records, with its own deadline."""
    report.current = what
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > WS_WAIT_S:
            raise report.stuck(f"{what}: not within {WS_WAIT_S:.0f} s")
        await asyncio.sleep(0.02)
    report.say(f"{what}: after {time.monotonic() - began:.2f} s")


def watchdog(report: Report) -> None:
    """Ends a run that outlives RUN_S whatever holds it (a cancellation a library swallowed, a
    thread, the interpreter's exit): the step it was in, then every thread's stack."""
    time.sleep(RUN_S)
    report.say(f"PROBLEM: still running after {RUN_S:.0f} s, in: {report.current}")
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    sys.stderr.flush()
    os._exit(1)


def inside_spread(book: dict[str, Any]) -> str:
    bid, ask = Decimal(book["bids"][0]["price"]), Decimal(book["asks"][0]["price"])
    return str(((bid + ask) / 2).quantize(Decimal("0.01")))


def ccxt_sync_maker(maker: Trader, report: Report) -> str:
    """The sync ccxt-like client rests a post-only ask inside the spread; returns its price."""
    client = GrvtCcxt(GrvtEnv.TESTNET, parameters=maker.params())
    price = inside_spread(client.fetch_order_book(ETH, 10))
    ack = client.create_order(ETH, "limit", "sell", SIZE, price, {"post_only": True, "client_order_id": 1001})
    report.check(
        ack.get("state", {}).get("status") == "PENDING", f"ccxt sync: post-only ask acked at {price}"
    )
    found = client.fetch_order(params={"client_order_id": 1001}).get("result", {})
    report.check(found.get("state", {}).get("status") == "OPEN", "ccxt sync: the ask rests (OPEN)")
    return price


async def ccxt_async_taker(taker: Trader, price: str, report: Report) -> None:
    client = GrvtCcxtPro(GrvtEnv.TESTNET, parameters=taker.params())
    try:
        await client.load_markets()
        params = {"time_in_force": "IMMEDIATE_OR_CANCEL", "client_order_id": 2001}
        await client.create_order(ETH, "limit", "buy", SIZE, price, params)
        trades = (await client.fetch_my_trades(ETH))["result"]
        report.check(
            [(t["size"], t["price"], t["is_taker"]) for t in trades] == [(SIZE, price, True)],
            "ccxt async: the IOC bid took the ask",
        )
        sizes = [p["size"] for p in await client.fetch_positions([ETH])]
        report.check(sizes == [SIZE], f"ccxt async: long {SIZE}")
    finally:
        await client._session.close()


def raw_sync_maker(maker: Trader, report: Report) -> None:
    raw = GrvtRawSync(maker.raw_config())
    got = raw.get_order_v1(types.ApiGetOrderRequest(maker.sub_account_id, client_order_id="1001"))
    filled = not isinstance(got, GrvtError) and got.result.state is not None
    report.check(filled and got.result.state.status == types.OrderStatus.FILLED, "raw sync: the ask FILLED")  # type: ignore[union-attr]
    positions = raw.positions_v1(types.ApiPositionsRequest(maker.sub_account_id))
    report.check(
        not isinstance(positions, GrvtError) and [p.size for p in positions.result] == [f"-{SIZE}"],
        f"raw sync: short {SIZE}",
    )
    instruments = raw.get_all_instruments_v1(types.ApiGetAllInstrumentsRequest(is_active=True))
    assert not isinstance(instruments, GrvtError), instruments
    by_name = {i.instrument: i for i in instruments.result}
    order = raw_order(maker, by_name, client_order_id="1002", price="100.00")
    created = raw.create_order_v1(types.ApiCreateOrderRequest(order))
    report.check(not isinstance(created, GrvtError), f"raw sync: a signed GTT bid accepted ({created!r:.80})")
    again = raw.create_order_v1(types.ApiCreateOrderRequest(order))
    report.check(
        isinstance(again, GrvtError) and again.code == 2012, "raw sync: a resend while active is 2012"
    )
    ack = raw.cancel_order_v1(types.ApiCancelOrderRequest(maker.sub_account_id, client_order_id="1002"))
    report.check(not isinstance(ack, GrvtError) and ack.result.ack, "raw sync: cancelled by client_order_id")
    opened = raw.open_orders_v1(types.ApiOpenOrdersRequest(maker.sub_account_id))
    report.check(not isinstance(opened, GrvtError) and opened.result == [], "raw sync: nothing left open")


def raw_order(
    trader: Trader, instruments: dict[str, Any], *, client_order_id: str, price: str
) -> types.Order:
    order = types.Order(
        sub_account_id=trader.sub_account_id,
        time_in_force=types.TimeInForce.GOOD_TILL_TIME,
        legs=[types.OrderLeg(instrument=ETH, size=SIZE, is_buying_asset=True, limit_price=price)],
        signature=types.Signature(
            signer="",
            r="",
            s="",
            v=0,
            expiration=str(time.time_ns() + 3600 * 10**9),
            nonce=int.from_bytes(os.urandom(4)),
        ),
        metadata=types.OrderMetadata(client_order_id=client_order_id),
    )
    config = trader.raw_config()
    return grvt_raw_signing.sign_order(order, config, Account.from_key(trader.private_key), instruments)


async def raw_async_taker(taker: Trader, report: Report) -> None:
    raw = GrvtRawAsync(taker.raw_config())
    try:
        summary = await raw.sub_account_summary_v1(types.ApiSubAccountSummaryRequest(taker.sub_account_id))
        report.check(
            not isinstance(summary, GrvtError) and len(summary.result.positions) == 1,
            "raw async: the account summary shows one position",
        )
        fills = await raw.fill_history_v1(types.ApiFillHistoryRequest(taker.sub_account_id))
        report.check(not isinstance(fills, GrvtError) and len(fills.result) == 1, "raw async: one fill")
    finally:
        await raw._session.close()


def steady(url: str, report: Report, what: str, read: Callable[[], Any]) -> tuple[dict[str, Any], Any]:
    """The sim's ETH and an SDK read made while it did not move."""
    for _ in range(STEADY_TRIES):
        before, got, after = sim_eth(url), read(), sim_eth(url)
        if before == after:
            return before, got
    raise report.stuck(f"{what}: the sim's ETH moved during each of {STEADY_TRIES} reads")


def fine(resp: Any) -> Any:
    """A raw response that is not an error (the raw client returns errors, it does not raise)."""
    assert not isinstance(resp, GrvtError), resp
    return resp


def market_data(url: str, trader: Trader, report: Report) -> None:
    """instrument, ticker, mini, trade and trade_history against the sim's ETH."""
    raw, ccxt = GrvtRawSync(trader.raw_config()), GrvtCcxt(GrvtEnv.TESTNET, parameters=trader.params())
    listed = fine(raw.get_all_instruments_v1(types.ApiGetAllInstrumentsRequest(is_active=True))).result
    one = fine(raw.get_instrument_v1(types.ApiGetInstrumentRequest(ETH))).result
    report.check(one in listed and one.instrument == ETH, "raw: instrument ETH is the listed one")
    hashed = ccxt.fetch_market(ETH).get("instrument_hash")
    report.check(hashed == one.instrument_hash, f"ccxt: fetch_market ETH hashes {hashed}")
    nope = raw.get_instrument_v1(types.ApiGetInstrumentRequest("NOPE_USDT_Perp"))
    report.check(isinstance(nope, GrvtError) and nope.code == 3000, "raw: an unknown instrument is 3000")

    def tickers() -> tuple[types.Ticker, types.MiniTicker]:
        ticker = fine(raw.ticker_v1(types.ApiTickerRequest(ETH))).result
        return ticker, fine(raw.mini_ticker_v1(types.ApiMiniTickerRequest(ETH))).result

    sim, (ticker, mini) = steady(url, report, "ticker", tickers)
    bid, ask = (ticker.best_bid_price, ticker.best_bid_size), (ticker.best_ask_price, ticker.best_ask_size)
    report.check(
        (ticker.mark_price, bid, ask, ticker.last_price)
        == (sim["mark"], sim["bid"], sim["ask"], sim["trades"][0]["price"]),
        f"raw: ticker shows the sim's mark {sim['mark']}, best bid {bid}, best ask {ask}, last trade",
    )
    fields = [f for f in vars(mini) if f != "event_time"]
    report.check(
        [getattr(mini, f) for f in fields] == [getattr(ticker, f) for f in fields], "raw: mini = ticker's"
    )
    sim, recent = steady(url, report, "trade", lambda: fine(raw.trade_v1(types.ApiTradeRequest(ETH, 50))))
    want = [(f"{t['trade_id']}-1", t["price"], t["size"]) for t in sim["trades"]]
    report.check(
        [(t.trade_id, t.price, t.size) for t in recent.result] == want[:50],
        f"raw: trade lists the sim's {len(want[:50])} latest ETH trades",
    )
    sim, pages = steady(url, report, "trade_history", lambda: trade_pages(raw, 3))
    report.check(
        [(t.trade_id, t.price, t.size) for t in pages] == want[: len(pages)]
        and len(pages) == min(3, len(want)),
        f"raw: trade_history pages of one trade walk the sim's latest {len(pages)}",
    )


def trade_pages(raw: GrvtRawSync, count: int) -> list[types.Trade]:
    """The latest ``count`` trades, one page (of one trade) at a time."""
    got: list[types.Trade] = []
    cursor: str | None = None
    while len(got) < count:
        page = fine(raw.trade_history_v1(types.ApiTradeHistoryRequest(ETH, limit=1, cursor=cursor)))
        got += page.result
        cursor = page.next
        if not cursor:
            break
    return got


def minute_candles(trades: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """1-minute candles of the sim's trades (newest first), as (open_time, o, h, l, c, volumes, n)."""
    minutes: dict[int, list[dict[str, Any]]] = {}
    for t in trades:
        minutes.setdefault(t["timestamp"] * 10**6 // MINUTE_NS * MINUTE_NS, []).append(t)
    out = []
    for start, ts in minutes.items():
        prices = [Decimal(t["price"]) for t in ts]
        volume = sum(Decimal(t["size"]) for t in ts)
        notional = sum(Decimal(t["size"]) * Decimal(t["price"]) for t in ts)
        out.append((str(start), prices[-1], max(prices), min(prices), prices[0], volume, notional, len(ts)))
    return out


def candle_row(c: Any) -> tuple[Any, ...]:
    get = c.get if isinstance(c, dict) else lambda k: getattr(c, k)
    prices = [Decimal(get(k)) for k in ("open", "high", "low", "close")]
    return (get("open_time"), *prices, Decimal(get("volume_b")), Decimal(get("volume_q")), get("trades"))


def klines(url: str, trader: Trader, report: Report) -> None:
    """kline: trade candles rebuilt from the sim's trades, mark candles ending at its mark."""
    raw, ccxt = GrvtRawSync(trader.raw_config()), GrvtCcxt(GrvtEnv.TESTNET, parameters=trader.params())
    minute = types.CandlestickInterval.CI_1_M

    def both() -> tuple[list[types.Candlestick], dict[str, Any]]:
        req = types.ApiCandlestickRequest(ETH, minute, types.CandlestickType.TRADE, limit=1000)
        trade = fine(raw.candlestick_v1(req)).result
        return trade, ccxt.fetch_ohlcv(ETH, "1m", limit=1, params={"candle_type": "MARK"})

    sim, (trade, mark) = steady(url, report, "kline", both)
    want = minute_candles(sim["trades"])[:1000]
    report.check(
        [candle_row(c) for c in trade] == want
        and all(int(c.close_time) - int(c.open_time) == MINUTE_NS for c in trade),
        f"raw: kline TRADE = the sim's trades in {len(want)} one-minute candle(s)",
    )
    newest = mark["result"][0]
    _, _, high, low, close, *_ = candle_row(newest)
    volumes = {c[0]: c[5] for c in want}
    report.check(
        close == Decimal(sim["mark"])
        and low <= close <= high
        and Decimal(newest["volume_b"]) == volumes.get(newest["open_time"], 0),
        f"ccxt: fetch_ohlcv MARK closes at the sim's mark {sim['mark']}, with the minute's volume",
    )
    if mark["next"]:  # the sim has been up for more than this minute: the cursor goes on
        older = ccxt.fetch_ohlcv(ETH, params={"cursor": mark["next"]})["result"]
        report.check(
            int(older[0]["open_time"]) == int(newest["open_time"]) - MINUTE_NS,
            "ccxt: fetch_ohlcv's cursor (sent alone) continues with the minute before",
        )


def funding(url: str, trader: Trader, report: Report) -> None:
    """funding: with a 1 s interval (restored after), zero rates at each second with the mark."""
    raw, ccxt = GrvtRawSync(trader.raw_config()), GrvtCcxt(GrvtEnv.TESTNET, parameters=trader.params())
    before = admin(url, "/_sim/grvt/config", {})["funding_interval_s"]
    admin(url, "/_sim/grvt/config", {"funding_interval_s": 1})
    try:
        req = types.ApiFundingRateRequest(ETH, limit=3)
        deadline = time.monotonic() + STEP_S
        while len(rates := fine(raw.funding_rate_v1(req)).result) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        first = ccxt.fetch_funding_rate_history(ETH, limit=1)
        second = ccxt.fetch_funding_rate_history(ETH, params={"cursor": first["next"]})
    finally:
        admin(url, "/_sim/grvt/config", {"funding_interval_s": before})
    applied = fine(raw.ticker_v1(types.ApiTickerRequest(ETH))).result.funding_rate_8h_curr
    times = [int(r.funding_time) for r in rates]
    report.check(
        len(rates) == 3
        and all(r.funding_rate == applied for r in rates)
        and all(t % 10**9 == 0 for t in times)
        and all(a - b == 10**9 for a, b in itertools.pairwise(times)),
        f"raw: funding lists the rate the sim applies ({applied}, as its ticker) at each of 3 seconds",
    )
    marks = types.ApiCandlestickRequest(ETH, types.CandlestickInterval.CI_1_M, types.CandlestickType.MARK)
    ranges = {
        int(c.open_time): (Decimal(c.low), Decimal(c.high)) for c in fine(raw.candlestick_v1(marks)).result
    }
    within = [ranges[t // MINUTE_NS * MINUTE_NS] for t in times]
    report.check(
        all(low <= Decimal(r.mark_price) <= high for (low, high), r in zip(within, rates, strict=True)),
        "raw: each funding time's mark is within (on a still mark: is) its minute's mark candle",
    )
    ft = [int(first["result"][0]["funding_time"]), int(second["result"][0]["funding_time"])]
    report.check(ft[1] == ft[0] - 10**9, "ccxt: fetch_funding_rate_history's cursor goes one second back")


def dead_man_switch(url: str, trader: Trader, report: Report) -> None:
    """cancel_on_disconnect: over 300 s is 6000; armed for 1.5 s (GRVT rounds to 1 s) it cancels."""
    raw = GrvtRawSync(trader.raw_config())
    too_long = raw.cancel_on_disconnect_v1(
        types.ApiCancelOnDisconnectRequest(trader.sub_account_id, "300001")
    )
    report.check(
        isinstance(too_long, GrvtError) and too_long.code == 6000, "raw: a 300.001 s countdown is 6000"
    )
    listed = fine(raw.get_all_instruments_v1(types.ApiGetAllInstrumentsRequest(is_active=True))).result
    order = raw_order(trader, {i.instrument: i for i in listed}, client_order_id="1101", price="100.00")
    fine(raw.create_order_v1(types.ApiCreateOrderRequest(order)))
    began = time.monotonic()
    armed = raw.cancel_on_disconnect_v1(types.ApiCancelOnDisconnectRequest(trader.sub_account_id, "1500"))
    report.check(not isinstance(armed, GrvtError) and armed.result.ack, "raw: armed for 1.5 s")
    lookup = types.ApiGetOrderRequest(trader.sub_account_id, client_order_id="1101")
    while (state := fine(raw.get_order_v1(lookup)).result.state).status == types.OrderStatus.OPEN:
        if time.monotonic() - began > STEP_S:
            break
        time.sleep(0.05)
    took = time.monotonic() - began
    report.check(
        (state.status, state.reject_reason)
        == (types.OrderStatus.CANCELLED, types.OrderRejectReason.CLIENT_CANCEL_ON_DISCONNECT_TRIGGERED)
        and took >= 1.0,
        f"raw: the resting bid ended CANCELLED/CLIENT_CANCEL_ON_DISCONNECT_TRIGGERED after {took:.2f} s",
    )


def contiguous(messages: list[dict[str, Any]]) -> bool:
    numbers = [int(m["sequence_number"]) for m in messages]
    prevs = [int(m["prev_sequence_number"]) for m in messages]
    return all(prev == last for prev, last in zip(prevs[1:], numbers, strict=False))


async def websocket_round(maker: Trader, taker: Trader, report: Report) -> None:
    """The WS client hears its order and fill streams; its order goes over JSON-RPC."""
    heard: dict[str, list[dict[str, Any]]] = {"v1.order": [], "v1.fill": []}

    async def on_message(message: dict[str, Any]) -> None:
        heard.setdefault(message["stream"], []).append(message)

    def subscribed(kind: GrvtWSEndpointType, stream: str) -> Callable[[], bool]:
        return lambda: client.is_stream_subscribed(kind, stream)

    async with ws_client(maker, report) as client:
        async with report.step("ws: subscribe v1.order (JSON-RPC socket) and v1.fill (legacy socket)"):
            await client.subscribe("order", on_message, GrvtWSEndpointType.TRADE_DATA_RPC_FULL)
            await client.subscribe("fill", on_message, GrvtWSEndpointType.TRADE_DATA)
        await until(report, "ws: v1.fill subscribed", subscribed(GrvtWSEndpointType.TRADE_DATA, "fill"))
        await until(
            report, "ws: v1.order subscribed", subscribed(GrvtWSEndpointType.TRADE_DATA_RPC_FULL, "order")
        )
        async with report.step("ws: a post-only ask inside the spread over JSON-RPC"):
            price = inside_spread(await client.fetch_order_book(ETH, 10))
            await client.rpc_create_order(
                ETH, "limit", "sell", SIZE, price, {"post_only": True, "client_order_id": 3001}
            )
        await until(report, "ws: the ask on v1.order", lambda: bool(heard["v1.order"]))
        async with report.step("ws: the taker's market buy (ccxt async)"):
            await market_buy(taker)
        await until(report, "ws: the maker's fill on v1.fill", lambda: bool(heard["v1.fill"]))
        fill = heard["v1.fill"][0]["feed"]
        report.check(
            (fill["size"], fill["is_taker"]) == (SIZE, False), "ws: the maker's fill arrived on v1.fill"
        )
        await until(
            report,
            "ws: FILLED on v1.order",
            lambda: "FILLED" in [m["feed"]["state"]["status"] for m in heard["v1.order"]],
        )
        states = [m["feed"]["state"]["status"] for m in heard["v1.order"]]
        report.check(states[0] == "OPEN" and states[-1] == "FILLED", f"ws: v1.order went {states}")
        report.check(contiguous(heard["v1.order"]), "ws: v1.order's sequence numbers are contiguous")


async def market_buy(taker: Trader) -> None:
    client = GrvtCcxtPro(GrvtEnv.TESTNET, parameters=taker.params())
    try:
        await client.load_markets()
        await client.create_order(ETH, "market", "buy", SIZE, None, {"client_order_id": 3002})
    finally:
        await client._session.close()


@asynccontextmanager
async def ws_client(trader: Trader, report: Report) -> AsyncIterator[GrvtCcxtWS]:
    """The SDK's WS client; on the way out, a failure's too, its own tasks end before its
    sockets close (a reader still running reconnects a socket closed under it)."""
    before = asyncio.all_tasks()
    client = GrvtCcxtWS(GrvtEnv.TESTNET, asyncio.get_running_loop(), parameters=trader.params())
    try:
        async with report.step("ws: log in and load markets (the client connects in the background)"):
            await client.initialize()
        yield client
    finally:
        own = {t for t in asyncio.all_tasks() - before if t.get_coro().__qualname__.startswith("GrvtCcxtWS.")}
        async with report.step(f"ws: stop the client's {len(own)} reader and connector tasks"):
            await stop(own)
        async with report.step("ws: close its sockets and HTTP session"):
            for kind in client.endpoint_types:
                await client._close_connection(kind)
            await client._session.close()


async def stop(tasks: set[asyncio.Task[Any]]) -> None:
    """Cancels until each has ended. Once is not enough: the SDK's reader loop goes on after a
    cancellation that Python 3.11's ``wait_for`` swallowed (it returns a message that arrived in
    the same turn instead), and the connector's ``finally`` sleeps 5 s after one."""
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)


async def run(url: str, report: Report) -> None:
    try:
        await rounds(url, report)
    except Stuck:
        pass  # reported when it happened
    except Exception as exc:
        traceback.print_exc()
        report.check(False, f"{report.current}: {exc!r}")
    gc.collect()  # here, once the error let go of them: the SDK's __del__ needs a running loop
    await asyncio.sleep(0)


async def rounds(url: str, report: Report) -> None:
    point_sdk_at(url)
    async with report.step("accounts: a maker and a taker"):
        maker = await asyncio.to_thread(new_trader, url, "maker")
        taker = await asyncio.to_thread(new_trader, url, "taker")
    async with report.step("ccxt sync: a post-only ask inside the spread"):
        price = await asyncio.to_thread(ccxt_sync_maker, maker, report)
    async with report.step("ccxt async: an IOC bid takes it"):
        await ccxt_async_taker(taker, price, report)
    async with report.step("raw sync: the maker's order, position and a GTT bid"):
        await asyncio.to_thread(raw_sync_maker, maker, report)
    async with report.step("raw async: the taker's summary and fills"):
        await raw_async_taker(taker, report)
    async with report.step("accounts: a websocket maker and taker"):
        ws_maker = await asyncio.to_thread(new_trader, url, "ws-maker")
        ws_taker = await asyncio.to_thread(new_trader, url, "ws-taker")
    await websocket_round(ws_maker, ws_taker, report)
    async with report.step("market data: instrument, ticker, mini, trade, trade_history"):
        await asyncio.to_thread(market_data, url, maker, report)
    async with report.step("market data: kline (trades and marks)"):
        await asyncio.to_thread(klines, url, maker, report)
    async with report.step("market data: funding (1 s funding interval for the step)"):
        await asyncio.to_thread(funding, url, maker, report)
    async with report.step("raw sync: cancel-on-disconnect fires"):
        await asyncio.to_thread(dead_man_switch, url, maker, report)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8787")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the SDK logs every call at INFO
    report = Report()
    threading.Thread(target=watchdog, args=(report,), daemon=True).start()
    asyncio.run(run(args.url, report))
    if report.problems:
        report.say(f"FAILED: {len(report.problems)} problem(s): {report.problems}")
        return 1
    report.say("OK: the unmodified grvt-pysdk traded against the sim")
    return 0


if __name__ == "__main__":
    sys.exit(main())
