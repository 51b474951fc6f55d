"""Rate budget of a grid's ladder: venue requests and wall time to place one ladder of post-only
levels through place_orders (the venue's batch transactions), against the naive one request per
order (sign + sendTx each, on the same client), with perpflow's place_order per level beside; and
the requests of one refill (a fill's re-armed order: place_orders with one order).

Each placement goes to a fresh sim account through a warm venue client (markets and nonce known,
as a signer's are); the client's rate budget counts its REST requests. perpflow's paths run as the
signer runs them: the account's live view (``account_all`` + ``account_all_orders`` on one
websocket, whose frames are not REST requests) is ready before the count starts, so the risk
check's position and an order's fate after its sendTx come from the view.
Target: place_orders <= 0.25x the naive requests per ladder, <= 1.0 request per fill.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import lighter
from harness import backend, bench_ledger, pct, sim_process
from pydantic import SecretStr
from temporalio.testing import ActivityEnvironment

from activities.orders import OrderActivities
from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.orders import OrderBatch, OrderIntent
from perpflow.orders.ledger import OrderRecord
from perpflow.orders.status import OrderState
from perpflow.risk import RiskLimits
from perpflow.sim.admin_client import SimAdmin
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.ratelimit import RateBudget
from perpflow.venues.types import Side, TimeInForce

LEVELS = (20, 100)
ROUNDS = 5
KEY = 3
TARGET = 0.25
PER_FILL_TARGET = 1.0
env = ActivityEnvironment()


@dataclass
class Placement:
    requests: int
    wall_ms: float


Placer = Callable[[LighterVenue, Ledger, OrderBatch], Awaitable[object]]


async def naive(venue: LighterVenue, _: Ledger, batch: OrderBatch) -> None:
    """One sendTx per order, nothing else: no ledger, no risk check, no look-up."""
    for coi, intent in enumerate(batch.intents, start=1):
        spec = OrderRecord(intent=intent, client_order_index=coi, status=OrderState.INTENT).spec()
        await venue.submit(await venue.sign_order(spec))


def _activities(venue: LighterVenue, ledger: Ledger) -> OrderActivities:
    return OrderActivities(venue, Orders(ledger), RiskLimits())


async def place_order_each(venue: LighterVenue, ledger: Ledger, batch: OrderBatch) -> None:
    acts = _activities(venue, ledger)
    for intent in batch.intents:
        await env.run(acts.place_order, intent)


async def place_orders(venue: LighterVenue, ledger: Ledger, batch: OrderBatch) -> None:
    await env.run(_activities(venue, ledger).place_orders, batch)


NAIVE, BATCHED = "naive: one sendTx per order", "perpflow: place_orders (the ladder)"
PATHS: dict[str, Placer] = {
    NAIVE: naive,
    "perpflow: place_order per level": place_order_each,
    BATCHED: place_orders,
}


def ladder(account_index: int, top: Decimal, levels: int) -> OrderBatch:
    run = uuid.uuid4().hex[:8]
    return OrderBatch(
        intents=[
            OrderIntent(
                key=f"bench-ladder-{run}/L{i}-g0",
                workflow_id=f"bench-ladder-{run}",
                account_index=account_index,
                market="ETH",
                side=Side.BUY,
                tif=TimeInForce.POST_ONLY,
                size=Decimal("0.05"),
                price=top - Decimal(i) / 100,
            )
            for i in range(levels)
        ]
    )


async def warm_venue(url: str, admin: SimAdmin) -> tuple[LighterVenue, RateBudget]:
    """A fresh account's client with its markets and nonce read, its count at zero (and the view,
    if ``measure`` runs one, ready: the view reads nothing by REST)."""
    private_key, public_key, err = lighter.create_api_key()
    assert err is None, err
    index = await admin.create_account("1000000", {KEY: public_key})
    budget = RateBudget(per_minute=1e12)  # holds nothing back; its requests count them
    venue = LighterVenue(
        url, index, api_key_index=KEY, private_key=SecretStr(private_key), budget=budget, weighted=False
    )
    await venue.markets()
    await venue.refresh_nonce()
    budget.requests = 0
    return venue, budget


async def measure(
    path: Placer, *, url: str, admin: SimAdmin, ledger: Ledger, top: Decimal, levels: int, view: bool = False
) -> Placement:
    venue, budget = await warm_venue(url, admin)
    stop = asyncio.Event()
    following = asyncio.create_task(venue.follow(stop)) if view else None
    try:
        if view:
            assert venue.account_view is not None
            await asyncio.wait_for(venue.account_view.until_ready(), 30)
            assert budget.requests == 0, "the view made a REST request"
        batch = ladder(venue.account_index, top, levels)
        t0 = time.perf_counter()
        await path(venue, ledger, batch)
        placement = Placement(budget.requests, (time.perf_counter() - t0) * 1000)
        placed = await venue.open_orders("ETH")
        assert len(placed) == levels, f"{len(placed)} of {levels} levels open"
        return placement
    finally:
        stop.set()
        if following is not None:
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)
        await venue.close()


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, sim_process() as url, bench_ledger(Path(tmp)) as ledger_url:
        admin, ledger = SimAdmin(url), Ledger(ledger_url)
        reader = LighterVenue(url, 0)
        try:
            book = await reader.book("ETH", 1)
            top = (book.best_bid or Decimal(3000)) - 50  # post-only, well below the touch
            results: dict[tuple[int, str], list[Placement]] = {
                (n, name): [] for n in LEVELS for name in PATHS
            }
            for _ in range(ROUNDS):  # the paths interleaved, so a change of load falls on each alike
                for (levels, name), runs in results.items():
                    runs.append(
                        await measure(
                            PATHS[name],
                            url=url,
                            admin=admin,
                            ledger=ledger,
                            top=top,
                            levels=levels,
                            view=name != NAIVE,
                        )
                    )
            refills = [
                await measure(place_orders, url=url, admin=admin, ledger=ledger, top=top, levels=1, view=True)
                for _ in range(ROUNDS)
            ]
        finally:
            await reader.close()
            await admin.close()
            await ledger.close()
    print(
        f"Grid ladder placement: post-only levels on a fresh sim account, warm client, {ROUNDS} rounds "
        f"interleaved (ledger on {backend(ledger_url)}); requests counted by the venue client"
    )
    print(
        f"{'levels':>6}  {'path':<38}{'requests':>9}{'per order':>10}{'ratio':>8}{'wall p50':>12}{'ratio':>8}"
    )
    ratios: dict[int, float] = {}
    for levels in LEVELS:
        base = results[(levels, NAIVE)]
        base_req, base_wall = max(p.requests for p in base), pct([p.wall_ms for p in base], 50)
        for name in PATHS:
            runs = results[(levels, name)]
            req, wall = max(p.requests for p in runs), pct([p.wall_ms for p in runs], 50)
            print(
                f"{levels:>6}  {name:<38}{req:>9}{req / levels:>10.2f}{req / base_req:>7.2f}x"
                f"{wall:>9.1f} ms{wall / base_wall:>7.2f}x"
            )
        ratios[levels] = max(p.requests for p in results[(levels, BATCHED)]) / base_req
    met = "met" if all(r <= TARGET for r in ratios.values()) else "MISSED"
    cells = ", ".join(f"{levels} levels {r:.2f}x" for levels, r in ratios.items())
    print(f"place_orders requests per ladder vs naive: {cells} (target <= {TARGET}x: {met})")
    per_fill = max(p.requests for p in refills)
    met = "met" if per_fill <= PER_FILL_TARGET else "MISSED"
    print(
        f"requests per fill (its refill: place_orders with one order; naive 1): {per_fill} "
        f"(target <= {PER_FILL_TARGET:g}: {met}), wall p50 {pct([p.wall_ms for p in refills], 50):.1f} ms; "
        "the signer's live account view ready: the risk check's position and the order's fate after "
        "its sendTx read from account_all / account_all_orders, the sendTx the one request"
    )


if __name__ == "__main__":
    asyncio.run(main())
