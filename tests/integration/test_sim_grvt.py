"""The sim's GRVT face over HTTP: login and cookies, EIP-712 checks, order rules, faults.

Orders are signed with grvt-pysdk's own ccxt signer against the instruments the sim serves,
so a disagreement on the signed message fails here as it would for the SDK.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiohttp
import lighter
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from pysdk.grvt_ccxt_env import GrvtEnv
from pysdk.grvt_ccxt_utils import get_grvt_order, get_order_payload

from perpflow.sim.faces.grvt.signing import ORDER_TYPES, domain
from tests.plugins.sim import SimHandle, Trader

ROOT = Path(__file__).resolve().parents[2]
ETH = "ETH_USDT_Perp"
Json = dict[str, Any]


async def eventually(check: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


@dataclass
class GrvtClient:
    """One sim account behind one GRVT API key, spoken to over plain HTTP."""

    url: str
    http: aiohttp.ClientSession
    account: int
    sub_account_id: str
    api_key: str
    private_key: str
    cookie: str = ""
    instruments: dict[str, Json] | None = None

    async def login(self) -> aiohttp.ClientResponse:
        resp = await self.http.post(
            f"{self.url}/grvt/edge/auth/api_key/login", json={"api_key": self.api_key}
        )
        if resp.status == 200:
            self.cookie = resp.cookies["gravity"].value
        return resp

    async def post(self, path: str, body: Json, *, cookie: str | None = None) -> tuple[int, Json]:
        headers = {"Cookie": f"gravity={self.cookie if cookie is None else cookie}"}
        async with self.http.post(f"{self.url}/grvt/{path}", json=body, headers=headers) as resp:
            assert resp.content_type == "application/json"
            return resp.status, await resp.json()

    async def td(self, name: str, body: Json | None = None) -> tuple[int, Json]:
        return await self.post(f"td/full/v1/{name}", {"sub_account_id": self.sub_account_id, **(body or {})})

    async def book(self) -> tuple[Decimal, Decimal]:
        _, body = await self.post("md/full/v1/book", {"instrument": ETH, "depth": 10})
        return Decimal(body["result"]["bids"][0]["price"]), Decimal(body["result"]["asks"][0]["price"])

    async def signed(
        self, side: str, size: str, price: Any, cid: int, *, duration_s: float = 600, **flags: Any
    ) -> Json:
        if self.instruments is None:
            _, body = await self.post("md/full/v1/all_instruments", {})
            self.instruments = {i["instrument"]: i for i in body["result"]}
        kind = "market" if price is None else "limit"
        order = get_grvt_order(
            self.sub_account_id, ETH, kind, side, size, price, duration_s, {"client_order_id": cid, **flags}
        )
        return get_order_payload(order, self.private_key, GrvtEnv.TESTNET, self.instruments)

    async def create(self, payload: Json) -> tuple[int, Json]:
        return await self.td("create_order", payload)

    async def order(self, cid: int) -> Json:
        status, body = await self.td("order", {"client_order_id": str(cid)})
        assert status == 200, body
        return body["result"]

    async def fills(self) -> list[Json]:
        _, body = await self.td("fill_history", {})
        return body["result"]


async def admin_post(sim: SimHandle, path: str, body: Json) -> Json:
    async with aiohttp.ClientSession(trust_env=False) as http, http.post(sim.url + path, json=body) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def new_client(sim: SimHandle, http: aiohttp.ClientSession, **extra: Any) -> GrvtClient:
    signer = Account.create()
    api_key = f"key-{signer.address[2:12]}"
    body = {
        "collateral": "100000",
        "grvt_api_keys": [{"api_key": api_key, "signer": signer.address}],
        **extra,
    }
    account = (await admin_post(sim, "/_sim/accounts", body))["account_index"]
    sub = str(extra.get("grvt_sub_account_id", account))
    client = GrvtClient(sim.url, http, account, sub, api_key, signer.key.hex())
    assert (await client.login()).status == 200
    return client


@pytest.fixture
async def http(fresh: SimHandle) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(trust_env=False) as session:
        yield session


@pytest.fixture
async def maker(fresh: SimHandle, http: aiohttp.ClientSession) -> GrvtClient:
    return await new_client(fresh, http)


@pytest.fixture
async def taker(fresh: SimHandle, http: aiohttp.ClientSession) -> GrvtClient:
    return await new_client(fresh, http)


async def rest_inside_spread(maker: GrvtClient, cid: int, size: str = "0.1000") -> str:
    bid, ask = await maker.book()
    price = str(((bid + ask) / 2).quantize(Decimal("0.01")))
    status, body = await maker.create(await maker.signed("sell", size, price, cid, post_only=True))
    assert status == 200, body
    assert (await maker.order(cid))["state"]["status"] == "OPEN"
    return price


# ---- login and cookies ------------------------------------------------------------------------
async def test_login_sets_one_gravity_cookie_with_expiry_and_account_header(
    fresh: SimHandle, http: aiohttp.ClientSession
) -> None:
    client = await new_client(fresh, http, grvt_sub_account_id="8289849667772468")
    resp = await client.login()
    assert len(resp.headers.getall("Set-Cookie")) == 1
    cookie = resp.headers["Set-Cookie"]
    expires = parsedate_to_datetime(cookie.split("Expires=")[1].split(";")[0]).timestamp()
    assert cookie.startswith("gravity=") and 23 * 3600 < expires - time.time() <= 24 * 3600
    assert resp.headers["X-Grvt-Account-Id"].startswith("0x")
    status, body = await client.td("account_summary")
    assert status == 200 and body["result"]["sub_account_id"] == "8289849667772468"


async def test_unknown_key_and_missing_or_expired_cookie_are_refused_with_1000(
    fresh: SimHandle, maker: GrvtClient
) -> None:
    resp = await maker.http.post(f"{maker.url}/grvt/edge/auth/api_key/login", json={"api_key": "nobody"})
    assert resp.status == 401 and "Set-Cookie" not in resp.headers
    status, body = await maker.post(
        "td/full/v1/open_orders", {"sub_account_id": maker.sub_account_id}, cookie=""
    )
    assert (status, body) == (401, {"code": 1000, "message": body["message"], "status": 401})
    assert (await maker.td("open_orders"))[0] == 200
    await admin_post(fresh, "/_sim/grvt/sessions/expire", {})
    status, body = await maker.td("open_orders")
    assert (status, body["code"]) == (401, 1000)
    assert (await maker.login()).status == 200 and (await maker.td("open_orders"))[0] == 200


async def test_cookie_ttl_is_configurable_and_the_cookie_dies_with_it(
    fresh: SimHandle, maker: GrvtClient
) -> None:
    try:
        await admin_post(fresh, "/_sim/grvt/config", {"cookie_ttl_s": 0.3})
        resp = await maker.login()
        expires = parsedate_to_datetime(resp.headers["Set-Cookie"].split("Expires=")[1].split(";")[0])
        assert expires.timestamp() - time.time() < 2

        async def refused() -> bool:
            return (await maker.td("open_orders"))[0] == 401

        await eventually(refused)
    finally:
        await admin_post(fresh, "/_sim/grvt/config", {"cookie_ttl_s": 86400})


async def test_another_accounts_sub_account_is_2003(maker: GrvtClient, taker: GrvtClient) -> None:
    status, body = await maker.post("td/full/v1/positions", {"sub_account_id": taker.sub_account_id})
    assert (status, body["code"]) == (403, 2003)


# ---- signatures -------------------------------------------------------------------------------
def test_domain_separators_and_struct_hash_match_the_reference_vectors() -> None:
    message = {
        "subAccountID": 8289849667772468, "isMarket": False, "timeInForce": 1, "postOnly": False,
        "reduceOnly": False, "nonce": 828700936, "expiration": 1730800479321350000,
        "legs": [{"assetID": 0x030501, "contractSize": 1_013_000_000, "limitPrice": 68_900_500_000_000,
                  "isBuyingContract": False}],
    }  # fmt: skip
    signable = encode_typed_data(domain(326), ORDER_TYPES, message)
    assert signable.header.hex() == "1254f97f8495f704630a238cbcd898a4b8ab20d77bb93e17049d3445f4f81f16"
    assert signable.body.hex() == "41650c08ab6e720f899307d7c2b4381a10c1301888375cec2dfefd6a583859eb"
    assert encode_typed_data(domain(325), ORDER_TYPES, message).header.hex().startswith("72fe716b")


async def test_wrong_signer_expired_and_bad_nonce_are_refused(maker: GrvtClient, taker: GrvtClient) -> None:
    payload = await maker.signed("buy", "0.1000", "100.00", 11)
    forged = {"order": {**payload["order"], "signature": {**payload["order"]["signature"]}}}
    forged["order"]["signature"]["signer"] = Account.create().address
    assert (await maker.create(forged))[1]["code"] == 2002
    other = await taker.signed("buy", "0.1000", "100.00", 11)  # a valid signature by a key of another account
    other["order"]["sub_account_id"] = maker.sub_account_id
    assert (await maker.create(other))[1]["code"] == 2002  # the sub-account is signed over
    stranger = Account.create()
    foreign = get_order_payload(
        get_grvt_order(maker.sub_account_id, ETH, "limit", "buy", "0.1", "100", 600, {"client_order_id": 12}),
        stranger.key.hex(), GrvtEnv.TESTNET, maker.instruments or {},
    )  # fmt: skip
    assert (await maker.create(foreign))[1]["code"] == 2000  # signed right, by a key not of this account
    expired = await maker.signed("buy", "0.1000", "100.00", 13, duration_s=-1)
    assert (await maker.create(expired))[1]["code"] == 2001
    too_long = await maker.signed("buy", "0.1000", "100.00", 14, duration_s=31 * 86400)
    assert (await maker.create(too_long))[1]["code"] == 2008
    bad_nonce = await maker.signed("buy", "0.1000", "100.00", 15)
    bad_nonce["order"]["signature"]["nonce"] = 1 << 32
    status, body = await maker.create(bad_nonce)
    assert (status, body["code"]) == (400, 1003)
    _, open_orders = await maker.td("open_orders")
    assert open_orders["result"] == []


async def test_byte_identical_resend_is_one_order(maker: GrvtClient, taker: GrvtClient) -> None:
    price = await rest_inside_spread(maker, 21, size="0.2000")  # room for a second fill, were there one
    payload = await taker.signed("buy", "0.1000", price, 22, time_in_force="IMMEDIATE_OR_CANCEL")
    first = await taker.create(payload)
    assert first[0] == 200 and first[1]["result"]["order_id"] == "0x00"
    again = await taker.create(payload)  # the order has filled: the resend is a duplicate, ignored
    assert again[0] == 200 and again[1]["result"]["state"]["status"] == "PENDING"
    assert [f["size"] for f in await taker.fills()] == ["0.1000"]
    assert (await maker.order(21))["state"]["traded_size"] == ["0.1000"]
    resting = await maker.signed("buy", "0.1000", "100.00", 23)
    assert (await maker.create(resting))[0] == 200
    assert (await maker.create(resting))[1]["code"] == 2012  # still active: the overlap answers first


async def test_client_order_id_reused_after_a_fill_makes_a_second_order(
    maker: GrvtClient, taker: GrvtClient
) -> None:
    price = await rest_inside_spread(maker, 31, size="0.2000")
    for _ in range(2):  # a naive retry: the same client_order_id, signed again
        payload = await taker.signed("buy", "0.1000", price, 32, time_in_force="IMMEDIATE_OR_CANCEL")
        assert (await taker.create(payload))[0] == 200
    assert [f["client_order_id"] for f in await taker.fills()] == ["32", "32"]
    assert (await maker.order(31))["state"]["status"] == "FILLED"


# ---- order rules ------------------------------------------------------------------------------
async def test_post_only_that_would_cross_is_rejected_fail_post_only(maker: GrvtClient) -> None:
    _, ask = await maker.book()
    assert (await maker.create(await maker.signed("buy", "0.1000", str(ask), 41, post_only=True)))[0] == 200
    state = (await maker.order(41))["state"]
    assert (state["status"], state["reject_reason"], state["traded_size"]) == (
        "REJECTED",
        "FAIL_POST_ONLY",
        ["0.0000"],
    )
    ioc_post = await maker.signed(
        "buy", "0.1000", str(ask), 42, post_only=True, time_in_force="IMMEDIATE_OR_CANCEL"
    )
    assert (await maker.create(ioc_post))[1]["code"] == 2032


async def test_ioc_takes_what_crosses_and_fok_takes_all_or_nothing(
    maker: GrvtClient, taker: GrvtClient
) -> None:
    price = await rest_inside_spread(maker, 51, size="0.1000")
    ioc = await taker.signed("buy", "0.3000", price, 52, time_in_force="IMMEDIATE_OR_CANCEL")
    assert (await taker.create(ioc))[0] == 200
    state = (await taker.order(52))["state"]
    assert (state["status"], state["reject_reason"], state["traded_size"]) == (
        "CANCELLED",
        "IOC_CANCEL",
        ["0.1000"],
    )
    price = await rest_inside_spread(maker, 53, size="0.1000")
    fok = await taker.signed("buy", "0.3000", price, 54, time_in_force="FILL_OR_KILL")
    assert (await taker.create(fok))[0] == 200
    state = (await taker.order(54))["state"]
    assert (state["status"], state["reject_reason"]) == ("CANCELLED", "FOK_CANCEL")
    assert (await maker.order(53))["state"]["status"] == "OPEN"


async def test_market_order_fills_and_reduce_only_is_checked(maker: GrvtClient) -> None:
    reduce = await maker.signed("sell", "0.1000", None, 61, reduce_only=True)
    assert (await maker.create(reduce))[1]["code"] == 2400
    assert (await maker.create(await maker.signed("buy", "0.1000", None, 62)))[0] == 200
    state = (await maker.order(62))["state"]
    assert (state["status"], state["traded_size"]) == ("FILLED", ["0.1000"])
    grow = await maker.signed("buy", "0.1000", None, 63, reduce_only=True)
    assert (await maker.create(grow))[1]["code"] == 2401
    priced = await maker.signed("buy", "0.1000", "100.00", 64)
    priced["order"]["is_market"] = True
    assert (await maker.create(priced))[1]["code"] == 2020
    _, positions = await maker.td("positions")
    assert [p["size"] for p in positions["result"]] == ["0.1000"]


async def test_cancel_by_order_id_by_client_order_id_and_all(maker: GrvtClient) -> None:
    for cid in (71, 72, 73):
        assert (await maker.create(await maker.signed("buy", "0.1000", "100.00", cid)))[0] == 200
    order_id = (await maker.order(71))["order_id"]
    assert order_id.startswith("0x") and len(order_id) == 34
    assert (await maker.td("cancel_order", {"order_id": order_id}))[1] == {"result": {"ack": True}}
    assert (await maker.td("cancel_order", {"client_order_id": "72"}))[1] == {"result": {"ack": True}}
    assert (await maker.td("cancel_all_orders", {}))[1] == {"result": {"ack": True}}
    reasons = [(await maker.order(c))["state"]["reject_reason"] for c in (71, 72, 73)]
    assert reasons == ["CLIENT_CANCEL", "CLIENT_CANCEL", "CLIENT_BULK_CANCEL"]
    assert (await maker.td("cancel_order", {"client_order_id": "72"}))[1]["code"] == 1004
    assert (await maker.td("cancel_order", {}))[1]["code"] == 3021


# ---- faults -----------------------------------------------------------------------------------
async def test_429_fault_answers_grvt_rate_limit_code(fresh: SimHandle, maker: GrvtClient) -> None:
    await fresh.admin.inject_fault("http_429", count=1, path="/grvt/td/full/v1/open_orders")
    status, body = await maker.td("open_orders")
    assert (status, body) == (429, {"code": 1006, "message": body["message"], "status": 429})
    assert (await maker.td("open_orders"))[0] == 200


async def test_create_ack_lost_after_accept_leaves_exactly_one_order(
    fresh: SimHandle, maker: GrvtClient
) -> None:
    payload = await maker.signed("buy", "0.1000", "100.00", 81)
    await fresh.admin.inject_fault("drop_response", count=1, path="/grvt/td/full/v1/create_order")
    with pytest.raises(aiohttp.ClientError):
        await maker.create(payload)
    assert (await maker.create(payload))[1]["code"] == 2012  # the resend finds it active
    _, open_orders = await maker.td("open_orders")
    assert [o["metadata"]["client_order_id"] for o in open_orders["result"]] == ["81"]


async def test_rejection_fault_answers_insufficient_margin(fresh: SimHandle, maker: GrvtClient) -> None:
    await fresh.admin.inject_fault("reject_orders", count=1)
    assert (await maker.create(await maker.signed("buy", "0.1000", "100.00", 91)))[1]["code"] == 2080


async def test_partial_fill_fault_caps_grvt_takers_gtt_rest_stays_open_ioc_rest_is_cancelled(
    fresh: SimHandle, maker: GrvtClient, taker: GrvtClient
) -> None:
    price = await rest_inside_spread(maker, 101, size="0.4000")
    await fresh.admin.inject_fault("partial_fill", count=2, ratio=0.5)  # the next two taker orders
    assert (await taker.create(await taker.signed("buy", "0.2000", price, 102)))[0] == 200
    state = (await taker.order(102))["state"]
    assert (state["status"], state["reject_reason"], state["traded_size"], state["book_size"]) == (
        "OPEN", "UNSPECIFIED", ["0.1000"], ["0.1000"],
    )  # fmt: skip
    assert Decimal(state["avg_fill_price"][0]) == Decimal(price)
    ioc = await taker.signed("buy", "0.2000", price, 103, time_in_force="IMMEDIATE_OR_CANCEL")
    assert (await taker.create(ioc))[0] == 200
    state = (await taker.order(103))["state"]
    assert (state["status"], state["reject_reason"], state["traded_size"], state["book_size"]) == (
        "CANCELLED", "IOC_CANCEL", ["0.1000"], ["0.0000"],
    )  # fmt: skip
    assert [(f["client_order_id"], f["size"]) for f in reversed(await taker.fills())] == [
        ("102", "0.1000"), ("103", "0.1000"),
    ]  # fmt: skip
    state = (await maker.order(101))["state"]  # the maker's side: two partial fills, still resting
    assert (state["status"], state["traded_size"], state["book_size"]) == ("OPEN", ["0.2000"], ["0.2000"])
    # The fault spent, a third taker fills whole.
    third = await taker.signed("buy", "0.1000", price, 104, time_in_force="IMMEDIATE_OR_CANCEL")
    assert (await taker.create(third))[0] == 200
    assert (await taker.order(104))["state"]["status"] == "FILLED"


async def test_reject_orders_fault_with_2090_answers_max_open_orders_as_grvt_does(
    fresh: SimHandle, maker: GrvtClient
) -> None:
    await fresh.admin.inject_fault("reject_orders", count=1, code=2090)
    status, body = await maker.create(await maker.signed("buy", "0.1000", "100.00", 92))
    assert (status, body) == (429, {"code": 2090, "message": "Max open orders exceeded", "status": 429})
    _, open_orders = await maker.td("open_orders")
    assert open_orders["result"] == []  # refused: nothing created


# ---- reduce-only ------------------------------------------------------------------------------
async def test_reduce_only_limit_is_clipped_to_the_position_and_its_excess_never_rests(
    maker: GrvtClient,
) -> None:
    assert (await maker.create(await maker.signed("buy", "0.1000", None, 121)))[0] == 200  # long 0.1
    bid, ask = await maker.book()
    resting = await maker.signed("sell", "0.3000", str(ask + 20), 122, reduce_only=True)
    assert (await maker.create(resting))[0] == 200
    state = (await maker.order(122))["state"]
    assert (state["status"], state["book_size"], state["traded_size"]) == ("OPEN", ["0.1000"], ["0.0000"])
    assert (await maker.td("cancel_order", {"client_order_id": "122"}))[0] == 200
    crossing = await maker.signed("sell", "0.3000", str(bid), 123, reduce_only=True)  # GTT, takes the bid
    assert (await maker.create(crossing))[0] == 200
    state = (await maker.order(123))["state"]
    assert (state["traded_size"], state["book_size"]) == (["0.1000"], ["0.0000"])
    _, positions = await maker.td("positions")
    _, open_orders = await maker.td("open_orders")
    assert (positions["result"], open_orders["result"]) == ([], [])  # flat, and no short resting


async def test_reduce_only_excess_is_cancelled_with_reduce_only_limit(maker: GrvtClient) -> None:
    assert (await maker.create(await maker.signed("buy", "0.1000", None, 131)))[0] == 200
    bid, _ = await maker.book()
    assert (await maker.create(await maker.signed("sell", "0.3000", str(bid), 132, reduce_only=True)))[
        0
    ] == 200
    state = (await maker.order(132))["state"]
    assert (state["status"], state["reject_reason"], state["traded_size"]) == (
        "CANCELLED", "REDUCE_ONLY_LIMIT", ["0.1000"],
    )  # fmt: skip


async def test_a_resting_reduce_only_order_never_opens_a_position(
    fresh: SimHandle, maker: GrvtClient
) -> None:
    assert (await maker.create(await maker.signed("buy", "0.1000", None, 141)))[0] == 200
    _, ask = await maker.book()
    exit_price = ask + 20
    reduce = await maker.signed("sell", "0.1000", str(exit_price), 142, reduce_only=True)
    assert (await maker.create(reduce))[0] == 200
    assert (await maker.create(await maker.signed("sell", "0.1000", None, 143)))[0] == 200  # flat now
    await fresh.admin.set_price(0, exit_price + 20)  # the market maker's bids run through 142's price
    _, positions = await maker.td("positions")
    assert positions["result"] == []


# ---- v1.book.s --------------------------------------------------------------------------------
async def book_s_message(ws: aiohttp.ClientWebSocketResponse) -> Json:
    """The next feed message, past subscribe replies."""
    while "feed" not in (msg := await ws.receive_json(timeout=10)):
        pass
    return dict(msg)


async def test_book_snapshot_stream_sends_the_book_to_its_depth_on_every_change(
    fresh: SimHandle, maker: GrvtClient, http: aiohttp.ClientSession
) -> None:
    bid, _ = await maker.book()
    deep = bid - 50  # an eleventh bid level, below the market maker's ten
    assert (await maker.create(await maker.signed("buy", "0.1000", str(deep), 151)))[0] == 200
    ws = await http.ws_connect(fresh.url.replace("http", "ws", 1) + "/grvt/md/ws")
    for selector, code in ((f"{ETH}@500-7", 3031), (f"{ETH}@100-10", 3030)):
        await ws.send_json(
            {"request_id": 1, "stream": "v1.book.s", "feed": [selector], "method": "subscribe"}
        )
        assert (await ws.receive_json(timeout=10))["code"] == code
    selector = f"{ETH}@500-10"
    await ws.send_json({"request_id": 2, "stream": "v1.book.s", "feed": [selector], "method": "subscribe"})
    snapshot = await book_s_message(ws)
    assert (snapshot["stream"], snapshot["selector"], snapshot["sequence_number"]) == (
        "v1.book.s",
        selector,
        "0",
    )
    bids, asks = snapshot["feed"]["bids"], snapshot["feed"]["asks"]
    assert (len(bids), len(asks), Decimal(bids[0]["price"])) == (10, 10, bid)
    assert deep not in {Decimal(b["price"]) for b in bids}  # only 10 levels deep
    await fresh.admin.set_price(0, Decimal(3010))
    top = await maker.book()
    updates = [await book_s_message(ws)]  # (a tick may still carry the resting bid's change first)
    while (
        Decimal(updates[-1]["feed"]["bids"][0]["price"]),
        Decimal(updates[-1]["feed"]["asks"][0]["price"]),
    ) != top:
        updates.append(await book_s_message(ws))
    numbers = [(int(u["sequence_number"]), int(u["prev_sequence_number"])) for u in updates]
    assert numbers == [(n, n - 1) for n in range(1, len(updates) + 1)] and len(updates) <= 2
    for update in updates:  # every message is the whole book to its depth, never a delta
        bids, asks = update["feed"]["bids"], update["feed"]["asks"]
        assert update["selector"] == selector and (len(bids), len(asks)) == (10, 10)
        assert all(level["size"] != "0" for level in bids + asks)
    await ws.close()


# ---- one engine, two faces --------------------------------------------------------------------
def lighter_ticks(price: str | Decimal) -> int:
    return int(Decimal(price) * 100)  # the sim's ETH: 2 price decimals


async def lighter_order(api: lighter.ApiClient, trader: Trader, coi: int) -> lighter.Order:
    resp = await lighter.OrderApi(api).account_orders(
        trader.auth_token(), str(coi), account_index=trader.account_index
    )
    assert resp.orders, f"the Lighter face has no order {coi}"
    return resp.orders[0]


async def test_a_lighter_taker_fills_a_resting_grvt_order_and_each_face_reports_its_side(
    maker: GrvtClient, trader: Trader, api: lighter.ApiClient
) -> None:
    price = await rest_inside_spread(maker, 111, size="0.1000")  # the best ask, a GRVT account's
    _, _, err = await trader.client.create_market_order(  # type: ignore[attr-defined]
        0, 112, 1000, lighter_ticks(price) + 1000, False
    )
    assert err is None, err
    # Lighter's face: the taker's market buy filled whole, at the GRVT order's price, against it.
    taken = await lighter_order(api, trader, 112)
    assert (taken.status, taken.filled_base_amount) == ("filled", "0.1000")
    trades = await lighter.OrderApi(api).trades(
        "timestamp", 10, authorization=trader.auth_token(), account_index=trader.account_index
    )
    (trade,) = trades.trades
    assert (Decimal(trade.price), trade.size, trade.ask_account_id, trade.bid_account_id) == (
        Decimal(price), "0.1000", maker.account, trader.account_index,
    )  # fmt: skip
    assert (trade.ask_client_id, trade.bid_client_id, trade.is_maker_ask) == (111, 112, True)
    # GRVT's face: the maker's order filled, the same trade as a maker's sell.
    state = (await maker.order(111))["state"]
    assert (state["status"], state["traded_size"]) == ("FILLED", ["0.1000"])
    (fill,) = await maker.fills()
    assert (fill["trade_id"], fill["client_order_id"], fill["size"], fill["is_buyer"], fill["is_taker"]) == (
        f"{trade.trade_id}-1", "111", "0.1000", False, False,
    )  # fmt: skip
    assert Decimal(fill["price"]) == Decimal(price)
    _, positions = await maker.td("positions")
    assert [(p["instrument"], p["size"]) for p in positions["result"]] == [(ETH, "-0.1000")]
    account = (await lighter.AccountApi(api).account(by="index", value=str(trader.account_index))).accounts[0]
    held = [(p.market_id, p.sign, p.position) for p in account.positions if Decimal(p.position)]
    assert held == [(0, 1, "0.1000")]


async def test_one_account_answers_to_both_faces_credentials_orders_cross_between_them(
    fresh: SimHandle, trader: Trader, api: lighter.ApiClient, http: aiohttp.ClientSession
) -> None:
    signer = Account.create()
    key = {"api_key": f"both-{signer.address[2:12]}", "signer": signer.address}
    await admin_post(fresh, f"/_sim/accounts/{trader.account_index}/grvt_api_keys", key)
    sub = str(trader.account_index)  # the sub-account id defaults to the account index
    grvt = GrvtClient(fresh.url, http, trader.account_index, sub, key["api_key"], signer.key.hex())
    assert (await grvt.login()).status == 200
    bid, _ = await grvt.book()
    price = bid - 10
    # Placed through Lighter's face: GRVT's lists it (unsigned, as another face's order) and cancels it.
    _, _, err = await trader.client.create_order(  # type: ignore[attr-defined]
        0, 121, 1000, lighter_ticks(price), False, lighter.SignerClient.ORDER_TYPE_LIMIT,
        lighter.SignerClient.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME,
    )  # fmt: skip
    assert err is None, err
    _, open_orders = await grvt.td("open_orders")
    (seen,) = open_orders["result"]
    assert (seen["metadata"]["client_order_id"], seen["state"]["status"], seen["signature"]["signer"]) == (
        "121", "OPEN", "",
    )  # fmt: skip
    assert (Decimal(seen["legs"][0]["limit_price"]), seen["legs"][0]["size"]) == (price, "0.1000")
    assert (await grvt.td("cancel_order", {"client_order_id": "121"}))[1] == {"result": {"ack": True}}
    assert (await lighter_order(api, trader, 121)).status == "canceled"
    # Placed through GRVT's face: Lighter's lists it and cancels it by its client order index.
    assert (await grvt.create(await grvt.signed("buy", "0.1000", str(price), 122)))[0] == 200
    active = await lighter.OrderApi(api).account_active_orders(
        trader.auth_token(), trader.account_index, market_id=0
    )
    assert [(o.client_order_index, o.status, Decimal(o.price)) for o in active.orders] == [
        (122, "open", price)
    ]
    _, _, err = await trader.client.cancel_order(0, 122)  # type: ignore[attr-defined]
    assert err is None, err
    state = (await grvt.order(122))["state"]
    assert (state["status"], state["reject_reason"]) == ("CANCELLED", "CLIENT_CANCEL")
    # One margin account behind both: a GRVT fill moves the position Lighter reports.
    market_buy = await grvt.signed("buy", "0.1000", None, 123)
    assert (await grvt.create(market_buy))[0] == 200
    account = (await lighter.AccountApi(api).account(by="index", value=sub)).accounts[0]
    assert [(p.sign, p.position) for p in account.positions if p.market_id == 0] == [(1, "0.1000")]


# ---- the SDK end to end -----------------------------------------------------------------------
# Above the script's own watchdog (RUN_S = 60 s), which reports the step it was stuck in; the run
# takes a few seconds.
SDK_SCRIPT_TIMEOUT_S = 90


def _text(out: str | bytes | None) -> str:
    return out.decode(errors="replace") if isinstance(out, bytes) else out or ""


async def test_sdk_script_trades_against_the_sim(fresh: SimHandle) -> None:
    try:
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "scripts/sim_grvt_sdk.py", "--url", fresh.url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=SDK_SCRIPT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as e:  # its output so far is bytes here, whatever text= says
        pytest.fail(f"killed after {e.timeout} s; stdout:\n{_text(e.stdout)}\nstderr:\n{_text(e.stderr)}")
    output = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, output
    assert "OK: the unmodified grvt-pysdk traded" in result.stdout, output
    assert "PROBLEM" not in result.stdout, output
