"""The orders table keeps each signed order before its send (migration 0012), on both ledger backends:
added to a ledger that already holds orders, the rows of before read as having no stored bytes (a
resend signs them again, as it did), new rows keep every field of the signed order, and the
migrated table is what the ORM declares."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from perpflow.db.engine import sync_engine
from perpflow.db.ledger import Ledger
from perpflow.db.migrate import alembic_config, current_revision, head_revision, upgrade
from perpflow.db.orders import Orders
from perpflow.db.tables import Base
from perpflow.orders import OrderIntent
from perpflow.venues.base import SignedTx, VenueName
from perpflow.venues.types import Side

BEFORE = "0011"
OLD_KEY = "wf-old/maker-0"


def an_order_sent_before(url: str) -> None:
    """A row as the ledger wrote it at 0011: submitted, with its nonce and hash only."""
    engine = sync_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO orders (idempotency_key, workflow_id, venue, account_index, market, side,"
                    " order_type, time_in_force, reduce_only, price, size, client_order_index, status,"
                    " filled_size, api_key_index, nonce, tx_hash, submitted_at, created_at, updated_at)"
                    " VALUES (:key, 'wf-old', 'grvt', 5, 'ETH_USDT_Perp', 'buy', 'limit', 'gtt', false,"
                    " 2000, 1, 1000001, 'submitted', 0, 0, 77, '0xold', :at, :at, :at)"
                ),
                {"key": OLD_KEY, "at": datetime.now(UTC)},
            )
    finally:
        engine.dispose()


def orders_table_drift(url: str) -> list[object]:
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return [d for d in compare_metadata(context, Base.metadata) if "orders" in repr(d)]
    finally:
        engine.dispose()


async def test_0012_keeps_signed_orders_in_a_ledger_that_already_holds_orders(fresh_url: str) -> None:
    upgrade(fresh_url, BEFORE)
    an_order_sent_before(fresh_url)
    upgrade(fresh_url)
    assert orders_table_drift(fresh_url) == []
    ledger = Ledger(fresh_url)
    try:
        orders = Orders(ledger)
        old = await orders.get(OLD_KEY)
        assert old is not None and old.signed is None and old.nonce == 77
        intent = OrderIntent(
            key="wf-new/maker-0", workflow_id="wf-new", venue=VenueName.GRVT, account_index=5,
            market="ETH_USDT_Perp", side=Side.BUY, size=Decimal(1), price=Decimal(2000),
        )  # fmt: skip
        await orders.claim(intent)
        tx = SignedTx(
            tx_type=1, tx_info='{"order":{"signature":{"nonce":4}}}' * 40, tx_hash="0x" + "ab" * 32,
            nonce=4, api_key_index=0, resend_until=datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        )  # fmt: skip
        await orders.mark_submitting(intent.key, tx)
        record = await orders.get(intent.key)
        assert record is not None and record.signed == tx
    finally:
        await ledger.close()
    command.downgrade(alembic_config(fresh_url), BEFORE)
    upgrade(fresh_url)
    assert current_revision(fresh_url) == head_revision()
