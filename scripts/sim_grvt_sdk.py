"""Acceptance check: the unmodified grvt-pysdk trades against a running sim's GRVT face.

Two accounts meet inside the spread through the SDK only: the ccxt-like clients (sync and
async), the raw clients (sync and async, typed responses) and the websocket client (its
order and fill streams, and an order sent over JSON-RPC). The SDK is pointed at the sim by
replacing its host lookups at runtime (grvt-api.md §3); no installed file changes. Starts
nothing: ``python scripts/sim_grvt_sdk.py --url http://127.0.0.1:8787``. Exits 1 on a problem.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import sys
import time
import urllib.request
from collections.abc import Callable
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
WS_WAIT_S = 30.0


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


def new_trader(url: str, name: str) -> Trader:
    signer = Account.create()
    api_key = f"{name}-{signer.address[2:10]}"
    body = {"collateral": "50000", "grvt_api_keys": [{"api_key": api_key, "signer": signer.address}]}
    index = admin(url, "/_sim/accounts", body)["account_index"]
    return Trader(str(index), api_key, signer.key.hex())


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> None:
        (self.lines if ok else self.problems).append(what)


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


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WS_WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


def contiguous(messages: list[dict[str, Any]]) -> bool:
    numbers = [int(m["sequence_number"]) for m in messages]
    prevs = [int(m["prev_sequence_number"]) for m in messages]
    return all(prev == last for prev, last in zip(prevs[1:], numbers, strict=False))


async def websocket_round(maker: Trader, taker: Trader, report: Report) -> None:
    """The WS client hears its order and fill streams; its order goes over JSON-RPC."""
    loop = asyncio.get_running_loop()
    client = GrvtCcxtWS(GrvtEnv.TESTNET, loop, parameters=maker.params())
    heard: dict[str, list[dict[str, Any]]] = {"v1.order": [], "v1.fill": []}

    async def on_message(message: dict[str, Any]) -> None:
        heard[message["stream"]].append(message)

    await client.initialize()
    await client.subscribe("order", on_message, GrvtWSEndpointType.TRADE_DATA_RPC_FULL)
    await client.subscribe("fill", on_message, GrvtWSEndpointType.TRADE_DATA)
    await until(lambda: client.is_stream_subscribed(GrvtWSEndpointType.TRADE_DATA, "fill"), "fill subscribed")
    await until(
        lambda: client.is_stream_subscribed(GrvtWSEndpointType.TRADE_DATA_RPC_FULL, "order"),
        "order subscribed",
    )
    price = inside_spread(await client.fetch_order_book(ETH, 10))
    await client.rpc_create_order(
        ETH, "limit", "sell", SIZE, price, {"post_only": True, "client_order_id": 3001}
    )
    await until(lambda: bool(heard["v1.order"]), "the order stream")
    taker_client = GrvtCcxtPro(GrvtEnv.TESTNET, parameters=taker.params())
    await taker_client.load_markets()
    await taker_client.create_order(ETH, "market", "buy", SIZE, None, {"client_order_id": 3002})
    await taker_client._session.close()
    await until(lambda: bool(heard["v1.fill"]), "the fill stream")
    fill = heard["v1.fill"][0]["feed"]
    report.check((fill["size"], fill["is_taker"]) == (SIZE, False), "ws: the maker's fill arrived on v1.fill")
    await until(
        lambda: "FILLED" in [m["feed"]["state"]["status"] for m in heard["v1.order"]], "FILLED on v1.order"
    )
    states = [m["feed"]["state"]["status"] for m in heard["v1.order"]]
    report.check(states[0] == "OPEN" and states[-1] == "FILLED", f"ws: v1.order went {states}")
    report.check(contiguous(heard["v1.order"]), "ws: v1.order's sequence numbers are contiguous")
    for kind in client.endpoint_types:
        await client._close_connection(kind)
    await client._session.close()


async def run(url: str) -> Report:
    point_sdk_at(url)
    report = Report()
    maker, taker = new_trader(url, "maker"), new_trader(url, "taker")
    price = await asyncio.to_thread(ccxt_sync_maker, maker, report)
    await ccxt_async_taker(taker, price, report)
    await asyncio.to_thread(raw_sync_maker, maker, report)
    await raw_async_taker(taker, report)
    await websocket_round(new_trader(url, "ws-maker"), new_trader(url, "ws-taker"), report)
    await _stop_sdk_tasks()
    return report


async def _stop_sdk_tasks() -> None:
    """The WS client's readers run forever; end them while the loop runs so the SDK's
    ``__del__`` (which needs a running loop) finds one."""
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
    gc.collect()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8787")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the SDK logs every call at INFO
    report = asyncio.run(run(args.url))
    for line in report.lines:
        print(f"ok: {line}")
    for problem in report.problems:
        print(f"PROBLEM: {problem}")
    if report.problems:
        return 1
    print("OK: the unmodified grvt-pysdk traded against the sim")
    return 0


if __name__ == "__main__":
    sys.exit(main())
