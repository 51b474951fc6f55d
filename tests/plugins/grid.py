"""Grid sessions on the real stack: a ladder sized to the sim's ETH book, the orchestrator worker a
session needs, and waiting on its status query."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError
from temporalio.worker import Worker

from activities.grid import GridActivities
from activities.market import MarketActivities
from activities.watches import WatchActivities
from perpflow import names
from perpflow.db.grid import GridSessions
from perpflow.db.ledger import Ledger
from perpflow.grid.models import GridStatus, LevelRow
from perpflow.venues.lighter.client import LighterVenue
from tests.plugins.hedge import signer_workers
from tests.plugins.marketdata import md_config, running
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount, best
from workflows.grid.session import GridSessionWorkflow


@dataclass(frozen=True)
class Ladder:
    """Seven levels, ``step`` apart, centred on the book's mid: level 3 is the gap at the price."""

    mid: Decimal
    step: Decimal
    size: Decimal
    tick: Decimal

    @classmethod
    async def around_the_book(cls, public: LighterVenue) -> Ladder:
        market = await public.market("ETH")
        tick = Decimal(1).scaleb(-market.price_decimals)
        bid, ask = await best(public)
        mid = ((bid + ask) / 2).quantize(tick)
        step = max((ask - bid) * 4, mid * Decimal("0.004")).quantize(tick)
        size = max(market.min_base_amount, (market.min_quote_amount * 2 / mid)).quantize(
            Decimal(1).scaleb(-market.size_decimals)
        )
        return cls(mid, step, size, tick)

    def config(self, name: str, account: SimAccount, **fields: Any) -> dict[str, Any]:
        """The session's raw JSON input, as an operator would start it."""
        return {
            "name": name,
            "account": {"account_index": account.account_index, "api_key_index": account.api_key_index},
            "market": "ETH",
            "lower": str(self.mid - 3 * self.step),
            "upper": str(self.mid + 3 * self.step),
            "levels": 7,
            "size": str(self.size),
            "reconcile_every_s": 5,
            "safety_poll_s": 5,
            **fields,
        }


def grid_orchestrator(
    client: Client, queue: str, public: LighterVenue, ledger: Ledger, state: Path
) -> Worker:
    """The orchestrator's part a session uses: the workflow, market reads, watches, ledger rows."""
    markets = MarketActivities(public)
    return Worker(
        client,
        task_queue=queue,
        workflows=[GridSessionWorkflow],
        activities=[
            markets.get_book_top,
            markets.get_market,
            *WatchActivities(ledger, state).all(),
            *GridActivities(GridSessions(ledger)).all(),
        ],
    )


@contextlib.asynccontextmanager
async def session_on_the_sim(
    client: Client,
    sim: SimHandle,
    venue: LighterVenue,
    account: SimAccount,
    ledger: Ledger,
    state: Path,
    config: dict[str, Any],
) -> AsyncIterator[WorkflowHandle[Any, GridStatus]]:
    """The session started from its raw config, with what it runs on: the orchestrator's part (on
    the sim's public API), the account's signer (``venue``) and the market-data service."""
    public, queue = LighterVenue(sim.url, 0), f"grid-{uuid.uuid4()}"
    workers = [grid_orchestrator(client, queue, public, ledger, state)]
    workers += signer_workers(client, venue, account, ledger)
    try:
        async with running(md_config(sim, state), client, ledger), workers[0], workers[1], workers[2]:
            yield await client.start_workflow(
                "GridSessionWorkflow", config, id=names.grid_session_id(config["name"]), task_queue=queue,
                result_type=GridStatus,
            )  # fmt: skip
    finally:
        await public.close()


async def until(
    handle: WorkflowHandle[Any, Any], check: Callable[[GridStatus], bool], what: str, timeout: float = 45
) -> GridStatus:
    """The session's status once ``check`` holds (a session still starting has none yet)."""
    deadline = asyncio.get_running_loop().time() + timeout
    status: GridStatus | None = None
    while True:
        with contextlib.suppress(WorkflowQueryFailedError):
            status = await handle.query("status", result_type=GridStatus)
        if status is not None and check(status):
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last status {status}")
        await asyncio.sleep(0.2)


def level(status: GridStatus, index: int) -> LevelRow:
    return status.levels[index]
