"""The session's orders on the venue: a plan carried out (cancels first, then the placements the
book wrote ahead, each under its own key), the venue's truth read back (reconcile, the safety-net
poll) and the mark.

A refused placement frees its level (the book tries a new key later, after a pause that grows
with each refusal in a row); an ambiguous failure is retried under the same key, which the order
gateway recognises, so no level ever gets a second live order.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from perpflow.grid.levels import LevelState
    from perpflow.grid.models import Cancel, Placement, Plan
    from perpflow.orders import AccountQuery, BookQuery, MarketQuery, OrderAck
    from perpflow.orders.errors import REFUSALS
    from perpflow.venues.types import MarketInfo
    from workflows.calls import (
        CANCEL_ORDER,
        GET_BOOK_TOP,
        GET_MARKET,
        GET_OPEN_ORDERS,
        GET_ORDER,
        GET_POSITION,
        PLACE_ORDER,
    )
    from workflows.failures import root_cause, unless_cancelled
    from workflows.grid.run import GridRun

REFUSED = frozenset(e.__name__ for e in REFUSALS) | {"Unrepresentable"}
# Orders sent (or cancelled) at once: a batch activity can take this step's place, the rest stays.
PARALLEL = 5
RETRY_S = 5.0  # an ambiguous placement is sent again (same key) after this, then longer
REFUSED_PAUSE_S = (2.0, 60.0)  # first and longest pause after refusals in a row


async def carry_out(run: GridRun, plan: Plan) -> None:
    """The cancels first, then the placements, a few at a time."""
    for i in range(0, len(plan.cancel), PARALLEL):
        await asyncio.gather(*(_cancel(run, c) for c in plan.cancel[i : i + PARALLEL]))
    refused = False
    for i in range(0, len(plan.place), PARALLEL):
        batch = [_send(run, p) for p in plan.place[i : i + PARALLEL]]
        refused |= not all(await asyncio.gather(*batch))
    if plan.place:
        run.refused = run.refused + 1 if refused else 0
        if refused:
            first, longest = REFUSED_PAUSE_S
            pause = min(first * 2 ** (run.refused - 1), longest)
            run.hold_until = workflow.now() + timedelta(seconds=pause)


async def _send(run: GridRun, placement: Placement) -> bool:
    """Place one order until the venue answers; False when it refused it."""
    task = asyncio.ensure_future(_until_answered(run, placement))
    run.inflight[placement.key] = (placement, task)
    try:
        # Shielded: a Temporal cancel must not abandon a send under way (it would rest unseen).
        ack = await asyncio.shield(task)
    finally:
        run.inflight.pop(placement.key, None)
    return _landed(run, placement, ack)


async def _until_answered(run: GridRun, placement: Placement) -> OrderAck | None:
    """The ack, or None when refused; anything else is sent again under the same key."""
    intent = run.book.intent(placement)
    attempt = 0
    while True:
        try:
            return await PLACE_ORDER.run(intent, task_queue=run.send_queue())
        except ActivityError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type in REFUSED:
                workflow.logger.warning("grid %s: %s refused: %s", run.book.workflow_id, intent.key, cause)
                return None
            attempt += 1
            workflow.logger.warning(
                "grid %s: %s unanswered: %s", run.book.workflow_id, intent.key, root_cause(exc)
            )
            await workflow.sleep(min(RETRY_S * attempt, 60.0))


def _landed(run: GridRun, placement: Placement, ack: OrderAck | None) -> bool:
    if ack is None:
        run.book.place_failed(placement.key)
        return False
    run.book.placed(placement.key, ack, workflow.now())
    return True


async def land_inflight(run: GridRun) -> None:
    """Wait for the placements under way and take in what they placed (a cancel does this)."""
    for placement, task in list(run.inflight.values()):
        _landed(run, placement, await task)
    run.inflight.clear()


async def _cancel(run: GridRun, cancel: Cancel) -> None:
    coi = cancel.client_order_index
    try:
        # Shielded: a Temporal cancel lets it finish; the stop's reconcile reads how it ended.
        ack = await asyncio.shield(CANCEL_ORDER.run(run.book.order_ref(coi), task_queue=run.send_queue()))
    except ActivityError as exc:  # the reconcile's look-up settles it
        workflow.logger.warning("grid %s: cancel %s failed: %s", run.book.workflow_id, coi, root_cause(exc))
        run.reconcile_due = True
        return
    run.book.apply(ack, workflow.now())


async def look_up(run: GridRun, cois: list[int]) -> None:
    """How orders the venue no longer shows ended (filled or cancelled), into the book."""
    for coi in cois:
        try:
            ack = await unless_cancelled(GET_ORDER.run(run.book.order_ref(coi), task_queue=run.read_queue()))
        except ActivityError as exc:
            workflow.logger.warning(
                "grid %s: look-up %s failed: %s", run.book.workflow_id, coi, root_cause(exc)
            )
            continue
        run.book.apply(ack, workflow.now())


async def reconcile(run: GridRun) -> None:
    """The book against the venue: own orders adopted, own orphans cancelled, other orders left
    alone, the position audited."""
    book, query = (
        run.book,
        AccountQuery(account_index=run.config.account.account_index, market=run.config.market),
    )
    opened, snapshot = await asyncio.gather(
        unless_cancelled(GET_OPEN_ORDERS.run(query, task_queue=run.read_queue())),
        unless_cancelled(GET_POSITION.run(query, task_queue=run.read_queue())),
    )
    position = next((p.size for p in snapshot.account.positions if p.market == run.config.market), Decimal(0))
    report = book.reconcile(opened.orders, position, workflow.now())
    # A level still cancelling whose order still rests: its cancel was lost, send it again.
    resting = {ack.client_order_index for ack in opened.orders}
    again = [
        Cancel(client_order_index=lv.client_order_index, level=lv.index)
        for lv in book.levels
        if lv.state is LevelState.CANCELLING and lv.client_order_index in resting
    ]
    for cancel in report.cancel + again:
        await _cancel(run, cancel)
    await look_up(run, report.look_up)
    workflow.logger.info(
        "grid %s reconciled: adopted %s, orphans %s, gone %s, foreign %s, position %s (levels %s, drift %s)",
        book.workflow_id, report.adopted, [c.client_order_index for c in report.cancel], report.look_up,
        report.foreign, report.audit.actual, report.audit.expected, report.audit.drift,
    )  # fmt: skip
    run.reconcile_due = False
    run.next_reconcile = workflow.now() + timedelta(seconds=run.config.reconcile_every_s)


async def poll(run: GridRun) -> None:
    """The safety net under the fill signals: each resting order of the session, read once."""
    await look_up(run, run.book.tally.open_orders())
    run.next_poll = workflow.now() + timedelta(seconds=run.config.safety_poll_s)


async def read_market(market: str) -> MarketInfo:
    try:
        return await unless_cancelled(GET_MARKET.run(MarketQuery(market=market)))
    except ActivityError as exc:
        raise ApplicationError(root_cause(exc), type="UnknownMarket", non_retryable=True) from None


async def read_mark(run_market: str, fallback: Decimal | None) -> Decimal:
    book = (await unless_cancelled(GET_BOOK_TOP.run(BookQuery(market=run_market, depth=1)))).book
    mark = book.mid or fallback
    if mark is None:
        raise ApplicationError(f"no price in {run_market}: the book is empty", type="NoPrice")
    return mark
