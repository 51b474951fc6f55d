"""The orchestrator's ledger gauges, read by SQL from a ledger holding known rows (each backend)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from perpflow.db import tables as t
from perpflow.db.ledger import Ledger
from perpflow.metrics.ledger import LedgerGauges
from workers.orchestrator import LEDGER_WORDS


def now() -> datetime:
    """At the test's run, not the suite's collection (ages are measured from the wall clock)."""
    return datetime.now(UTC)


def cycle(n: int, fleet: str, state: str, pnl: str, ended_at: datetime | None = None) -> t.HedgeCycle:
    return t.HedgeCycle(
        workflow_id=f"hedge-{fleet}-{n}", fleet=fleet, pair="p", seq=n, venue="lighter", market="ETH",
        maker_account=1, taker_account=2, state=state, realized_pnl=Decimal(pnl), fees=Decimal(0),
        ended_at=ended_at,
    )  # fmt: skip


def grid(name: str, state: str, profit: str, fees: str, funding: str, position: str) -> t.GridSession:
    return t.GridSession(
        workflow_id=f"grid-{name}", name=name, venue="lighter", market="ETH", account_index=1, state=state,
        realized_profit=Decimal(profit), fees=Decimal(fees), funding=Decimal(funding),
        position=Decimal(position),
    )  # fmt: skip


def payout(n: int, state: str, changed_s_ago: float) -> t.Payout:
    at = now() - timedelta(seconds=changed_s_ago)
    return t.Payout(
        workflow_id=f"payout-{n}", chain_id=31337, event_tx_hash=f"0x{n:064x}", event_log_index=0,
        event_block_number=n, user_address="0x" + "1" * 40, leverage_ratio=1500,
        liquidation_amount=Decimal(1), state=state, created_at=at, updated_at=at,
    )  # fmt: skip


def orphan(n: int, account: int, kind: str, resolved: bool = False) -> t.ReconcileOrphan:
    return t.ReconcileOrphan(
        key=f"k{n}", kind=kind, reason="no-owner", venue="lighter", account_name=f"a{account}",
        account_index=account, market="ETH", size=Decimal(1), opened_at=now(), opened_by="test",
        last_seen_at=now(), resolved_at=now() if resolved else None,
    )  # fmt: skip


def read(families: list[Any]) -> dict[str, dict[tuple[str, ...], float]]:
    return {f.name: {tuple(s.labels.values()): s.value for s in f.samples} for f in families}


async def test_the_ledger_gauges_count_states_sum_pnl_and_age_what_waits(ledger: Ledger) -> None:
    today = now()
    yesterday = datetime.combine(today.date(), datetime.min.time(), UTC) - timedelta(hours=1)
    async with ledger.session() as s:
        s.add_all([
            t.Account(name="a1", venue="lighter", account_index=1),
            t.Account(name="a2", venue="lighter", account_index=2),
            cycle(1, "A", "DONE", "1.0", today), cycle(2, "A", "DONE", "-0.25", today),
            cycle(3, "A", "DONE", "5", yesterday), cycle(4, "A", "HEDGING", "0"),
            cycle(5, "B", "FAILED", "-2", today),
            grid("g1", "RUNNING", "3", "0.5", "-0.75", "0.2"), grid("g2", "STOPPED", "1", "0", "0", "0.7"),
            payout(1, "CONFIRMING", 100), payout(2, "CONFIRMING", 10), payout(3, "DONE", 500),
            orphan(1, 1, "order"), orphan(2, 1, "order"), orphan(3, 1, "order", resolved=True),
        ])  # fmt: skip
    got = read(await LedgerGauges(ledger.engine, LEDGER_WORDS).read())

    cycles = got["perpflow_hedge_cycles"]
    assert cycles[("A", "DONE")] == 3 and cycles[("A", "HEDGING")] == 1 and cycles[("A", "QUOTING")] == 0
    assert cycles[("B", "FAILED")] == 1 and cycles[("B", "DONE")] == 0
    assert got["perpflow_fleet_realised_pnl_usd"] == {("A",): 5.75, ("B",): -2.0}
    assert got["perpflow_fleet_realised_pnl_today_usd"] == {("A",): 0.75, ("B",): -2.0}
    assert got["perpflow_hedge_pair_account"] == {  # the pair of the HEDGING cycle
        ("A", "p", "lighter", "1", "ETH", "maker"): 1, ("A", "p", "lighter", "2", "ETH", "taker"): 1,
    }  # fmt: skip

    sessions = got["perpflow_grid_sessions"]
    assert sessions[("RUNNING",)] == 1 and sessions[("STOPPED",)] == 1 and sessions[("PAUSED",)] == 0
    assert got["perpflow_grid_realised_pnl_usd"] == {("lighter", "1", "ETH"): pytest.approx(4.25)}
    assert got["perpflow_grid_position"] == {
        ("lighter", "1", "ETH"): pytest.approx(0.2)
    }  # the stopped one's is history

    payouts = got["perpflow_payouts"]
    assert payouts[("CONFIRMING",)] == 2 and payouts[("DONE",)] == 1 and payouts[("SENDING",)] == 0
    ages = got["perpflow_payouts_oldest_age_seconds"]
    assert 100 <= ages[("CONFIRMING",)] < 100 + 600 and ages[("SENDING",)] == 0
    assert ("DONE",) not in ages  # finished payouts do not wait

    assert got["perpflow_reconcile_orphans"] == {
        ("lighter", "1", "order"): 2, ("lighter", "1", "position"): 0,
        ("lighter", "2", "order"): 0, ("lighter", "2", "position"): 0,
    }  # fmt: skip


async def test_an_empty_ledger_still_has_every_state_series_at_zero(ledger: Ledger) -> None:
    got = read(await LedgerGauges(ledger.engine, LEDGER_WORDS).read())
    assert set(got["perpflow_payouts"]) == {(s,) for s in LEDGER_WORDS.payout_states}
    assert set(got["perpflow_grid_sessions"]) == {(s,) for s in LEDGER_WORDS.grid_states}
    assert not any(got["perpflow_payouts"].values())
