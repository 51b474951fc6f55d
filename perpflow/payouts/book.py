"""PayoutBook: the one writer of a payout row's state.

The workflow decides every move of a payout and checks it against ``TRANSITIONS``; the ledger
row follows, written through this class and no other, each write checked against the same
table. A move is written in the same round trip as the work that makes it true, so no step
costs an extra call:

- the row is opened (CONFIRMING) by the watcher before the start, or by the first check;
- the check writes CHECKING with the amount once the caps pass (the lane sends that amount);
- the wallet lane writes SENDING in the one transaction that takes the nonce and stores the tx;
- the first look after the broadcast writes CONFIRMING_TX; the receipt DONE or FAILED with its
  gas and block;
- what only the workflow knows (a verdict, an operator's decision, a refusal of the lane, a
  cancel) comes through ``record``, the payout's record-state activity.
"""

from __future__ import annotations

from datetime import datetime

from perpflow.chain.models import PositionLiquidated, SignedTx
from perpflow.payouts.ledger import PayoutLedger, Sign
from perpflow.payouts.models import NewPayout, PayoutMove, PayoutRecord, PayoutState, RecordStateRequest

S = PayoutState


class PayoutBook:
    def __init__(self, repo: PayoutLedger) -> None:
        self.repo = repo

    async def claim(self, chain_id: int, event: PositionLiquidated, at: datetime) -> str:
        """The workflow id of this inclusion of `event`, its row opened before the start."""
        return await self.repo.claim_inclusion(chain_id, event, at)

    async def open(self, new: NewPayout) -> PayoutRecord:
        return await self.repo.record_detected(new)

    async def checked(self, workflow_id: str, amount_wei: int) -> None:
        await self.repo.move(workflow_id, PayoutMove(state=S.CHECKING, amount_wei=amount_wei))

    async def sign_and_store(
        self,
        workflow_id: str,
        chain_id: int,
        wallet: str,
        pending: int | None,
        sign: Sign,
    ) -> SignedTx:
        """SENDING, in the one transaction that takes the lane's nonce and stores the signed tx."""
        return await self.repo.allocate_and_store(workflow_id, chain_id, wallet, pending, sign)

    async def broadcast(self, rec: PayoutRecord) -> None:
        """The lane returned: a row still SENDING now waits for its receipt."""
        if rec.state is S.SENDING:
            await self.repo.move(rec.workflow_id, PayoutMove(state=S.CONFIRMING_TX))

    async def settled(
        self,
        workflow_id: str,
        state: PayoutState,
        *,
        tx_hash: str,
        gas_used: int | None,
        block_number: int | None,
        reason: str | None = None,
    ) -> None:
        move = PayoutMove(
            state=state, final_tx_hash=tx_hash, gas_used=gas_used, block_number=block_number, reason=reason
        )
        await self.repo.move(workflow_id, move)

    async def record(self, req: RecordStateRequest) -> None:
        """A move the workflow decided; an operator's approval or rejection is audited too."""
        approved = req.state is S.SENDING
        move = PayoutMove(
            state=req.state,
            reason=req.reason,
            approved_by=req.decided_by if approved else None,
            final_tx_hash=req.final_tx_hash,
        )
        await self.repo.move(req.workflow_id, move)
        if req.decided_by is not None:
            action = "payout.approve" if approved else "payout.reject"
            await self.repo.audit(req.decided_by, action, req.workflow_id, {"reason": req.reason})
