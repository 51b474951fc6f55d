"""Ledger tables (SQLAlchemy 2, typed). Schema changes go through Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from perpflow.db.types import Money, Wei
from perpflow.orders.status import OrderState


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON, list[Any]: JSON}


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("venue", "account_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    venue: Mapped[str] = mapped_column(String(32))
    account_index: Mapped[int] = mapped_column(BigInteger)
    api_key_index: Mapped[int | None]
    proxy_url: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Order(Base):
    """An order intent, written *before* it is submitted (DESIGN §4)."""

    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("venue", "account_index", "client_order_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    workflow_id: Mapped[str] = mapped_column(String(200), index=True)
    venue: Mapped[str] = mapped_column(String(32))
    account_index: Mapped[int] = mapped_column(BigInteger)
    market: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    order_type: Mapped[str] = mapped_column(String(16))
    time_in_force: Mapped[str] = mapped_column(String(16))
    reduce_only: Mapped[bool] = mapped_column(default=False)
    price: Mapped[Decimal | None] = mapped_column(Money())
    size: Mapped[Decimal] = mapped_column(Money())
    # Set from the row id in the same transaction as the insert (never NULL once committed).
    client_order_index: Mapped[int | None] = mapped_column(BigInteger)
    venue_order_index: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(40), default=OrderState.INTENT.value)
    reason: Mapped[str | None] = mapped_column(String(80))
    filled_size: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    # The (key, nonce) a submission used: if the venue's next nonce never passed it, the
    # transaction cannot have reached the venue, so sending again is safe.
    api_key_index: Mapped[int | None]
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    tx_hash: Mapped[str | None] = mapped_column(String(100))
    # The signed order itself, stored before it is sent (write-ahead): a send in doubt repeats these
    # exact bytes while the venue takes them (until ``resend_until``) rather than signing anew.
    tx_type: Mapped[int | None]
    tx_info: Mapped[str | None]
    resend_until: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Fill(Base):
    __tablename__ = "fills"

    id: Mapped[int] = mapped_column(primary_key=True)
    fill_id: Mapped[str] = mapped_column(String(100), unique=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    venue: Mapped[str] = mapped_column(String(32))
    account_index: Mapped[int] = mapped_column(BigInteger)
    market: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    price: Mapped[Decimal] = mapped_column(Money())
    size: Mapped[Decimal] = mapped_column(Money())
    fee: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    is_maker: Mapped[bool]
    filled_at: Mapped[datetime]


class Position(Base):
    __tablename__ = "positions"

    venue: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_index: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    market: Mapped[str] = mapped_column(String(32), primary_key=True)
    size: Mapped[Decimal] = mapped_column(Money())
    avg_entry_price: Mapped[Decimal] = mapped_column(Money())
    realized_pnl: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class HedgeCycle(Base):
    __tablename__ = "hedge_cycles"

    workflow_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    fleet: Mapped[str] = mapped_column(String(100), index=True)
    pair: Mapped[str] = mapped_column(String(100))
    seq: Mapped[int]
    venue: Mapped[str] = mapped_column(String(32))
    market: Mapped[str] = mapped_column(String(32))
    maker_account: Mapped[int] = mapped_column(BigInteger)
    taker_account: Mapped[int] = mapped_column(BigInteger)
    # A cross-venue cycle's hedge leg; NULL: it trades on the maker's venue and market.
    taker_venue: Mapped[str | None] = mapped_column(String(32))
    taker_market: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    realized_pnl: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    fees: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    result: Mapped[dict[str, Any] | None]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    # Set when its run ended without the cycle writing a final state (terminated, timed out):
    # Temporal's close status (perpflow.reconcile.models.RunClose), written by the reconciler.
    closed_status: Mapped[str | None] = mapped_column(String(16))


class GridSession(Base):
    __tablename__ = "grid_sessions"

    workflow_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    venue: Mapped[str] = mapped_column(String(32))
    market: Mapped[str] = mapped_column(String(32))
    account_index: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    realized_profit: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    fill_count: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    config: Mapped[dict[str, Any] | None]  # as adjusted since the start
    version: Mapped[int] = mapped_column(default=0, server_default="0")
    position: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    fees: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    funding: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    stop_reason: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)
    # As hedge_cycles.closed_status: the run ended without the session's final state.
    closed_status: Mapped[str | None] = mapped_column(String(16))
    # The session's key (names.grid_session_key; None in rows of before): the row is the latest
    # session's under the workflow id, which each start of the name reuses.
    session: Mapped[str | None] = mapped_column(String(200))


class GridFill(Base):
    """A fill a grid session counted, once: a retried record finds its row already there."""

    __tablename__ = "grid_fills"
    __table_args__ = (UniqueConstraint("workflow_id", "fill_id", name="uq_grid_fills_session_fill"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(200))
    fill_id: Mapped[str] = mapped_column(String(100))
    level: Mapped[int | None]
    client_order_index: Mapped[int] = mapped_column(BigInteger)
    side: Mapped[str] = mapped_column(String(8))
    price: Mapped[Decimal] = mapped_column(Money())
    size: Mapped[Decimal] = mapped_column(Money())
    fee: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    realized: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    filled_at: Mapped[datetime]


class Payout(Base):
    __tablename__ = "payouts"
    # One row per inclusion of an event: a reorg that re-includes it in another block is a new
    # payout workflow (the old one ends REORGED); NULL for rows older than the column.
    __table_args__ = (
        UniqueConstraint(
            "chain_id",
            "event_tx_hash",
            "event_log_index",
            "event_block_hash",
            name="uq_payouts_event_inclusion",
        ),
    )

    workflow_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    event_tx_hash: Mapped[str] = mapped_column(String(66))
    event_log_index: Mapped[int]
    event_block_number: Mapped[int] = mapped_column(BigInteger)
    event_block_hash: Mapped[str | None] = mapped_column(String(66))
    user_address: Mapped[str] = mapped_column(String(42), index=True)
    leverage_ratio: Mapped[int] = mapped_column(BigInteger)
    liquidation_amount: Mapped[Decimal] = mapped_column(Wei())
    amount_wei: Mapped[Decimal | None] = mapped_column(Wei())
    state: Mapped[str] = mapped_column(String(24))
    wallet: Mapped[str | None] = mapped_column(String(42))
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    raw_tx: Mapped[str | None]
    tx_hashes: Mapped[list[Any]] = mapped_column(default=list)
    final_tx_hash: Mapped[str | None] = mapped_column(String(66))
    gas_used: Mapped[int | None] = mapped_column(BigInteger)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    approved_by: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChainCursor(Base):
    __tablename__ = "chain_cursors"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Watch(Base):
    __tablename__ = "watches"
    __table_args__ = (
        Index("ix_watches_active_market", "active", "venue", "market"),
        # A workflow names each watch, so a retried registration updates instead of duplicating.
        Index("ux_watches_workflow_name", "workflow_id", "name", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    venue: Mapped[str] = mapped_column(String(32))
    market: Mapped[str] = mapped_column(String(32))
    account_index: Mapped[int | None] = mapped_column(BigInteger)
    client_order_index: Mapped[int | None] = mapped_column(BigInteger)
    level: Mapped[Decimal | None] = mapped_column(Money())
    direction: Mapped[str | None] = mapped_column(String(8))
    signal_name: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    name: Mapped[str | None] = mapped_column(String(100))
    hysteresis: Mapped[Decimal | None] = mapped_column(Money())
    reference_price: Mapped[Decimal | None] = mapped_column(Money())
    wants_feed_state: Mapped[bool] = mapped_column(default=False)
    fill_stands_in: Mapped[bool] = mapped_column(default=False)


class WalletNonce(Base):
    __tablename__ = "wallet_nonces"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    next_nonce: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RiskState(Base):
    __tablename__ = "risk_state"

    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None]
    updated_by: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Audit(Base):
    """Every operator action, who did it, and on what."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AlertOutbox(Base):
    """Alerts waiting for (or done with) delivery to the channels beyond the log and the audit.

    Written with the alert's audit row in one transaction; a key is alerted once, ever."""

    __tablename__ = "alert_outbox"
    __table_args__ = (
        UniqueConstraint("key", name="uq_alert_outbox_key"),
        Index("ix_alert_outbox_due", "delivered_at", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unbounded text: an alert too long for a column would be an alert never recorded.
    key: Mapped[str]
    severity: Mapped[str] = mapped_column(String(16))
    source: Mapped[str]
    title: Mapped[str]
    detail: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None]


# -- the exposure reconciler's orphans (perpflow/reconcile) ---------------------------------------


class ReconcileOrphan(Base):
    """One episode of an orphan (an open order or a position no live workflow owns): opened when
    first confirmed, alerted once, resolved when gone; a later orphan of the same key is a new row."""

    __tablename__ = "reconcile_orphans"
    __table_args__ = (
        Index("ux_reconcile_orphans_open_key", "key", unique=True,
              postgresql_where=text("resolved_at IS NULL"), sqlite_where=text("resolved_at IS NULL")),
        Index("ix_reconcile_orphans_venue_resolved", "venue", "resolved_at"),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))
    venue: Mapped[str] = mapped_column(String(32))
    account_name: Mapped[str] = mapped_column(String(100))
    account_index: Mapped[int] = mapped_column(BigInteger)
    market: Mapped[str] = mapped_column(String(32))
    size: Mapped[Decimal] = mapped_column(Money())
    client_order_index: Mapped[int | None] = mapped_column(BigInteger)
    order_index: Mapped[int | None] = mapped_column(BigInteger)
    owner_workflow_id: Mapped[str | None] = mapped_column(String(200))
    owner_status: Mapped[str | None] = mapped_column(String(32))
    opened_at: Mapped[datetime]
    opened_by: Mapped[str] = mapped_column(String(200))
    last_seen_at: Mapped[datetime]
    alerted_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(200))
