"""The sim's ``account_all_orders/{a}``: the subscribe answer lists the open orders; each update
carries the orders that changed, with their status, so an order that ended is told, not just gone."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import aiohttp

from perpflow.venues.lighter.auth import LighterSigner
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.types import OrderKind, OrderSpec, Side, TimeInForce
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount, best


def spec(coi: int, side: Side, tif: TimeInForce, price: Decimal) -> OrderSpec:
    return OrderSpec(
        market="ETH", client_order_index=coi, side=side, kind=OrderKind.LIMIT, tif=tif,
        size=Decimal("0.05"), price=price,
    )  # fmt: skip


async def orders_until(
    ws: aiohttp.ClientWebSocketResponse, wanted: dict[int, str]
) -> dict[int, dict[str, Any]]:
    """Read order updates until each wanted client order index has shown with its wanted status."""
    seen: dict[int, dict[str, Any]] = {}
    while any(seen.get(coi, {}).get("status") != status for coi, status in wanted.items()):
        msg = json.loads((await ws.receive(timeout=10)).data)
        assert msg.get("type") != "error", msg
        if msg.get("type") == "update/account_all_orders":
            for batch in msg["orders"].values():
                seen.update({o["client_order_index"]: o for o in batch})
    return seen


async def test_updates_carry_cancelled_post_only_filled_and_cancelled_orders_with_their_status(
    sim: SimHandle, sim_account: SimAccount, venue: LighterVenue
) -> None:
    bid, ask = await best(venue)
    resting = spec(1, Side.BUY, TimeInForce.POST_ONLY, bid - 10)
    await venue.submit(await venue.sign_order(resting))
    signer = LighterSigner(
        sim.url, sim_account.account_index, sim_account.api_key_index, sim_account.private_key
    )
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(sim.ws_url) as ws:
            assert json.loads((await ws.receive()).data)["type"] == "connected"
            channel = f"account_all_orders/{sim_account.account_index}"
            await ws.send_json({"type": "subscribe", "channel": channel, "auth": signer.token()})
            snapshot = json.loads((await ws.receive(timeout=10)).data)
            assert snapshot["type"] == "subscribed/account_all_orders"
            listed = [o for batch in snapshot["orders"].values() for o in batch]
            assert [(o["client_order_index"], o["status"]) for o in listed] == [(1, "open")]

            await venue.submit(await venue.sign_order(spec(2, Side.BUY, TimeInForce.POST_ONLY, ask + 10)))
            await venue.submit(await venue.sign_order(spec(3, Side.BUY, TimeInForce.IOC, ask + 50)))
            await venue.cancel("ETH", 1)
            seen = await orders_until(ws, {1: "canceled", 2: "canceled-post-only", 3: "filled"})
            assert seen[3]["filled_base_amount"] == "0.0500"
            assert seen[2]["filled_base_amount"] == "0.0000"
    finally:
        await signer.close()
