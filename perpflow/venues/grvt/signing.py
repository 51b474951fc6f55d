"""EIP-712 order signing (grvt-api.md §5) with the SDK's own types, message builder and domain.

An order is signed once into the exact bytes ``submit`` sends. Every input of those bytes is
derived from the order itself: the client_order_id from the ledger's client order index, the
nonce from the client_order_id, the expiration from the UTC day it was signed in, and ECDSA
signatures are deterministic (RFC 6979). Signing the same order again on the same day therefore
yields the same bytes, which GRVT drops as a duplicate ("the same nonce ... the same payload ...
considered a duplicate, and ignored") rather than placing a second order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from pydantic import SecretStr
from pysdk.grvt_raw_base import DataclassJSONEncoder
from pysdk.grvt_raw_env import GrvtEnv
from pysdk.grvt_raw_signing import (
    EIP712_ORDER_MESSAGE_TYPE,
    build_EIP712_order_message_data,
    get_EIP712_domain_data,
)
from pysdk.grvt_raw_types import Instrument, Order, OrderLeg, OrderMetadata, Signature

from perpflow.venues.base import SignedTx
from perpflow.venues.errors import Unrepresentable
from perpflow.venues.grvt import constants as c
from perpflow.venues.types import OrderKind, OrderSpec, Side, TimeInForce


def client_order_id(client_order_index: int) -> int:
    """Ours live in [2^63, 2^64), the range GRVT asks clients to use (the UI takes the rest)."""
    return c.CLIENT_ID_BASE + client_order_index


def client_order_index(client_order_id: int) -> int:
    """The ledger's index of one of our orders; another client's id is kept as it is."""
    return client_order_id - c.CLIENT_ID_BASE if client_order_id >= c.CLIENT_ID_BASE else client_order_id


def nonce_for(sub_account_id: int, coid: int) -> int:
    """A uint32 drawn from the order's identity: the same order always signs with the same nonce."""
    digest = hashlib.blake2b(f"{sub_account_id}:{coid}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big")


def expiration_ns(expiry: datetime | None, now_ns: int) -> int:
    if expiry is not None:
        return int(expiry.timestamp()) * 10**9
    return (now_ns // c.DAY_NS + c.EXPIRY_DAYS) * c.DAY_NS


def _text(value: Decimal, step: Decimal, what: str, symbol: str) -> str:
    if step > 0 and value % step != 0:
        raise Unrepresentable(f"{symbol} {what} {value} is not a multiple of {step}")
    if value.scaleb(c.PRICE_DECIMALS_SIGNED) % 1 != 0:
        raise Unrepresentable(f"{symbol} {what} {value} has more than {c.PRICE_DECIMALS_SIGNED} decimals")
    return format(value.normalize(), "f")


def unsigned_order(spec: OrderSpec, instrument: Instrument, sub_account_id: int, now_ns: int) -> Order:
    """The SDK's Order for ``spec``, nonce and expiration set, signature empty. A market order goes
    out as an IOC limit at its worst price: GRVT's own market orders take no price (2020)."""
    symbol = instrument.instrument
    if spec.size < Decimal(instrument.min_size):
        raise Unrepresentable(f"{symbol} size {spec.size} is below the minimum {instrument.min_size}")
    coid = client_order_id(spec.client_order_index)
    tif = c.MARKET_TIF if spec.kind is OrderKind.MARKET else c.TIME_IN_FORCE[spec.tif]
    leg = OrderLeg(
        instrument=symbol,
        size=_text(spec.size, Decimal(instrument.min_size), "size", symbol),
        is_buying_asset=spec.side is Side.BUY,
        limit_price=_text(spec.price, Decimal(instrument.tick_size), "price", symbol),
    )
    return Order(
        sub_account_id=str(sub_account_id),
        time_in_force=tif,
        legs=[leg],
        signature=Signature(
            signer="",
            r="",
            s="",
            v=0,
            expiration=str(expiration_ns(spec.expiry, now_ns)),
            nonce=nonce_for(sub_account_id, coid),
        ),
        metadata=OrderMetadata(client_order_id=str(coid)),
        is_market=False,
        post_only=spec.kind is OrderKind.LIMIT and spec.tif is TimeInForce.POST_ONLY,
        reduce_only=spec.reduce_only,
    )


def sign(account: Any, chain_id: int, order: Order, instrument: Instrument) -> str:
    """Fill ``order.signature`` in place; returns the EIP-712 digest (the signed bytes' identity)."""
    message = build_EIP712_order_message_data(order, {instrument.instrument: instrument})
    # The env only matters when no chain id is given; ours always is.
    domain = get_EIP712_domain_data(GrvtEnv.PROD, chain_id)
    signed = account.sign_message(encode_typed_data(domain, EIP712_ORDER_MESSAGE_TYPE, message))
    order.signature.r = "0x" + signed.r.to_bytes(32, "big").hex()
    order.signature.s = "0x" + signed.s.to_bytes(32, "big").hex()
    order.signature.v = signed.v
    order.signature.signer = str(account.address)
    return "0x" + bytes(signed.message_hash).hex()


def body(order: Order) -> str:
    """The create_order request as sent: unset optionals left out, compact, key order fixed."""
    raw = json.loads(json.dumps({"order": asdict(order)}, cls=DataclassJSONEncoder))
    return json.dumps(_drop_nulls(raw), separators=(",", ":"))


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


class GrvtSigner:
    """The account's signing key, inside eth-account; what leaves is a signature, never the key."""

    def __init__(
        self, private_key: SecretStr, chain_id: int, sub_account_id: int, api_key_index: int
    ) -> None:
        self._account = Account.from_key(private_key.get_secret_value())
        self.address = str(self._account.address)
        self.chain_id, self.sub_account_id, self.api_key_index = chain_id, sub_account_id, api_key_index

    def create_order(self, spec: OrderSpec, instrument: Instrument, now_ns: int) -> SignedTx:
        order = unsigned_order(spec, instrument, self.sub_account_id, now_ns)
        digest = sign(self._account, self.chain_id, order, instrument)
        return SignedTx(
            c.TX_CREATE_ORDER, body(order), digest, order.signature.nonce, self.api_key_index,
            resend_until=resend_until(int(order.signature.expiration)),
        )  # fmt: skip


def resend_until(expiration_ns: int) -> datetime:
    """The stored bytes go again until a margin before their signature expires (2001 after that)."""
    return datetime.fromtimestamp(expiration_ns // 10**9, UTC) - c.RESEND_MARGIN
