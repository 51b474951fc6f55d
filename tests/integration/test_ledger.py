"""The ledger on both backends: migrations, repositories, exact money."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from perpflow.db import tables as t
from perpflow.db.hedge import HedgeCycles
from perpflow.db.ledger import Ledger
from perpflow.db.migrate import current_revision, head_revision, upgrade
from perpflow.hedge.errors import CycleIdReused
from perpflow.hedge.models import CycleRecord, CycleState
from perpflow.models import AccountRef, AuditEntry


async def test_schema_is_at_the_latest_revision(ledger: Ledger) -> None:
    assert await ledger.schema_revision() == head_revision()
    assert await ledger.ping() >= 0


def test_migrations_are_idempotent(ledger_url: str) -> None:
    upgrade(ledger_url)
    assert current_revision(ledger_url) == head_revision()


async def test_accounts_upsert_and_list(ledger: Ledger) -> None:
    await ledger.upsert_account(AccountRef(name="a1", venue="lighter", account_index=7, api_key_index=3))
    await ledger.upsert_account(AccountRef(name="a1", venue="lighter", account_index=7, api_key_index=4))
    await ledger.upsert_account(AccountRef(name="b1", venue="grvt", account_index=8))
    assert [a.api_key_index for a in await ledger.accounts("lighter")] == [4]
    assert [a.name for a in await ledger.accounts()] == ["a1", "b1"]


async def test_audit_keeps_operator_actions_newest_first(ledger: Ledger) -> None:
    for action in ("pause", "resume"):
        await ledger.record_audit(
            AuditEntry(
                at=datetime.now(UTC), actor="ops", action=action, target="fleet-a", detail={"why": "test"}
            )
        )
    log = await ledger.audit_log()
    assert [e.action for e in log] == ["resume", "pause"]
    assert log[0].at.tzinfo is not None


async def test_money_is_exact_on_every_backend(ledger: Ledger) -> None:
    price = Decimal("3001.123456789012345678")
    async with ledger.session() as s:
        s.add(t.Position(venue="lighter", account_index=1, market="ETH", size=Decimal("0.1") + Decimal("0.2"),
                         avg_entry_price=price))  # fmt: skip
    async with ledger.session() as s:
        row = await s.scalar(select(t.Position))
    assert row is not None
    assert row.size == Decimal("0.3")
    assert row.avg_entry_price == price


async def test_an_intent_key_maps_to_one_order(ledger: Ledger) -> None:
    def intent(coi: int) -> t.Order:
        return t.Order(
            idempotency_key="wf/maker-0", workflow_id="wf", venue="lighter", account_index=1, market="ETH",
            side="buy", order_type="limit", time_in_force="post_only", size=Decimal(1),
            client_order_index=coi,
        )  # fmt: skip

    async with ledger.session() as s:
        s.add(intent(1))
    with pytest.raises(IntegrityError):
        async with ledger.session() as s:
            s.add(intent(2))


def _cycle(state: CycleState, pnl: str, *, seq: int = 0) -> CycleRecord:
    return CycleRecord(
        workflow_id="hedge-f-20261130t120000-p1-0", fleet="f", pair="p1", seq=seq, venue="lighter",
        market="ETH", maker_account=1, taker_account=2, state=state, realized_pnl=Decimal(pnl),
    )  # fmt: skip


async def test_a_final_cycle_row_is_never_overwritten(ledger: Ledger) -> None:
    cycles = HedgeCycles(ledger)
    await cycles.save(_cycle(CycleState.QUOTING, "0"))
    await cycles.save(_cycle(CycleState.DONE, "-0.376"))
    await cycles.save(_cycle(CycleState.CLOSING, "0"))  # a late write of an earlier state
    async with ledger.session() as s:
        row = await s.get(t.HedgeCycle, "hedge-f-20261130t120000-p1-0")
    assert row is not None
    assert (row.state, row.realized_pnl) == (CycleState.DONE, Decimal("-0.376"))


async def test_another_cycle_under_a_used_id_is_refused(ledger: Ledger) -> None:
    cycles = HedgeCycles(ledger)
    await cycles.save(_cycle(CycleState.DONE, "1"))
    with pytest.raises(CycleIdReused):
        await cycles.save(_cycle(CycleState.QUOTING, "0", seq=5))
