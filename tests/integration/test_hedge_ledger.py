"""A cross-venue cycle's hedge leg in the ledger (migration 0013), on both backends: added to a ledger
that already holds cycles, the rows of before read as hedging where their maker quotes (and the
pair-account gauge labels their taker so, as it did), a new cycle's taker venue and market are
written and read back and label its taker leg, and the migrated table is what the ORM declares."""

from __future__ import annotations

from decimal import Decimal

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from perpflow.alerts.status import snapshot
from perpflow.db.engine import sync_engine
from perpflow.db.hedge import HedgeCycles
from perpflow.db.ledger import Ledger
from perpflow.db.migrate import alembic_config, current_revision, head_revision, upgrade
from perpflow.db.tables import Base
from perpflow.hedge.models import CycleRecord, CycleResult, CycleState
from perpflow.metrics.ledger import LedgerGauges
from workers.orchestrator import LEDGER_WORDS

BEFORE = "0012"
OLD_ID = "hedge-old-20261201t000000-p0-0"


def a_cycle_recorded_before(url: str) -> None:
    """A live cycle's row as the ledger wrote it at 0012: the maker's venue and market only."""
    engine = sync_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO hedge_cycles (workflow_id, fleet, pair, seq, venue, market, maker_account,"
                    " taker_account, state, realized_pnl, fees, started_at)"
                    " VALUES (:id, 'old', 'p0', 0, 'lighter', 'ETH', 1, 2, 'HEDGING', 0, 0,"
                    " CURRENT_TIMESTAMP)"
                ),
                {"id": OLD_ID},
            )
    finally:
        engine.dispose()


def cycles_table_drift(url: str) -> list[object]:
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return [d for d in compare_metadata(context, Base.metadata) if "hedge_cycles" in repr(d)]
    finally:
        engine.dispose()


def cross_cycle(state: CycleState, result: CycleResult | None = None) -> CycleRecord:
    """A GRVT maker hedged on Lighter."""
    return CycleRecord(
        workflow_id="hedge-x-20261204t000000-g2l-0", fleet="x", pair="g2l", seq=0, venue="grvt",
        market="ETH_USDT_Perp", maker_account=8289849667772468, taker_account=7, taker_venue="lighter",
        taker_market="ETH", state=state, result=result,
    )  # fmt: skip


async def pair_accounts(ledger: Ledger) -> dict[tuple[str, ...], float]:
    families = await LedgerGauges(ledger.engine, LEDGER_WORDS).read()
    family = next(f for f in families if f.name == "perpflow_hedge_pair_account")
    return {tuple(s.labels.values()): s.value for s in family.samples}


async def test_0013_records_the_taker_leg_in_a_ledger_that_already_holds_cycles(fresh_url: str) -> None:
    upgrade(fresh_url, BEFORE)
    a_cycle_recorded_before(fresh_url)
    upgrade(fresh_url)
    assert cycles_table_drift(fresh_url) == []
    ledger = Ledger(fresh_url)
    try:
        cycles = HedgeCycles(ledger)
        old = await cycles.get(OLD_ID)
        assert old is not None and (old.venue, old.market) == ("lighter", "ETH")
        assert (old.taker_venue, old.taker_market) == (None, None)
        await cycles.save(cross_cycle(CycleState.HEDGING))
        assert await pair_accounts(ledger) == {
            ("old", "p0", "lighter", "1", "ETH", "maker"): 1,
            ("old", "p0", "lighter", "2", "ETH", "taker"): 1,
            ("x", "g2l", "grvt", "8289849667772468", "ETH_USDT_Perp", "maker"): 1,
            ("x", "g2l", "lighter", "7", "ETH", "taker"): 1,
        }  # fmt: skip
        result = CycleResult(
            workflow_id="hedge-x-20261204t000000-g2l-0", state=CycleState.DONE, reason="held",
            maker_filled=Decimal("0.05"), hedged=Decimal("0.05"), realized_pnl=Decimal("-0.12"),
            fees=Decimal("0.02"),
        )  # fmt: skip
        await cycles.save(cross_cycle(CycleState.DONE, result))
        assert await cycles.get(result.workflow_id) == cross_cycle(CycleState.DONE, result)
    finally:
        await ledger.close()
    command.downgrade(alembic_config(fresh_url), BEFORE)
    upgrade(fresh_url)
    assert current_revision(fresh_url) == head_revision()


async def test_a_cycle_in_flight_across_the_upgrade_gets_its_taker_leg_at_its_next_write(
    fresh_url: str,
) -> None:
    upgrade(fresh_url, BEFORE)
    a_cycle_recorded_before(fresh_url)
    upgrade(fresh_url)
    ledger = Ledger(fresh_url)
    try:
        cycles = HedgeCycles(ledger)
        rec = CycleRecord(
            workflow_id=OLD_ID, fleet="old", pair="p0", seq=0, venue="lighter", market="ETH", maker_account=1,
            taker_account=2, taker_venue="grvt", taker_market="ETH_USDT_Perp", state=CycleState.HOLDING,
        )  # fmt: skip
        await cycles.save(rec)
        assert await cycles.get(OLD_ID) == rec
        assert ("old", "p0", "grvt", "2", "ETH_USDT_Perp", "taker") in await pair_accounts(ledger)
    finally:
        await ledger.close()


async def test_the_status_report_shows_each_open_leg_on_its_own_venue_and_market(ledger: Ledger) -> None:
    """A failed cross-venue cycle left exposure on both legs; a one-venue cycle's row (no taker
    venue) on the maker's venue for both, as before."""
    cycles = HedgeCycles(ledger)
    exposure = {"8289849667772468": Decimal("0.05"), "7": Decimal("-0.05")}
    left = CycleResult(
        workflow_id="hedge-x-20261204t000000-g2l-0", state=CycleState.FAILED, reason="venue down",
        maker_filled=Decimal("0.05"), hedged=Decimal("0.05"), realized_pnl=Decimal(0), fees=Decimal(0),
        open_exposure=exposure,
    )  # fmt: skip
    await cycles.save(cross_cycle(CycleState.FAILED, left))
    one_venue = CycleRecord(
        workflow_id="hedge-one-20261204t000000-p1-0", fleet="one", pair="p1", seq=0, venue="lighter",
        market="ETH", maker_account=3, taker_account=4, state=CycleState.FAILED,
        result=left.model_copy(update={"workflow_id": "hedge-one-20261204t000000-p1-0",
                                       "open_exposure": {"4": Decimal("-0.01")}}),
    )  # fmt: skip
    await cycles.save(one_venue)
    positions = (await snapshot(ledger)).positions
    assert sorted((p.owner, p.venue, p.account, p.market, p.size) for p in positions) == [
        (one_venue.workflow_id, "lighter", "4", "ETH", Decimal("-0.01")),
        (left.workflow_id, "grvt", "8289849667772468", "ETH_USDT_Perp", Decimal("0.05")),
        (left.workflow_id, "lighter", "7", "ETH", Decimal("-0.05")),
    ]
