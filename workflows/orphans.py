"""What the exposure reconciler does to a confirmed orphan: cancel an orphan order, or flatten an
orphan position with a reduce-only IOC of exactly its size (never more), priced off the book.

Each call is bounded (RECONCILE_ACTION): a failure is reported as this run's outcome, and the
next run looks again. The orphan's market and book are read on its venue's market queue (Lighter's
on the orchestrator's own, as they always were), its close sent on its account's signer queue.
"""

from __future__ import annotations

from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from perpflow import names
    from perpflow.hedge import pricing
    from perpflow.models import AccountRef
    from perpflow.orders import BookQuery, MarketQuery, OrderIntent, OrderRef
    from perpflow.reconcile.judge import flatten_size
    from perpflow.reconcile.models import AccountReport, ActionKind, ActionOutcome, Orphan
    from perpflow.venues.types import OrderKind, Side, TimeInForce
    from workflows.calls import CANCEL_ORDER, GET_BOOK_TOP, GET_MARKET, PLACE_ORDER
    from workflows.failures import root_cause
    from workflows.options import RECONCILE_ACTION, RECONCILE_READ


async def cancel_orphan(report: AccountReport, orphan: Orphan) -> ActionOutcome:
    account = report.account
    ref = OrderRef(
        account_index=account.account_index,
        market=orphan.market,
        client_order_index=orphan.client_order_index,
        order_index=orphan.order_index,
    )
    try:
        ack = await CANCEL_ORDER.run(ref, task_queue=_send_queue(account), preset=RECONCILE_ACTION)
    except ActivityError as exc:
        return ActionOutcome(
            key=orphan.key, action=ActionKind.CANCEL_ORDER, ok=False, detail=f"failed: {root_cause(exc)}"
        )
    views = [v for v in report.judgement.orders if v.client_order_index == orphan.client_order_index]
    seen = views[0].filled_size if views else ack.filled_size
    return ActionOutcome(
        key=orphan.key,
        action=ActionKind.CANCEL_ORDER,
        ok=ack.status.final,
        detail=f"now {ack.status}, {ack.remaining_size} left, {ack.filled_size} filled",
        size=ack.remaining_size if ack.status.final else Decimal(0),
        filled_since_seen=max(ack.filled_size - seen, Decimal(0)),
    )


async def flatten_orphan(report: AccountReport, orphan: Orphan, max_slippage: Decimal) -> ActionOutcome:
    """A reduce-only IOC of exactly the orphan (never more), its worst price off the book."""
    account = report.account
    venue = next((p.venue_size for p in report.judgement.positions if p.market == orphan.market), None)
    try:
        reads = names.market_reads_queue(account.venue)
        market = await GET_MARKET.run(
            MarketQuery(market=orphan.market), task_queue=reads, preset=RECONCILE_READ
        )
        size, why = flatten_size(orphan.size, venue or Decimal(0), market)
        if not size:
            return nothing_done(orphan, why)
        side = Side.SELL if orphan.size > 0 else Side.BUY
        query = BookQuery(market=orphan.market, depth=1)
        book = (await GET_BOOK_TOP.run(query, task_queue=reads, preset=RECONCILE_READ)).book
        reference = book.mid or (book.best_bid if side is Side.SELL else book.best_ask)
        if reference is None:
            return nothing_done(orphan, f"no book on {orphan.market} to bound the close's price")
        worst = pricing.worst_price(market, side, reference, max_slippage)
        intent = _close_intent(account, orphan.market, side, size, worst)
        ack = await PLACE_ORDER.run(intent, task_queue=_send_queue(account), preset=RECONCILE_ACTION)
    except ActivityError as exc:
        return ActionOutcome(key=orphan.key, action=ActionKind.FLATTEN, ok=False, detail=root_cause(exc))
    return ActionOutcome(
        key=orphan.key,
        action=ActionKind.FLATTEN,
        ok=ack.filled_size == size,
        detail=f"{side} {size} reduce-only IOC, worst {worst}: filled {ack.filled_size} (coi "
        f"{ack.client_order_index})",
        size=ack.filled_size,
    )


def nothing_done(orphan: Orphan, why: str) -> ActionOutcome:
    return ActionOutcome(key=orphan.key, action=ActionKind.NONE, ok=False, detail=why)


def _close_intent(account: AccountRef, market: str, side: Side, size: Decimal, worst: Decimal) -> OrderIntent:
    wid = workflow.info().workflow_id
    return OrderIntent(
        key=names.order_key(wid, f"flatten-{account.account_index}-{market}"),
        workflow_id=wid,
        venue=account.venue,
        account_index=account.account_index,
        market=market,
        side=side,
        kind=OrderKind.MARKET,
        tif=TimeInForce.IOC,
        size=size,
        price=worst,
        reduce_only=True,
    )


def _send_queue(account: AccountRef) -> str:
    assert account.api_key_index is not None
    return names.signer_queue(account.venue, account.account_index, account.api_key_index)
