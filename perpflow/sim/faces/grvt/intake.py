"""A ``create_order`` request checked as the venue checks it, in its order (grvt-api.md §5, §7, §8).

Everything here is synchronous and refuses with GRVT's code; what the book decides (post-only
crossing, margin, fill-or-kill) becomes the order's state later, never a refusal here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from perpflow.sim.engine import Engine
from perpflow.sim.faces.grvt.errors import err
from perpflow.sim.faces.grvt.instruments import Instrument, Instruments
from perpflow.sim.faces.grvt.keys import UINT64, GrvtKeys
from perpflow.sim.faces.grvt.sessions import Session
from perpflow.sim.faces.grvt.signing import Verified, verify_order

BOOK_TIFS = ("GOOD_TILL_TIME", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL")
PLACEHOLDER_IDS = (None, "", "0x00", "0x0", "0")


@dataclass(frozen=True, slots=True)
class Intake:
    account: int
    sub_account_id: str
    request: dict[str, Any]
    instrument: Instrument
    client_order_id: int
    tif: str
    is_market: bool
    post_only: bool
    reduce_only: bool
    is_buy: bool
    lots: int
    ticks: int  # 0 for a market order
    signed: Verified


def owned_account(keys: GrvtKeys, session: Session, sub_account_id: object) -> int:
    """The engine account a request's ``sub_account_id`` names, if the session may use it."""
    if sub_account_id is None or not str(sub_account_id).isdigit() or int(str(sub_account_id)) >= UINT64:
        raise err(3020)
    if keys.account_of(sub_account_id) != session.account:
        raise err(2003)
    return session.account


def client_order_id(value: object) -> int:
    if value in (None, ""):
        raise err(2011)
    text = str(value)
    if not text.isdigit() or int(text) >= UINT64:
        raise err(1003)
    return int(text)


def _leg(order: dict[str, Any]) -> dict[str, Any]:
    legs = order.get("legs")
    if not isinstance(legs, list) or len(legs) != 1 or not isinstance(legs[0], dict):
        raise err(2042)
    return legs[0]


def _price_given(leg: dict[str, Any]) -> bool:
    raw = leg.get("limit_price")
    if raw in (None, ""):
        return False
    try:
        return Decimal(str(raw)) != 0
    except ArithmeticError as exc:
        raise err(1003) from exc


def check(body: Any, session: Session, keys: GrvtKeys, insts: Instruments, chain_id: int) -> Intake:
    order = body.get("order") if isinstance(body, dict) else None
    if not isinstance(order, dict):
        raise err(1003)
    account = owned_account(keys, session, order.get("sub_account_id"))
    if order.get("order_id") not in PLACEHOLDER_IDS:
        raise err(2010)
    if order.get("state"):
        raise err(2050)
    leg = _leg(order)
    if str(leg.get("instrument")) not in insts.by_name:
        raise err(2061)
    instrument = insts.get(leg["instrument"])
    cid = client_order_id((order.get("metadata") or {}).get("client_order_id"))
    tif = str(order.get("time_in_force") or "")
    if tif not in BOOK_TIFS:
        raise err(2030)
    post_only, reduce_only = bool(order.get("post_only")), bool(order.get("reduce_only"))
    if post_only and tif != "GOOD_TILL_TIME":
        raise err(2032)
    is_market = bool(order.get("is_market"))
    if is_market and _price_given(leg):
        raise err(2020)
    if not is_market and not _price_given(leg):
        raise err(2021)
    lots = instrument.lots(leg.get("size"))
    ticks = 0 if is_market else instrument.ticks(leg["limit_price"])
    signed = verify_order(order, instrument, tif, chain_id)
    key = keys.signer_key(account, signed.signer)
    if key is None:
        raise err(2000)
    if "trade" not in key.permissions:
        raise err(1400)
    return Intake(
        account, str(order["sub_account_id"]), order, instrument, cid, tif, is_market,
        post_only, reduce_only, bool(leg.get("is_buying_asset")), lots, ticks, signed,
    )  # fmt: skip


def check_reduce_only(engine: Engine, intake: Intake) -> None:
    """2400 with no position, 2401 if the order would grow it (GRVT refuses these at once)."""
    if not intake.reduce_only:
        return
    size = engine.account(intake.account).position(intake.instrument.spec.market_id).size
    if size == 0:
        raise err(2400)
    if (size > 0) == intake.is_buy:
        raise err(2401)


def check_notional(engine: Engine, intake: Intake) -> None:
    spec = intake.instrument.spec
    price = intake.ticks or engine.marks[spec.market_id]
    if intake.lots * price < spec.min_quote_amount:
        raise err(2066)
