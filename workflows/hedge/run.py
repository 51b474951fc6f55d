"""One run of a hedge cycle: its input, what it knows (``CycleProgress``, carried across
continue-as-new), the work under way, and the bookkeeping every step shares: state transitions,
ledger rows and alerts beside the orders, and the end."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from perpflow import names
    from perpflow.alerts.models import Severity
    from perpflow.hedge.models import (
        CycleParams,
        CycleProgress,
        CycleRecord,
        CycleResult,
        CycleState,
        HedgeCycleInput,
        LegAccount,
        Placement,
    )
    from perpflow.hedge.sizing import LegMarkets
    from perpflow.hedge.tally import Role
    from perpflow.marketdata.models import DeactivateWatches
    from perpflow.orders import OrderAck, OrderRef
    from perpflow.venues.base import VenueName
    from perpflow.venues.types import MarketInfo
    from workflows.alerts import raise_alert
    from workflows.calls import DEACTIVATE_WATCHES, RECORD_CYCLE
    from workflows.options import BESIDE, LEDGER

# Ledger rows are written at these transitions; QUOTING <-> HEDGING flips would only slow hedges.
RECORDED = frozenset(
    {CycleState.QUOTING, CycleState.HOLDING, CycleState.CLOSING, CycleState.UNWINDING, CycleState.CANCELLING}
)

# From this patch on, the CycleState search attribute lists a hedge under way as QUOTING and is
# written only when what it lists changes, so a hedge's own workflow task carries no visibility
# write (~6 ms of every fill -> hedge, bench_fill_to_hedge). The status query shows HEDGING.
HEDGING_UNLISTED = "hedging-unlisted"

# From this patch on, a quote or hedge too small in notional for its market (GRVT's min_notional,
# Lighter's min_quote_amount) is not sent (a refused quote would fail the cycle, a refused hedge
# unwind it): the quoting ends, the hedge waits for more fills. Sizes were always held to each
# market's lot and minimum size; those never change a one-market cycle's commands.
NOTIONAL_MINIMUMS = "hedge-notional-minimums"


class CycleRun:
    def __init__(self, inp: HedgeCycleInput, s: CycleProgress) -> None:
        self.inp, self.s = inp, s
        self.poll: workflow.ActivityHandle[OrderAck] | None = None  # the fill poll of a maker quote
        self.poll_coi = 0
        # Order placements under way: a cancel waits for them, so no order is sent unseen.
        self.inflight: dict[str, tuple[Placement, workflow.ActivityHandle[OrderAck]]] = {}
        self.recorder: asyncio.Task[None] | None = None  # ledger writes, one after the other
        # Alerts and watch changes: never holding up the orders, a few attempts, awaited at the end.
        self.beside: list[asyncio.Future[Any]] = []
        self.result: CycleResult | None = None
        self.hedging_unlisted = workflow.patched(HEDGING_UNLISTED)
        self.notional_minimums = workflow.patched(NOTIONAL_MINIMUMS)
        self.listed: CycleState | None = None  # the CycleState search attribute's value

    @property
    def params(self) -> CycleParams:
        assert self.s.params is not None
        return self.s.params

    @property
    def market(self) -> MarketInfo:
        """The maker leg's market."""
        assert self.s.market is not None
        return self.s.market

    @property
    def markets_known(self) -> bool:
        return self.s.market is not None and (not self.inp.cross or self.s.taker_market is not None)

    @property
    def sizes(self) -> LegMarkets:
        return LegMarkets(self.market, self.market_of(self.inp.taker))

    def price_floor(self, price: Decimal | None) -> Decimal | None:
        """The price a size's notional minimum is checked at (None: before that patch, none is)."""
        return price if self.notional_minimums else None

    @property
    def legs(self) -> tuple[LegAccount, LegAccount]:
        return self.inp.maker, self.inp.taker

    def own_positions(self) -> dict[LegAccount, Decimal]:
        return self.s.own_positions(self.legs)

    def leg_of(self, account_index: int) -> LegAccount:
        return self.inp.maker if account_index == self.inp.maker.account_index else self.inp.taker

    # -- where each leg trades: its venue, market, signer and market-data queues --------------------

    def is_maker(self, leg: LegAccount) -> bool:
        return leg.account_index == self.inp.maker.account_index

    def venue_of(self, leg: LegAccount) -> VenueName:
        return self.inp.venue_of(leg)

    def symbol_of(self, leg: LegAccount) -> str:
        return self.inp.market_of(leg)

    def market_of(self, leg: LegAccount) -> MarketInfo:
        if self.is_maker(leg) or not self.inp.cross:
            return self.market
        assert self.s.taker_market is not None
        return self.s.taker_market

    def ref(self, leg: LegAccount, coi: int) -> OrderRef:
        return OrderRef(account_index=leg.account_index, market=self.symbol_of(leg), client_order_index=coi)

    def send_queue(self, leg: LegAccount) -> str:
        return names.signer_queue(self.venue_of(leg), leg.account_index, leg.api_key_index)

    def read_queue(self, leg: LegAccount) -> str:
        return names.signer_read_queue(self.venue_of(leg), leg.account_index, leg.api_key_index)

    def market_queue(self, leg: LegAccount) -> str | None:
        """Where the leg's public market reads run (``names.market_reads_queue``)."""
        return names.market_reads_queue(self.venue_of(leg))

    # -- bookkeeping beside the orders ---------------------------------------------------------

    def enter(self, state: CycleState) -> None:
        was = self.s.state
        if self.s.move_to(state):
            workflow.logger.info("cycle %s %s -> %s", workflow.info().workflow_id, was, state)
        self._list(state)
        if state in RECORDED:
            self.record()

    def _list(self, state: CycleState) -> None:
        if not self.hedging_unlisted:
            workflow.upsert_search_attributes([names.CYCLE_STATE.value_set(state.value)])
            return
        listed = CycleState.QUOTING if state is CycleState.HEDGING else state
        if listed is not self.listed:
            workflow.upsert_search_attributes([names.CYCLE_STATE.value_set(listed.value)])
            self.listed = listed

    def record(self, result: CycleResult | None = None) -> None:
        """Ledger rows in order, beside the trading; the final one retries until it is written."""
        inp, s = self.inp, self.s
        maker, taker = inp.maker, inp.taker
        rec = CycleRecord(
            workflow_id=workflow.info().workflow_id, fleet=inp.fleet, pair=inp.pair, seq=inp.seq,
            venue=inp.venue_of(maker), market=inp.market_of(maker), maker_account=maker.account_index,
            taker_account=taker.account_index, state=s.state, realized_pnl=s.tally.realized(),
            fees=s.tally.fees(), result=result,
            taker_venue=inp.venue_of(taker) if inp.cross else None,
            taker_market=inp.market_of(taker) if inp.cross else None,
        )  # fmt: skip
        previous = self.recorder

        async def write() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            await RECORD_CYCLE.run(rec, preset=BESIDE if result is None else LEDGER)

        self.recorder = asyncio.ensure_future(write())

    def alert(self, severity: Severity, title: str, detail: str) -> None:
        self.beside.append(raise_alert(severity, title, detail))

    async def flush(self) -> None:
        """Wait for the ledger writes and alerts under way (a cancel does not interrupt them)."""
        pending = [t for t in (self.recorder, *self.beside) if t is not None]
        if pending:
            await asyncio.shield(asyncio.gather(*pending, return_exceptions=True))

    # -- the end -----------------------------------------------------------------------------------

    async def end(
        self, state: CycleState, reason: str, exposure: dict[LegAccount, Decimal] | None = None
    ) -> CycleResult:
        s = self.s
        s.reason = reason
        self.enter(state)
        if self.poll is not None and not self.poll.done():
            self.poll.cancel()
        self.result = CycleResult(
            workflow_id=workflow.info().workflow_id,
            state=state,
            reason=reason,
            maker_filled=s.tally.filled(Role.MAKER),
            hedged=s.tally.filled(Role.HEDGE),
            realized_pnl=s.tally.realized() if not exposure else Decimal(0),
            fees=s.tally.fees(),
            open_exposure={str(leg.account_index): size for leg, size in (exposure or {}).items()},
        )
        if s.hold_until is not None:
            self.beside.append(
                DEACTIVATE_WATCHES.start(DeactivateWatches(workflow_id=workflow.info().workflow_id))
            )
        self.record(self.result)
        await self.flush()
        return self.result

    async def fail(self, why: str) -> CycleResult:
        self.alert(Severity.CRITICAL, "cycle FAILED with open exposure", why)
        return await self.end(CycleState.FAILED, why, exposure=self.own_positions())
