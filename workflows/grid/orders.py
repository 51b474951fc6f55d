"""The session's orders on the venue: a plan carried out (cancels first, then the placements the
book wrote ahead, each under its own key), the venue's truth read back (reconcile, the safety-net
poll) and the mark.

Placements go to the venue in batch transactions (``place_orders``). A refused placement frees
its level (the book tries a new key later, after a pause that grows with each refusal in a row);
a batch left without an answer is sent again under the same keys, which the order gateway
recognises, so no level ever gets a second live order.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from perpflow import names
    from perpflow.grid.config import GridConfig
    from perpflow.grid.levels import LevelState
    from perpflow.grid.models import Cancel, Placement, Plan
    from perpflow.orders import AccountQuery, BookQuery, MarketQuery, OrderAck, OrderBatch
    from perpflow.orders.errors import REFUSALS
    from perpflow.orders.models import MAX_BATCH_INTENTS
    from perpflow.venues.types import MarketInfo
    from workflows.calls import (
        CANCEL_ORDER,
        GET_BOOK_TOP,
        GET_MARKET,
        GET_OPEN_ORDERS,
        GET_ORDER,
        GET_POSITION,
        PLACE_ORDERS,
    )
    from workflows.failures import root_cause, signer_absent, unknown_account, unless_cancelled
    from workflows.grid.run import GridRun
    from workflows.options import ORDER, SIGNER_PRESENT

# Sessions begun before it read every resting order at each safety poll, one activity each, even
# right after a reconcile had read them all; their runs keep doing so (their histories replay).
POLL_BY_OPEN_ORDERS = "grid-poll-by-open-orders"
# Sessions begun before it waited for ever on a signer queue nobody polls (an unknown account).
SIGNER_CHECK = "grid-signer-check"

REFUSED = frozenset(e.__name__ for e in REFUSALS) | {"Unrepresentable"}
PARALLEL = 5  # cancels sent at once
RETRY_S = 5.0  # an unanswered batch is sent again (same keys) after this, then longer
REFUSED_PAUSE_S = (2.0, 60.0)  # first and longest pause after refusals in a row
Answers = dict[str, OrderAck | None]  # by key: the ack, or None when the venue refused it


async def carry_out(run: GridRun, plan: Plan) -> None:
    """The cancels first, a few at a time, then the placements in batch transactions."""
    for i in range(0, len(plan.cancel), PARALLEL):
        await asyncio.gather(*(_cancel(run, c) for c in plan.cancel[i : i + PARALLEL]))
    if not plan.place:
        return
    refused = False
    for i in range(0, len(plan.place), MAX_BATCH_INTENTS):
        refused |= not await _send(run, plan.place[i : i + MAX_BATCH_INTENTS])
    run.refused = run.refused + 1 if refused else 0
    if refused:
        first, longest = REFUSED_PAUSE_S
        pause = min(first * 2 ** (run.refused - 1), longest)
        run.deadlines.hold(pause)


async def _send(run: GridRun, placements: list[Placement]) -> bool:
    """Place these orders until the venue answers; False when it refused any of them."""
    task = asyncio.ensure_future(_until_answered(run, placements))
    for placement in placements:
        run.inflight[placement.key] = (placement, task)
    try:
        # Shielded: a Temporal cancel must not abandon a send under way (it would rest unseen).
        answers = await asyncio.shield(task)
    finally:
        for placement in placements:
            run.inflight.pop(placement.key, None)
    landed = [_landed(run, placement, answers[placement.key]) for placement in placements]  # each one
    return all(landed)


async def _until_answered(run: GridRun, placements: list[Placement]) -> Answers:
    """One answer per placement; a batch without one is sent again under the same keys (the
    gateway looks up what an earlier attempt sent rather than sending it twice)."""
    batch = OrderBatch(intents=[run.book.intent(p) for p in placements])
    # Each order is a few ledger writes: a long ladder's batch gets the time it needs.
    timeout = timedelta(seconds=ORDER["start_to_close_timeout"].total_seconds() + len(placements) / 10)
    attempt, wid = 0, run.book.workflow_id
    while True:
        try:
            acks = await PLACE_ORDERS.run(batch, task_queue=run.send_queue(), start_to_close_timeout=timeout)
        except ActivityError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type in REFUSED:
                workflow.logger.warning("grid %s: %d orders refused: %s", wid, len(placements), cause)
                return {placement.key: None for placement in placements}
            attempt += 1
            workflow.logger.warning(
                "grid %s: %d orders unanswered: %s", wid, len(batch.intents), root_cause(exc)
            )
            await workflow.sleep(min(RETRY_S * attempt, 60.0))
            continue
        for ack in acks.acks:
            if ack.refusal:
                workflow.logger.warning("grid %s: %s refused: %s %s", wid, ack.key, ack.refusal, ack.reason)
        return {ack.key: None if ack.refusal else ack for ack in acks.acks}


def _landed(run: GridRun, placement: Placement, ack: OrderAck | None) -> bool:
    if ack is None:
        run.book.place_failed(placement.key)
        return False
    run.book.placed(placement.key, ack, workflow.now())
    return True


async def land_inflight(run: GridRun) -> None:
    """Wait for the placements under way and take in what they placed (a cancel does this)."""
    for placement, task in list(run.inflight.values()):
        _landed(run, placement, (await task)[placement.key])
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
    # With POLL_BY_OPEN_ORDERS the reconcile did what the poll does: the next poll waits too.
    polled = run.config.safety_poll_s if workflow.patched(POLL_BY_OPEN_ORDERS) else None
    run.deadlines.reconciled(run.config.reconcile_every_s, polled)


async def poll(run: GridRun) -> None:
    """The safety net under the fill signals: the venue's open orders read once, and the orders
    of the session no longer among them looked up (a fill whose signal never came)."""
    gone = run.book.tally.open_orders()
    if workflow.patched(POLL_BY_OPEN_ORDERS):
        query = AccountQuery(account_index=run.config.account.account_index, market=run.config.market)
        opened = await unless_cancelled(GET_OPEN_ORDERS.run(query, task_queue=run.read_queue()))
        resting = {ack.client_order_index for ack in opened.orders}
        gone = [coi for coi in gone if coi not in resting]
    await look_up(run, gone)
    run.deadlines.polled(run.config.safety_poll_s)


async def check_signer(config: GridConfig) -> None:
    """A new session's first read on its signer's queue, before it registers or places anything:
    if no signer takes it within ``SIGNER_PRESENT`` (an unknown account or key, a signer not
    running), the session fails by name, leaving nothing behind."""
    account = config.account
    queue = names.signer_read_queue(config.venue, account.account_index, account.api_key_index)
    query = AccountQuery(account_index=account.account_index, market=config.market)
    try:
        await unless_cancelled(
            GET_POSITION.run(query, task_queue=queue, schedule_to_start_timeout=SIGNER_PRESENT)
        )
    except ActivityError as exc:
        if signer_absent(exc):
            raise unknown_account(
                f"{config.venue} account {account.account_index} API key {account.api_key_index}", queue
            ) from None
        raise


async def read_market(config: GridConfig) -> MarketInfo:
    query = MarketQuery(market=config.market)
    reads = names.market_reads_queue(config.venue)
    try:
        return await unless_cancelled(GET_MARKET.run(query, task_queue=reads))
    except ActivityError as exc:
        raise ApplicationError(root_cause(exc), type="UnknownMarket", non_retryable=True) from None


async def read_mark(config: GridConfig, fallback: Decimal | None) -> Decimal:
    query = BookQuery(market=config.market, depth=1)
    reads = names.market_reads_queue(config.venue)
    book = (await unless_cancelled(GET_BOOK_TOP.run(query, task_queue=reads))).book
    mark = book.mid or fallback
    if mark is None:
        raise ApplicationError(f"no price in {config.market}: the book is empty", type="NoPrice")
    return mark
