"""The fill router reads owners ahead of their fills, and still looks up an order it has not read."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from perpflow.marketdata.delivery import Delivery
from perpflow.marketdata.fill_log import FillLog
from perpflow.marketdata.fills import FillRouter
from perpflow.signals import ORDER_FILLED
from perpflow.venues.base import VenueName
from perpflow.venues.types import Side, VenueFill

ACCOUNT = 7


class LedgerOrders:
    """The orders table: claimed rows in id order, each (account, client order index, workflow)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, str]] = []
        self.lookups = 0

    async def owners_since(
        self, venue: str, accounts: Collection[int], after_id: int | None
    ) -> tuple[dict[tuple[int, int], str], int]:
        if after_id is None:
            return {}, len(self.rows)
        new = [r for r in self.rows[after_id:] if r[0] in accounts]
        return {(a, coi): wid for a, coi, wid in new}, len(self.rows)

    async def by_client_index(self, venue: str, account_index: int, coi: int) -> Any:
        self.lookups += 1
        for a, c, wid in self.rows:
            if (a, c) == (account_index, coi):
                return SimpleNamespace(intent=SimpleNamespace(workflow_id=wid))
        return None


def fill(coi: int) -> VenueFill:
    return VenueFill(
        fill_id=f"f-{coi}", market="ETH", order_index=coi, client_order_index=coi, side=Side.BUY,
        price=Decimal(3000), size=Decimal("0.01"), is_maker=True, at=datetime.now(UTC),
    )  # fmt: skip


async def test_a_fill_of_an_order_read_ahead_goes_out_without_a_ledger_read() -> None:
    orders, sent = LedgerOrders(), list[Delivery]()
    router = FillRouter(orders, FillLog(None), sent.append, VenueName.LIGHTER)  # type: ignore[arg-type]
    orders.rows.append((ACCOUNT, 1, "wf-before"))  # claimed before the worker started
    await router.read_ahead([ACCOUNT])
    orders.rows += [(ACCOUNT, 2, "wf-ahead"), (ACCOUNT + 1, 3, "wf-other-account")]
    await router.read_ahead([ACCOUNT])
    orders.rows.append((ACCOUNT, 4, "wf-after"))  # claimed after the last refresh

    await router.on_fills(ACCOUNT, [fill(2)])
    assert [(d.workflow_id, d.signal) for d in sent] == [("wf-ahead", ORDER_FILLED)]
    assert orders.lookups == 0

    await router.on_fills(ACCOUNT, [fill(1), fill(4)])
    assert [d.workflow_id for d in sent[1:]] == ["wf-before", "wf-after"]
    assert orders.lookups == 2


async def test_a_fill_carries_its_markets_mid_as_the_router_reads_it() -> None:
    orders, sent = LedgerOrders(), list[Delivery]()
    mids = {"ETH": Decimal("2999.5")}
    router = FillRouter(orders, FillLog(None), sent.append, VenueName.LIGHTER, mids.get)  # type: ignore[arg-type]
    orders.rows.append((ACCOUNT, 1, "wf"))
    await router.on_fills(ACCOUNT, [fill(1)])
    assert [d.payload.mid for d in sent] == [Decimal("2999.5")]  # type: ignore[attr-defined]
