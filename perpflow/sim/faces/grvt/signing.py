"""EIP-712 verification of GRVT orders (grvt-api.md §5): the checks in the venue's order.

The message is rebuilt from the order's JSON exactly as the SDK builds it (sizes scaled by the
served ``base_decimals``, prices by 10**9, the served ``instrument_hash`` as the asset id) and
the signer recovered with eth-account; a mismatch is 2002, whatever field differs.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data

from perpflow.sim.faces.grvt.errors import err
from perpflow.sim.faces.grvt.instruments import BASE_DECIMALS, PRICE_SCALE, Instrument

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
MAX_EXPIRATION_NS = 30 * 24 * 3600 * 10**9  # signatures run at most 30 days ahead
UINT32 = 1 << 32
TIME_IN_FORCE = {"GOOD_TILL_TIME": 1, "ALL_OR_NONE": 2, "IMMEDIATE_OR_CANCEL": 3, "FILL_OR_KILL": 4}
ORDER_TYPES = {
    "Order": [
        {"name": "subAccountID", "type": "uint64"},
        {"name": "isMarket", "type": "bool"},
        {"name": "timeInForce", "type": "uint8"},
        {"name": "postOnly", "type": "bool"},
        {"name": "reduceOnly", "type": "bool"},
        {"name": "legs", "type": "OrderLeg[]"},
        {"name": "nonce", "type": "uint32"},
        {"name": "expiration", "type": "int64"},
    ],
    "OrderLeg": [
        {"name": "assetID", "type": "uint256"},
        {"name": "contractSize", "type": "uint64"},
        {"name": "limitPrice", "type": "uint64"},
        {"name": "isBuyingContract", "type": "bool"},
    ],
}


def domain(chain_id: int) -> dict[str, Any]:
    return {"name": "GRVT Exchange", "version": "0", "chainId": chain_id}


@dataclass(frozen=True, slots=True)
class Verified:
    signer: str  # lower-case
    nonce: int
    expiration_ns: int
    digest: str  # names the signed payload: a byte-identical resend has the same one


def order_message(order: dict[str, Any], instrument: Instrument, tif: str) -> dict[str, Any]:
    leg = order["legs"][0]
    sig = order["signature"]
    return {
        "subAccountID": int(order["sub_account_id"]),
        "isMarket": bool(order.get("is_market")),
        "timeInForce": TIME_IN_FORCE[tif],
        "postOnly": bool(order.get("post_only")),
        "reduceOnly": bool(order.get("reduce_only")),
        "legs": [
            {
                "assetID": int(instrument.hash, 16),
                "contractSize": int(Decimal(str(leg["size"])) * 10**BASE_DECIMALS),
                "limitPrice": int(Decimal(str(leg.get("limit_price") or 0)) * PRICE_SCALE),
                "isBuyingContract": bool(leg["is_buying_asset"]),
            }
        ],
        "nonce": int(sig["nonce"]),
        "expiration": int(sig["expiration"]),
    }


def _word(value: object, code: int) -> int:
    text = str(value or "").removeprefix("0x")
    if len(text) != 64:
        raise err(code)
    try:
        return int(text, 16)
    except ValueError as exc:
        raise err(code) from exc


def _int(value: object) -> int:
    if isinstance(value, bool):
        raise err(1003)
    try:
        return int(str(value))
    except ValueError as exc:
        raise err(1003) from exc


def check_signature_fields(sig: dict[str, Any], now_ns: int) -> tuple[int, int, int, int, int]:
    """Format and time checks before recovery: 2006, 2005, 2007, 1003 (nonce), 2001, 2008."""
    r, s = _word(sig.get("r"), 2006), _word(sig.get("s"), 2006)
    v = sig.get("v")
    if v not in (27, 28) or isinstance(v, bool):
        raise err(2005)
    if s > SECP256K1_N // 2:
        raise err(2007)
    nonce = sig.get("nonce")
    if not isinstance(nonce, int) or isinstance(nonce, bool) or not 0 <= nonce < UINT32:
        raise err(1003)
    expiration = _int(sig.get("expiration"))
    if expiration <= now_ns:
        raise err(2001)
    if expiration > now_ns + MAX_EXPIRATION_NS:
        raise err(2008)
    return r, s, int(v), nonce, expiration


def verify_order(order: dict[str, Any], instrument: Instrument, tif: str, chain_id: int) -> Verified:
    sig = order.get("signature")
    if not isinstance(sig, dict):
        raise err(1003)
    r, s, v, nonce, expiration = check_signature_fields(sig, time.time_ns())
    message = order_message(order, instrument, tif)
    signable = encode_typed_data(domain(chain_id), ORDER_TYPES, message)
    recovered = str(Account.recover_message(signable, vrs=(v, r, s))).lower()
    if recovered != str(sig.get("signer", "")).lower():
        raise err(2002)
    canonical = json.dumps([chain_id, recovered, message], sort_keys=True, separators=(",", ":"))
    return Verified(recovered, nonce, expiration, hashlib.sha256(canonical.encode()).hexdigest())
