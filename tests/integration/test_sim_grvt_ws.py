"""The sim's GRVT websockets: selectors echoed, sequence numbers, gaps, cookie auth and expiry,
JSON-RPC orders on ``/ws/full``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from tests.integration.test_sim_grvt import GrvtClient, admin_post, new_client
from tests.plugins.sim import SimHandle

ETH = "ETH_USDT_Perp"
RECV_S = 10.0
Json = dict[str, Any]


def ws_url(sim: SimHandle, path: str) -> str:
    return sim.url.replace("http", "ws", 1) + f"/grvt/{path}"


async def recv(ws: aiohttp.ClientWebSocketResponse) -> Json:
    msg = await ws.receive(timeout=RECV_S)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    data: Json = json.loads(msg.data)
    return data


async def feeds(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[Json]:
    out = []
    while len(out) < count:
        msg = await recv(ws)
        if "feed" in msg:
            out.append(msg)
    return out


async def answer(ws: aiohttp.ClientWebSocketResponse) -> Json:
    """The next message that is not a feed's (those of a live subscription may come first)."""
    while "feed" in (msg := await recv(ws)):
        pass
    return msg


async def closing(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    """The close frame, past whatever the server sent before it."""
    while True:
        msg = await ws.receive(timeout=RECV_S)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return msg


@pytest.fixture
async def http(fresh: SimHandle) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(trust_env=False) as session:
        yield session


@pytest.fixture
async def client(fresh: SimHandle, http: aiohttp.ClientSession) -> GrvtClient:
    return await new_client(fresh, http)


async def subscribe_book(sim: SimHandle, http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(ws_url(sim, "md/ws"))
    await ws.send_json(
        {"request_id": 1, "stream": "v1.book.d", "feed": [f"{ETH}@100"], "method": "subscribe"}
    )
    reply = await recv(ws)
    assert reply["request_id"] == 1 and reply["subs"] == [f"{ETH}@100"] and "feed" not in reply
    assert reply["num_snapshots"] == [1] and reply["first_sequence_number"] == ["0"]
    return ws


async def price_moves(sim: SimHandle, ws: aiohttp.ClientWebSocketResponse, moves: int) -> list[Json]:
    """The book message after each of ``moves`` price moves (the publisher batches a tick's moves)."""
    out = []
    for i in range(moves):
        await sim.admin.set_price(0, Decimal(3000 + 5 * (i + 1)))
        out += await feeds(ws, 1)
    return out


async def test_book_deltas_echo_the_selector_and_number_contiguously(
    fresh: SimHandle, http: aiohttp.ClientSession
) -> None:
    ws = await subscribe_book(fresh, http)
    snapshot = (await feeds(ws, 1))[0]
    assert (snapshot["selector"], snapshot["sequence_number"]) == (f"{ETH}@100", "0")
    assert snapshot["feed"]["bids"] and snapshot["feed"]["asks"]
    deltas = await price_moves(fresh, ws, 3)
    numbers = [int(m["sequence_number"]) for m in deltas]
    assert numbers == [1, 2, 3] and [int(m["prev_sequence_number"]) for m in deltas] == [0, 1, 2]
    assert any(level["size"] == "0" for m in deltas for level in m["feed"]["bids"] + m["feed"]["asks"])
    await ws.close()


async def test_sequence_gap_fault_skips_a_number(fresh: SimHandle, http: aiohttp.ClientSession) -> None:
    ws = await subscribe_book(fresh, http)
    await feeds(ws, 1)
    await admin_post(fresh, "/_sim/grvt/faults", {"kind": "seq_gap", "count": 1, "stream": "v1.book.d"})
    first, second = await price_moves(fresh, ws, 2)
    assert (first["sequence_number"], first["prev_sequence_number"]) == ("2", "1")  # 1 never came
    assert (second["sequence_number"], second["prev_sequence_number"]) == ("3", "2")
    await ws.close()


async def test_ticker_snapshot_over_json_rpc(fresh: SimHandle, http: aiohttp.ClientSession) -> None:
    ws = await http.ws_connect(ws_url(fresh, "md/ws/full"))
    params = {"stream": "v1.ticker.s", "selectors": [f"{ETH}@500"]}
    await ws.send_json({"jsonrpc": "2.0", "method": "subscribe", "params": params, "id": 7})
    reply = await recv(ws)
    assert reply["id"] == 7 and reply["result"]["subs"] == [f"{ETH}@500"]
    ticker = (await feeds(ws, 1))[0]
    assert ticker["stream"] == "v1.ticker.s" and Decimal(ticker["feed"]["mark_price"]) == Decimal(3000)
    await ws.send_json(
        {"jsonrpc": "2.0", "method": "subscribe", "params": {**params, "selectors": [ETH]}, "id": 8}
    )
    assert (await answer(ws))["error"]["code"] == 1101  # a selector needs <primary>@<secondary>
    await ws.close()


async def test_trade_socket_needs_a_live_cookie_from_header_or_query(
    fresh: SimHandle, http: aiohttp.ClientSession, client: GrvtClient
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(ws_url(fresh, "td/ws/full"))
    assert refused.value.status == 401
    by_query = f"{ws_url(fresh, 'td/ws/full')}?Cookie={quote('gravity=' + client.cookie)}"
    ws = await http.ws_connect(by_query)
    await ws.send_json(
        {
            "jsonrpc": "2.0",
            "method": "subscribe",
            "params": {"stream": "v1.order", "selectors": ["999"]},
            "id": 1,
        }
    )
    assert (await recv(ws))["error"]["code"] == 1001  # another sub-account's orders
    await ws.close()


async def test_cookie_expiry_mid_stream_ends_the_trade_socket(
    fresh: SimHandle, http: aiohttp.ClientSession, client: GrvtClient
) -> None:
    ws = await http.ws_connect(ws_url(fresh, "td/ws"), headers={"Cookie": f"gravity={client.cookie}"})
    sub = {"request_id": 1, "stream": "v1.order", "feed": [client.sub_account_id], "method": "subscribe"}
    await ws.send_json(sub)
    assert (await recv(ws))["subs"] == [client.sub_account_id]
    await admin_post(fresh, "/_sim/grvt/sessions/expire", {})
    assert (await recv(ws))["code"] == 1000
    assert (await closing(ws)).data == 1008


async def test_order_over_json_rpc_then_its_order_state_and_fill_feeds(
    fresh: SimHandle, http: aiohttp.ClientSession, client: GrvtClient
) -> None:
    taker = await new_client(fresh, http)
    ws = await http.ws_connect(ws_url(fresh, "td/ws/full"), headers={"Cookie": f"gravity={client.cookie}"})
    for i, stream in enumerate(("v1.order", "v1.state", "v1.fill", "v1.position")):
        params = {"stream": stream, "selectors": [f"{client.sub_account_id}-{ETH}"]}
        await ws.send_json({"jsonrpc": "2.0", "method": "subscribe", "params": params, "id": i})
        assert (await recv(ws))["result"]["stream"] == stream
    bid, ask = await client.book()
    price = str(((bid + ask) / 2).quantize(Decimal("0.01")))
    payload = await client.signed("sell", "0.1000", price, 5, post_only=True)
    await ws.send_json({"jsonrpc": "2.0", "method": "v1/create_order", "params": payload, "id": 9})
    ack = await recv(ws)
    assert ack["id"] == 9 and ack["result"]["result"]["order_id"] == "0x00"
    seen: dict[str, list[Json]] = {}
    while "v1.order" not in seen:  # the ask rests before the taker comes (else one tick shows FILLED only)
        msg = (await feeds(ws, 1))[0]
        seen.setdefault(msg["stream"], []).append(msg)
    ioc = await taker.signed("buy", "0.1000", price, 6, time_in_force="IMMEDIATE_OR_CANCEL")
    assert (await taker.create(ioc))[0] == 200
    while (
        not {"v1.fill", "v1.position"} <= seen.keys()
        or seen["v1.order"][-1]["feed"]["state"]["status"] != "FILLED"
    ):
        msg = (await feeds(ws, 1))[0]
        assert msg["selector"] == f"{client.sub_account_id}-{ETH}"
        seen.setdefault(msg["stream"], []).append(msg)
    assert [m["feed"]["state"]["status"] for m in seen["v1.order"]] == ["OPEN", "FILLED"]
    assert seen["v1.state"][0]["feed"]["order_state"]["status"] == "OPEN"
    assert (
        seen["v1.fill"][0]["feed"]["is_taker"] is False
        and seen["v1.position"][0]["feed"]["size"] == "-0.1000"
    )
    for messages in seen.values():
        assert [int(m["prev_sequence_number"]) for m in messages[1:]] == [
            int(m["sequence_number"]) for m in messages[:-1]
        ]
    await ws.close()


async def test_dropped_sockets_are_refused_for_a_while(fresh: SimHandle, http: aiohttp.ClientSession) -> None:
    ws = await subscribe_book(fresh, http)
    try:
        dropped = await fresh.admin.inject_fault("ws_drop", seconds=30)
        assert dropped["dropped"] >= 1
        assert (await closing(ws)).data == 1001
        again = await http.ws_connect(ws_url(fresh, "md/ws"))
        assert (await again.receive(timeout=RECV_S)).data == 1013  # refused: try again later
    finally:
        await fresh.admin.inject_fault("ws_drop", seconds=0)  # end the refusal for the tests after
