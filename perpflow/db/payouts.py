"""PayoutRepository: payout rows, the wallet nonce lane's counter and the watcher's cursor.

Returns perpflow models only. The nonce is allocated and the signed tx stored in ONE transaction,
so a crash leaves either nothing (the nonce is free, nothing was broadcast) or a stored raw tx
that every retry rebroadcasts instead of signing anew.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from perpflow import names
from perpflow.chain.models import ChainCursor, PositionLiquidated, SignedTx
from perpflow.db import tables as t
from perpflow.db.ledger import Ledger
from perpflow.models import AuditEntry
from perpflow.payouts.errors import DuplicatePayoutEvent, PayoutNotFound
from perpflow.payouts.ledger import Exposure, Sign
from perpflow.payouts.models import (
    COMMITTED_STATES,
    NewPayout,
    PayoutMove,
    PayoutRecord,
    PayoutState,
    check_row_move,
)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _record(r: t.Payout) -> PayoutRecord:
    return PayoutRecord(
        workflow_id=r.workflow_id,
        chain_id=r.chain_id,
        event_tx_hash=r.event_tx_hash,
        event_log_index=r.event_log_index,
        event_block_number=r.event_block_number,
        user_address=r.user_address,
        leverage_ratio=r.leverage_ratio,
        liquidation_amount_wei=int(r.liquidation_amount),
        amount_wei=None if r.amount_wei is None else int(r.amount_wei),
        state=PayoutState(r.state),
        wallet=r.wallet,
        nonce=r.nonce,
        raw_tx=r.raw_tx,
        tx_hashes=list(r.tx_hashes or []),
        final_tx_hash=r.final_tx_hash,
        gas_used=r.gas_used,
        block_number=r.block_number,
        approved_by=r.approved_by,
        reason=r.reason,
        created_at=_aware(r.created_at),
        updated_at=_aware(r.updated_at),
    )


async def _row(s: AsyncSession, workflow_id: str) -> t.Payout:
    row = await s.get(t.Payout, workflow_id)
    if row is None:
        raise PayoutNotFound(f"no payout row {workflow_id}")
    return row


def _apply(row: t.Payout, move: PayoutMove) -> None:
    check_row_move(PayoutState(row.state), move.state)
    row.state = move.state
    if move.amount_wei is not None:
        row.amount_wei = Decimal(move.amount_wei)
    for name in ("reason", "approved_by", "final_tx_hash", "gas_used", "block_number"):
        value = getattr(move, name)
        if value is not None:
            setattr(row, name, value)


class PayoutRepository:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    # -- payout rows ---------------------------------------------------------------------------

    async def claim_inclusion(self, chain_id: int, event: PositionLiquidated, at: datetime) -> str:
        """The workflow id for this inclusion of `event`, recorded before its workflow starts.

        The event's own id the first time; the same id when the event is delivered again from
        the same block (a replay after a restart); an id qualified by the new block's hash when
        a reorg re-included the event in another block (the first workflow ends REORGED)."""
        query = select(t.Payout.workflow_id, t.Payout.event_block_hash).where(
            t.Payout.chain_id == chain_id,
            t.Payout.event_tx_hash == event.tx_hash,
            t.Payout.event_log_index == event.log_index,
        )
        async with self.ledger.session() as s:
            seen = (await s.execute(query)).all()
        for workflow_id, block_hash in seen:
            if block_hash in (event.block_hash, None):  # None: a row older than the column
                return str(workflow_id)
        again = event.block_hash if seen else None
        workflow_id = names.payout_id(chain_id, event.tx_hash, event.log_index, reincluded_in=again)
        await self.record_detected(NewPayout(workflow_id=workflow_id, chain_id=chain_id, event=event, at=at))
        return workflow_id

    async def record_detected(self, new: NewPayout) -> PayoutRecord:
        """Insert the row for a detected event once; later calls return it unchanged.

        The insert comes first: a transaction that read before writing fails at once on SQLite
        when another writer committed in between, while one that writes first waits its turn."""
        ev = new.event
        row = t.Payout(
            workflow_id=new.workflow_id,
            chain_id=new.chain_id,
            event_tx_hash=ev.tx_hash,
            event_log_index=ev.log_index,
            event_block_number=ev.block_number,
            event_block_hash=ev.block_hash,
            user_address=ev.user,
            leverage_ratio=ev.leverage_ratio,
            liquidation_amount=Decimal(ev.liquidation_amount_wei),
            state=PayoutState.CONFIRMING,
            tx_hashes=[],
            created_at=new.at,
            updated_at=new.at,
        )
        try:
            async with self.ledger.session() as s:
                s.add(row)
                await s.flush()
                return _record(row)
        except IntegrityError:
            async with self.ledger.session() as s:
                existing = await s.get(t.Payout, new.workflow_id)
                if existing is None:
                    raise DuplicatePayoutEvent(
                        f"event {ev.tx_hash}/{ev.log_index} in block {ev.block_hash} already has a payout row"
                    ) from None
                return _record(existing)

    async def get(self, workflow_id: str) -> PayoutRecord:
        async with self.ledger.session() as s:
            return _record(await _row(s, workflow_id))

    async def move(self, workflow_id: str, move: PayoutMove) -> None:
        """Write the row's next state with its facts (only ``PayoutBook`` calls this)."""
        async with self.ledger.session() as s:
            _apply(await _row(s, workflow_id), move)

    async def recent(self, limit: int = 100, state: PayoutState | None = None) -> list[PayoutRecord]:
        query = select(t.Payout).order_by(t.Payout.created_at.desc()).limit(limit)
        if state is not None:
            query = query.where(t.Payout.state == state)
        async with self.ledger.session() as s:
            return [_record(r) for r in (await s.scalars(query)).all()]

    async def exposure(self, user: str, since: datetime, wallet: str, exclude: str) -> Exposure:
        """What caps and the pool must still cover, not counting `exclude`, in one query."""
        in_flight = (PayoutState.SENDING, PayoutState.CONFIRMING_TX)
        query = select(
            t.Payout.user_address, t.Payout.amount_wei, t.Payout.state, t.Payout.wallet, t.Payout.created_at,
            t.Payout.raw_tx.is_not(None),
        ).where(
            t.Payout.state.in_([str(s) for s in COMMITTED_STATES]),
            t.Payout.workflow_id != exclude,
            or_(t.Payout.created_at >= since, t.Payout.state.in_([str(s) for s in in_flight])),
        )  # fmt: skip
        async with self.ledger.session() as s:
            rows = (await s.execute(query)).all()
        exp = Exposure()
        for row_user, amount, state, row_wallet, created, signed in rows:
            wei = int(amount or 0)
            if _aware(created) >= since:
                exp.all_today += wei
                exp.user_today += wei if row_user == user else 0
            if state in in_flight and signed and row_wallet == wallet:
                exp.in_flight += wei
        return exp

    # -- the nonce lane ------------------------------------------------------------------------

    async def allocate_and_store(
        self,
        workflow_id: str,
        chain_id: int,
        wallet: str,
        chain_pending: int | None,
        sign: Sign,
    ) -> SignedTx:
        """Take the lane's next nonce, sign with it and store the raw tx, in one transaction.

        `chain_pending` (the node's pending nonce) is given when the ledger may be behind the
        chain (a new lane, a nonce taken by someone else): the nonce is then at least that."""
        async with self.ledger.session() as s:
            lane = await s.scalar(
                select(t.WalletNonce)
                .where(t.WalletNonce.chain_id == chain_id, t.WalletNonce.address == wallet)
                .with_for_update()
            )
            if lane is None:
                lane = t.WalletNonce(chain_id=chain_id, address=wallet, next_nonce=chain_pending or 0)
                s.add(lane)
            nonce = max(lane.next_nonce, chain_pending or 0)
            signed = sign(nonce)
            row = await _row(s, workflow_id)
            _apply(row, PayoutMove(state=PayoutState.SENDING))
            row.wallet, row.nonce, row.raw_tx = wallet, nonce, signed.raw_tx
            row.tx_hashes = [*(row.tx_hashes or []), signed.tx_hash]
            lane.next_nonce = nonce + 1
            return signed

    async def store_replacement(self, workflow_id: str, signed: SignedTx) -> None:
        """A same-nonce replacement (fee bump): it becomes the tx to rebroadcast; keep every hash."""
        async with self.ledger.session() as s:
            row = await _row(s, workflow_id)
            row.raw_tx = signed.raw_tx
            row.tx_hashes = [*(row.tx_hashes or []), signed.tx_hash]

    async def advance_next_nonce(self, chain_id: int, wallet: str, at_least: int) -> None:
        async with self.ledger.session() as s:
            lane = await s.get(t.WalletNonce, (chain_id, wallet))
            if lane is None:
                s.add(t.WalletNonce(chain_id=chain_id, address=wallet, next_nonce=at_least))
            elif lane.next_nonce < at_least:
                lane.next_nonce = at_least

    async def stored_from_nonce(self, chain_id: int, wallet: str, nonce: int) -> list[PayoutRecord]:
        """Rows holding a signed tx with a nonce >= `nonce` (candidates to rebroadcast)."""
        query = (
            select(t.Payout)
            .where(
                t.Payout.chain_id == chain_id,
                t.Payout.wallet == wallet,
                t.Payout.nonce >= nonce,
                t.Payout.raw_tx.is_not(None),
            )
            .order_by(t.Payout.nonce)
        )
        async with self.ledger.session() as s:
            return [_record(r) for r in (await s.scalars(query)).all()]

    # -- cursor and audit ----------------------------------------------------------------------

    async def load_cursor(self, name: str) -> ChainCursor | None:
        async with self.ledger.session() as s:
            row = await s.get(t.ChainCursor, name)
            if row is None:
                return None
            return ChainCursor(block_number=row.block_number, block_hash=row.block_hash or None)

    async def save_cursor(self, name: str, chain_id: int, cursor: ChainCursor) -> None:
        async with self.ledger.session() as s:
            row = await s.get(t.ChainCursor, name)
            if row is None:
                row = t.ChainCursor(name=name, chain_id=chain_id, block_number=0, block_hash="")
                s.add(row)
            row.block_number, row.block_hash = cursor.block_number, cursor.block_hash or ""

    async def audit(self, actor: str, action: str, target: str, detail: dict[str, object]) -> None:
        await self.ledger.record_audit(
            AuditEntry(at=datetime.now(UTC), actor=actor, action=action, target=target, detail=detail)
        )
