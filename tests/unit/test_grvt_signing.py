"""GRVT order signing: the SDK's published vectors, the SDK's own signer, and sign-once bytes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from pydantic import SecretStr
from pysdk import grvt_raw_signing as sdk
from pysdk.grvt_raw_base import GrvtApiConfig
from pysdk.grvt_raw_env import GrvtEnv
from pysdk.grvt_raw_types import (
    Instrument,
    InstrumentSettlementPeriod,
    Kind,
    Order,
    OrderLeg,
    OrderMetadata,
    Signature,
    TimeInForce,
)

from perpflow.venues.errors import Unrepresentable
from perpflow.venues.grvt import constants as c
from perpflow.venues.grvt import signing
from perpflow.venues.grvt.endpoints import endpoints
from perpflow.venues.types import OrderKind, OrderSpec, Side
from perpflow.venues.types import TimeInForce as Tif

# grvt-pysdk tests/pysdk/test_grvt_raw_signing.py (grvt-api.md §5).
KEY = "f7934647276a6e1fa0af3f4467b4b8ddaf45d25a7368fa1a295eef49a446819d"
SIGNER = "0xE10eC9Bb1eE30Af8bE35B32B163E7458a07aD987"
SUB_ACCOUNT = 8289849667772468
EXPIRY_NS = 1730800479321350000
NONCE = 828700936
BTC = Instrument(
    instrument="BTC_USDT_Perp", instrument_hash="0x030501", base="BTC", quote="USDT", kind=Kind.PERPETUAL,
    venues=[], settlement_period=InstrumentSettlementPeriod.PERPETUAL, tick_size="0.00000001",
    min_size="0.00000001", create_time="123", base_decimals=9, quote_decimals=9, max_position_size="1000000",
)  # fmt: skip
VECTORS = [
    ("1.013", "68900.5", "0xb00512d986a718b15136a8ba23de1c1ec84bbdb9958629cbbe4909bae620bb04",
     "0x79f706de61c68cc14d7734594b5d8689df2b2a7b25951f9a3f61d799f4327ffc", 28),
    ("1.123123123", "68900.777123479", "0x365ec79d299c8bcd5f2acff89faf741a90ca02a4b8a6b1b1a5d4f3d16130f9f0",
     "0x465129bca7855f008ea5bc22fe3ee630e4a8e3b9b99c1745631deef29957048a", 28),
]  # fmt: skip
DOMAIN_SEPARATORS = {
    325: "72fe716bb0105cb5a449731f4eb044bed644eb0d796360108a39c47064e17247",
    326: "1254f97f8495f704630a238cbcd898a4b8ab20d77bb93e17049d3445f4f81f16",
    327: "9c0a7c5bf881e6a6b24d160ca414969805f47b4d1484e059376ae9bbb9a0d047",
}


def vector_order(size: str, price: str) -> Order:
    leg = OrderLeg(instrument="BTC_USDT_Perp", size=size, limit_price=price, is_buying_asset=False)
    return Order(
        sub_account_id=str(SUB_ACCOUNT), time_in_force=TimeInForce.GOOD_TILL_TIME, legs=[leg],
        signature=Signature(signer="", r="", s="", v=0, expiration=str(EXPIRY_NS), nonce=NONCE),
        metadata=OrderMetadata(client_order_id="1"), is_market=False, post_only=False, reduce_only=False,
    )  # fmt: skip


@pytest.mark.parametrize(("size", "price", "r", "s", "v"), VECTORS)
def test_the_sdk_vectors_sign_to_their_published_r_s_v(size: str, price: str, r: str, s: str, v: int) -> None:
    order = vector_order(size, price)
    signing.sign(Account.from_key(KEY), 326, order, BTC)
    assert (order.signature.r, order.signature.s, order.signature.v) == (r, s, v)
    assert order.signature.signer == SIGNER


def test_the_vector_struct_hash_and_each_chain_domain_separator() -> None:
    message = sdk.build_EIP712_order_message_data(vector_order("1.013", "68900.5"), {"BTC_USDT_Perp": BTC})
    for chain_id, separator in DOMAIN_SEPARATORS.items():
        signable = encode_typed_data(
            sdk.get_EIP712_domain_data(GrvtEnv.PROD, chain_id), sdk.EIP712_ORDER_MESSAGE_TYPE, message
        )
        assert signable.header.hex() == separator
        assert signable.body.hex() == "41650c08ab6e720f899307d7c2b4381a10c1301888375cec2dfefd6a583859eb"


def spec(**changes: object) -> OrderSpec:
    base = {"market": "BTC_USDT_Perp", "client_order_index": 1_000_042, "side": Side.BUY,
            "kind": OrderKind.LIMIT, "tif": Tif.POST_ONLY, "size": Decimal("0.25"),
            "price": Decimal("90000.5")}  # fmt: skip
    return OrderSpec.model_validate(base | changes)


NOW_NS = 1_767_225_600 * 10**9 + 12_345  # 2026-01-01 00:00:00.000012345 UTC


def test_our_signature_is_the_sdks_own_for_the_same_order() -> None:
    signer = signing.GrvtSigner(SecretStr(KEY), 326, SUB_ACCOUNT, 0)
    tx = signer.create_order(spec(), BTC, NOW_NS)
    sent = json.loads(tx.tx_info)["order"]
    theirs = signing.unsigned_order(spec(), BTC, SUB_ACCOUNT, NOW_NS)
    config = GrvtApiConfig(GrvtEnv.TESTNET, str(SUB_ACCOUNT), KEY, "unused", None)
    sdk.sign_order(theirs, config, Account.from_key(KEY), {"BTC_USDT_Perp": BTC})
    assert sent["signature"] == {
        "signer": theirs.signature.signer, "r": theirs.signature.r, "s": theirs.signature.s,
        "v": theirs.signature.v, "expiration": theirs.signature.expiration, "nonce": theirs.signature.nonce,
    }  # fmt: skip
    assert sent["metadata"]["client_order_id"] == str(2**63 + 1_000_042)
    assert sent["post_only"] is True and sent["time_in_force"] == "GOOD_TILL_TIME"
    assert sent["legs"] == [
        {"instrument": "BTC_USDT_Perp", "size": "0.25", "is_buying_asset": True, "limit_price": "90000.5"}
    ]


def test_signing_the_same_order_again_the_same_day_gives_the_same_bytes() -> None:
    signer = signing.GrvtSigner(SecretStr(KEY), 326, SUB_ACCOUNT, 0)
    first = signer.create_order(spec(), BTC, NOW_NS)
    later_that_day = signer.create_order(spec(), BTC, NOW_NS + 23 * 3600 * 10**9)
    assert first == later_that_day
    other = signer.create_order(spec(client_order_index=1_000_043), BTC, NOW_NS)
    assert other.nonce != first.nonce and other.tx_hash != first.tx_hash


def test_the_expiration_is_28_days_from_the_signing_day_and_within_grvts_30() -> None:
    order = signing.unsigned_order(spec(), BTC, SUB_ACCOUNT, NOW_NS)
    expiration = int(order.signature.expiration)
    assert expiration == 1_767_225_600 * 10**9 + 28 * 86_400 * 10**9
    assert NOW_NS < expiration <= NOW_NS + 30 * 86_400 * 10**9
    until = datetime(2026, 1, 2, tzinfo=UTC)
    assert signing.expiration_ns(until, NOW_NS) == int(until.timestamp()) * 10**9


def test_client_order_ids_are_ours_above_2_63_and_map_back() -> None:
    assert signing.client_order_id(1_000_042) == 2**63 + 1_000_042
    assert signing.client_order_index(2**63 + 1_000_042) == 1_000_042
    assert signing.client_order_index(12345) == 12345  # another client's (the UI's range) stays as it is
    assert signing.client_order_id(2**48 - 1) < 2**64


def test_a_market_order_is_an_ioc_limit_at_its_worst_price() -> None:
    order = signing.unsigned_order(spec(kind=OrderKind.MARKET, tif=Tif.IOC), BTC, SUB_ACCOUNT, NOW_NS)
    assert order.time_in_force is TimeInForce.IMMEDIATE_OR_CANCEL
    assert order.is_market is False and order.post_only is False
    assert order.legs[0].limit_price == "90000.5"


def test_a_price_off_the_tick_or_a_size_below_the_minimum_is_refused_before_signing() -> None:
    coarse = replace(BTC, tick_size="0.1", min_size="0.001")
    with pytest.raises(Unrepresentable, match=r"multiple of 0\.1"):
        signing.unsigned_order(spec(price=Decimal("90000.55")), coarse, SUB_ACCOUNT, NOW_NS)
    with pytest.raises(Unrepresentable, match="below the minimum"):
        signing.unsigned_order(spec(size=Decimal("0.0001")), coarse, SUB_ACCOUNT, NOW_NS)


def test_the_environments_sign_for_their_chain_and_a_local_server_names_its_own() -> None:
    assert endpoints("https://grvt.io").chain_id == 325
    assert endpoints("https://testnet.grvt.io").trades == "https://trades.testnet.grvt.io"
    assert endpoints("https://staging.gravitymarkets.io").chain_id == 327  # the signing table's, not 328
    local = endpoints("http://127.0.0.1:8000/?chain_id=327")
    assert (local.edge, local.chain_id) == ("http://127.0.0.1:8000/edge", 327)
    assert endpoints("http://127.0.0.1:8000").chain_id == 326
    assert local.trades_ws.startswith("ws://127.0.0.1:8000/") and local.trades_ws.endswith("/ws/full")
    assert c.CLIENT_ID_BASE == 2**63
