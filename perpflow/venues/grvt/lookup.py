"""Finding an order of ours by client_order_id, active or not.

``full/v1/order`` by client_order_id knows active orders (client_order_id is unique only among
those); an order that filled or was cancelled is found in the order history, and one that left
only trades behind in the fill history. A resend or a re-sign happens only when all three miss:
a retry after a fill must never place a second order.
"""

from __future__ import annotations

from decimal import Decimal

from pysdk import grvt_raw_types as t

from perpflow.venues.grvt import parse
from perpflow.venues.grvt.errors import OrderNotFound
from perpflow.venues.grvt.rest import GrvtRest
from perpflow.venues.grvt.signing import client_order_id
from perpflow.venues.types import OrderStatus, VenueFill, VenueOrder

# History pages read before concluding "never placed": our look-ups follow a recent send.
HISTORY_PAGES = 5
PAGE = 500


async def active(rest: GrvtRest, sub_account: str, coid: int) -> VenueOrder | None:
    req = t.ApiGetOrderRequest(sub_account_id=sub_account, client_order_id=str(coid))
    try:
        resp = await rest.call(rest.get_order_v1(req))
    except OrderNotFound:
        return None
    return parse.order(resp.result)


async def in_history(rest: GrvtRest, sub_account: str, coid: int) -> VenueOrder | None:
    cursor: str | None = None
    for _ in range(HISTORY_PAGES):
        req = t.ApiOrderHistoryRequest(sub_account_id=sub_account, limit=PAGE, cursor=cursor)
        resp = await rest.call(rest.order_history_v1(req))
        for o in resp.result:
            if int(o.metadata.client_order_id) == coid:
                return parse.order(o)
        cursor = resp.next or None
        if cursor is None or not resp.result:
            return None
    return None


async def fills_of(rest: GrvtRest, sub_account: str, coid: int) -> list[VenueFill]:
    out: list[VenueFill] = []
    cursor: str | None = None
    for _ in range(HISTORY_PAGES):
        req = t.ApiFillHistoryRequest(sub_account_id=sub_account, limit=PAGE, cursor=cursor)
        resp = await rest.call(rest.fill_history_v1(req))
        out += [parse.fill(f) for f in resp.result if int(f.client_order_id or 0) == coid]
        cursor = resp.next or None
        if cursor is None or not resp.result:
            break
    return out


def from_fills(fills: list[VenueFill]) -> VenueOrder:
    """An order known only by its trades: filled as far as they go, and nothing of it resting."""
    size = sum((f.size for f in fills), Decimal(0))
    first = fills[0]
    return VenueOrder(
        market=first.market,
        order_index=first.order_index,
        client_order_index=first.client_order_index,
        side=first.side,
        price=first.price,
        size=size,
        filled_size=size,
        filled_quote=sum((f.size * f.price for f in fills), Decimal(0)),
        remaining_size=Decimal(0),
        status=OrderStatus.FILLED,
        reason="seen-in-fill-history",
    )


async def by_client_index(rest: GrvtRest, sub_account: str, client_order_index: int) -> VenueOrder | None:
    coid = client_order_id(client_order_index)
    found = await active(rest, sub_account, coid) or await in_history(rest, sub_account, coid)
    if found is not None:
        return found
    fills = await fills_of(rest, sub_account, coid)
    return from_fills(fills) if fills else None
