"""The cycle's orders on its two legs: placed under business keys, tracked in the tally from the
acknowledgement on, cancelled by client order index; and the venue reads they are priced from."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from perpflow import names
    from perpflow.hedge.models import LegAccount, Placement
    from perpflow.hedge.tally import Role
    from perpflow.orders import AccountQuery, BookQuery, MarketQuery, OrderAck, OrderIntent
    from perpflow.venues.types import Book, MarketInfo, OrderKind, Side, TimeInForce
    from workflows.calls import CANCEL_ORDER, GET_BOOK_TOP, GET_MARKET, GET_POSITION, PLACE_ORDER
    from workflows.failures import root_cause, signer_absent, unknown_account, unless_cancelled
    from workflows.hedge.run import CycleRun
    from workflows.options import SIGNER_PRESENT


async def place(
    run: CycleRun,
    leg: LegAccount,
    step: str,
    *,
    side: Side,
    kind: OrderKind,
    tif: TimeInForce,
    size: Decimal,
    price: Decimal,
    role: Role,
    reduce_only: bool = False,
    deadline_s: float | None = None,
    hedges_fill_at: datetime | None = None,
) -> OrderAck:
    wid = workflow.info().workflow_id
    intent = OrderIntent(
        key=names.order_key(wid, step),
        workflow_id=wid,
        venue=run.venue_of(leg),
        account_index=leg.account_index,
        market=run.symbol_of(leg),
        side=side,
        kind=kind,
        tif=tif,
        size=size,
        price=price,
        reduce_only=reduce_only,
        hedges_fill_at=hedges_fill_at,
    )
    handle = PLACE_ORDER.start(
        intent,
        task_queue=run.send_queue(leg),
        schedule_to_close_timeout=None if deadline_s is None else timedelta(seconds=deadline_s),
    )
    # A resting post-only order pays the maker fee; anything that crosses pays the taker fee.
    market = run.market_of(leg)
    fee = market.maker_fee if tif is TimeInForce.POST_ONLY else market.taker_fee
    placed = Placement(
        key=intent.key, leg=leg, role=role, side=side, fee_rate=fee / 100
    )  # fees are in percent
    run.inflight[intent.key] = (placed, handle)
    try:
        # Shielded: a Temporal cancel must not abandon a send under way (it would rest unseen).
        ack: OrderAck = await asyncio.shield(handle)
    except ActivityError:
        del run.inflight[intent.key]
        raise
    del run.inflight[intent.key]
    run.s.track(placed, ack)
    return ack


async def land_inflight(run: CycleRun) -> None:
    """Wait for the placements under way and track what they placed (a cancel closes them too)."""
    for placed, handle in list(run.inflight.values()):
        with contextlib.suppress(ActivityError):
            run.s.track(placed, await handle)


async def cancel(run: CycleRun, leg: LegAccount, coi: int) -> None:
    """Cancel one order; its final state (with any fill that raced the cancel) goes in the tally."""
    ref = run.ref(leg, coi)
    run.s.apply(await unless_cancelled(CANCEL_ORDER.run(ref, task_queue=run.send_queue(leg))))


async def cancel_open_orders(run: CycleRun) -> None:
    for coi in run.s.tally.open_orders():
        await cancel(run, run.leg_of(run.s.tally.orders[coi].account_index), coi)


async def read_markets(run: CycleRun) -> None:
    """Each leg's market rules (one read when both legs trade one market)."""
    run.s.market = await _read_market(run, run.inp.maker)
    if run.inp.cross:
        run.s.taker_market = await _read_market(run, run.inp.taker)


async def _read_market(run: CycleRun, leg: LegAccount) -> MarketInfo:
    query = MarketQuery(market=run.symbol_of(leg))
    try:
        return await unless_cancelled(GET_MARKET.run(query, task_queue=run.market_queue(leg)))
    except ActivityError as exc:
        why = root_cause(exc)
        if run.inp.cross:
            why = f"{run.venue_of(leg)} market {query.market}: {why}"
        raise ApplicationError(why, type="UnknownMarket", non_retryable=True) from None


async def read_book(run: CycleRun, depth: int, leg: LegAccount | None = None) -> Book:
    """The book of ``leg``'s market (the maker's by default)."""
    leg = leg or run.inp.maker
    query = BookQuery(market=run.symbol_of(leg), depth=depth)
    return (await unless_cancelled(GET_BOOK_TOP.run(query, task_queue=run.market_queue(leg)))).book


async def mark(run: CycleRun, leg: LegAccount | None = None) -> Decimal:
    """The mid of ``leg``'s market (the maker's by default), or the last one seen there."""
    leg = leg or run.inp.maker
    book, s = await read_book(run, 1, leg), run.s
    if run.is_maker(leg) or not run.inp.cross:
        s.last_mark = book.mid or s.last_mark or s.tally.avg_price(Role.MAKER)
        assert s.last_mark is not None
        return s.last_mark
    s.taker_mark = book.mid or s.taker_mark or s.tally.avg_price(Role.HEDGE) or s.tally.avg_price(Role.MAKER)
    assert s.taker_mark is not None
    return s.taker_mark


async def marks(run: CycleRun) -> dict[LegAccount, Decimal]:
    """Each leg's mark: each is valued on its own market (one read when they share it)."""
    maker, taker = run.legs
    price = await mark(run, maker)
    return {maker: price, taker: await mark(run, taker) if run.inp.cross else price}


async def check_signers(run: CycleRun) -> None:
    """A first read on each leg's queue: an unknown account or key fails now, by name."""
    for leg in run.legs:
        queue = run.read_queue(leg)
        query = AccountQuery(account_index=leg.account_index, market=run.symbol_of(leg))
        where = f"{run.venue_of(leg)} " if run.inp.cross else ""
        try:
            await unless_cancelled(
                GET_POSITION.run(query, task_queue=queue, schedule_to_start_timeout=SIGNER_PRESENT)
            )
        except ActivityError as exc:
            if signer_absent(exc):
                what = f"{where}account {leg.account_index} API key {leg.api_key_index}"
                raise unknown_account(what, queue) from None
            why = f"{where}account {leg.account_index}: {root_cause(exc)}"
            raise ApplicationError(why, type="UnknownAccount", non_retryable=True) from None
