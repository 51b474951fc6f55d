"""The ledger on both backends: migrations, repositories, exact money."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from perpflow.db import tables as t
from perpflow.db.ledger import Ledger
from perpflow.db.migrate import current_revision, head_revision, upgrade
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
