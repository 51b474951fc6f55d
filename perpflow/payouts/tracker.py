"""The orchestrator side of a payout: event confirmations and eligibility, then the receipt.

Both waits poll the node with a growing interval for at most ``check_max_wait_s`` and then hand
control back to the workflow, which decides what a still-pending answer means (wait more, fee
bump).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from perpflow.chain.client import ChainClient
from perpflow.chain.errors import SendRejected
from perpflow.chain.models import PositionLiquidated, TxReceipt, TxState, liquidation_id
from perpflow.metrics.instruments import PAYOUT_LATENCY
from perpflow.payouts.book import PayoutBook
from perpflow.payouts.ledger import PayoutLedger
from perpflow.payouts.models import (
    AwaitTxRequest,
    AwaitTxResult,
    CheckEventRequest,
    CheckEventResult,
    CheckOutcome,
    NewPayout,
    PayoutRecord,
    PayoutState,
    TxOutcome,
)
from perpflow.payouts.rules import cap_violation, day_start
from perpflow.payouts.stored import stored_signed

log = logging.getLogger(__name__)

POLL_FIRST_S, POLL_MAX_S = 0.02, 0.5


class Poller:
    """Sleeps 20 ms, then longer, up to 0.5 s: quick on automine, gentle with hundreds waiting."""

    def __init__(self, max_wait_s: float) -> None:
        self.deadline = time.monotonic() + max_wait_s
        self.delay = POLL_FIRST_S

    async def again(self) -> bool:
        if time.monotonic() >= self.deadline:
            return False
        await asyncio.sleep(min(self.delay, max(self.deadline - time.monotonic(), 0)))
        self.delay = min(self.delay * 1.5, POLL_MAX_S)
        return True


class PayoutTracker:
    def __init__(self, chain: ChainClient, repo: PayoutLedger) -> None:
        self.chain, self.repo, self.book = chain, repo, PayoutBook(repo)

    # -- event -------------------------------------------------------------------------------

    async def check_event(self, req: CheckEventRequest) -> CheckEventResult:
        ev, policy = req.event, req.policy
        await self.book.open(
            NewPayout(workflow_id=req.workflow_id, chain_id=policy.chain_id, event=ev, at=datetime.now(UTC))
        )
        poll = Poller(policy.check_max_wait_s if req.wait else 0)
        while True:
            head = await self.chain.head_number()
            if await self.chain.block_hash(ev.block_number) != ev.block_hash:
                return CheckEventResult(outcome=CheckOutcome.REORGED, reason=_reorg_reason(ev, head))
            confirmations = head - ev.block_number + 1
            if confirmations >= policy.confirmations:
                break
            if not await poll.again():
                return CheckEventResult(outcome=CheckOutcome.PENDING, confirmations=confirmations)
        result = await self._eligibility(req)
        return result.model_copy(update={"confirmations": confirmations})

    async def _eligibility(self, req: CheckEventRequest) -> CheckEventResult:
        ev, policy = req.event, req.policy
        lid = liquidation_id(ev.tx_hash, ev.log_index)
        if await self.chain.paid(lid):
            return CheckEventResult(
                outcome=CheckOutcome.ALREADY_PAID,
                paid_tx_hash=await self.find_payout_tx(ev.tx_hash, ev.log_index, ev.block_number),
            )
        if not await self.chain.is_whitelisted(ev.user):
            return _ineligible(f"user {ev.user} is not whitelisted")
        exp = await self.repo.exposure(
            ev.user, day_start(datetime.now(UTC)), policy.wallet_address, exclude=req.workflow_id
        )
        violation = cap_violation(req.amount_wei, exp.user_today, exp.all_today, policy)
        if violation is not None:
            return _ineligible(violation)
        await self.book.checked(req.workflow_id, req.amount_wei)
        pool = await self.chain.pool_balance() - exp.in_flight
        if pool < req.amount_wei:
            return CheckEventResult(
                outcome=CheckOutcome.POOL_LOW,
                reason=f"pool balance {pool} wei (after in-flight) below {req.amount_wei} wei",
            )
        return CheckEventResult(outcome=CheckOutcome.ELIGIBLE)

    async def find_payout_tx(self, event_tx_hash: str, log_index: int, from_block: int) -> str | None:
        """The PayoutExecuted log of this liquidation (whoever sent it), from the event's block."""
        lid = liquidation_id(event_tx_hash, log_index)
        for payout in await self.chain.get_payouts(from_block):
            if payout.liquidation_id == lid:
                return payout.tx_hash
        return None

    # -- receipt -----------------------------------------------------------------------------

    async def await_tx(self, req: AwaitTxRequest) -> AwaitTxResult:
        poll = Poller(req.policy.check_max_wait_s if req.wait else 0)
        # Read once: only the workflow changes the row's hashes (bump, new nonce), and it does
        # that between waits, never during one.
        rec = await self.repo.get(req.workflow_id)
        await self.book.broadcast(rec)
        while True:
            result = await self._look_up(rec, req)
            if result is not None or not await poll.again():
                return result or AwaitTxResult(outcome=TxOutcome.PENDING)

    async def _look_up(self, rec: PayoutRecord, req: AwaitTxRequest) -> AwaitTxResult | None:
        for tx_hash in reversed(rec.tx_hashes):  # newest first: a bump usually wins
            receipt = await self.chain.receipt(tx_hash)
            if receipt is not None:
                return await self._mined(rec, receipt, req)
        states = [await self.chain.tx_state(h) for h in rec.tx_hashes]
        if all(s is TxState.UNKNOWN for s in states):
            return await self._lost(rec)
        return None

    async def _mined(
        self, rec: PayoutRecord, receipt: TxReceipt, req: AwaitTxRequest
    ) -> AwaitTxResult | None:
        head = await self.chain.head_number()
        if head - receipt.block_number + 1 < req.policy.tx_confirmations:
            return None
        if await self.chain.block_hash(receipt.block_number) != receipt.block_hash:
            return None  # reorged out under us: the next look-up sees it unknown and rebroadcasts
        if receipt.succeeded:
            await self._done(rec, receipt.tx_hash, receipt.gas_used, receipt.block_number)
            return AwaitTxResult(outcome=TxOutcome.CONFIRMED, tx_hash=receipt.tx_hash)
        reason = await self.chain.revert_reason(receipt.tx_hash)
        text = reason.describe() if reason is not None else "unknown revert"
        if reason is not None and reason.name == "AlreadyPaid":
            return await self._paid_elsewhere(rec)
        await self.book.settled(
            rec.workflow_id, PayoutState.FAILED, tx_hash=receipt.tx_hash,
            gas_used=receipt.gas_used, block_number=receipt.block_number, reason=f"reverted: {text}",
        )  # fmt: skip
        return AwaitTxResult(outcome=TxOutcome.REVERTED, tx_hash=receipt.tx_hash, reason=f"reverted: {text}")

    async def _lost(self, rec: PayoutRecord) -> AwaitTxResult | None:
        """No node knows any of our hashes: dropped, reorged out, or the node restarted."""
        assert rec.wallet is not None and rec.nonce is not None
        if await self.chain.latest_nonce(rec.wallet) > rec.nonce:
            # The nonce is used, by none of our txs: paid by another path, or taken.
            if await self.chain.paid(rec.liquidation_id):
                return await self._paid_elsewhere(rec)
            return AwaitTxResult(outcome=TxOutcome.NONCE_TAKEN)
        signed = stored_signed(rec)
        try:
            await self.chain.send_raw(signed)  # the same bytes: needs no key, cannot pay twice
        except SendRejected as exc:
            log.info("rebroadcast in doubt workflow_id=%s: %s", rec.workflow_id, type(exc).__name__)
        else:
            log.warning(
                "rebroadcast lost tx workflow_id=%s tx=%s nonce=%s",
                rec.workflow_id,
                signed.tx_hash,
                rec.nonce,
            )
        return None

    async def _paid_elsewhere(self, rec: PayoutRecord) -> AwaitTxResult | None:
        tx_hash = await self.find_payout_tx(rec.event_tx_hash, rec.event_log_index, rec.event_block_number)
        if tx_hash is None:
            return None  # paid() said yes but the log is not visible yet: look again
        receipt = await self.chain.receipt(tx_hash)
        await self._done(
            rec, tx_hash, receipt.gas_used if receipt else None, receipt.block_number if receipt else None
        )
        return AwaitTxResult(outcome=TxOutcome.CONFIRMED, tx_hash=tx_hash, reason="already paid on-chain")

    async def _done(self, rec: PayoutRecord, tx_hash: str, gas: int | None, block: int | None) -> None:
        await self.book.settled(
            rec.workflow_id, PayoutState.DONE, tx_hash=tx_hash, gas_used=gas, block_number=block
        )
        if not rec.state.final:  # a retried look-up of a payout already done counts once
            latency = (datetime.now(UTC) - rec.created_at).total_seconds()
            PAYOUT_LATENCY.labels(str(rec.chain_id)).observe(max(latency, 0.0))
        log.info("payout confirmed workflow_id=%s tx=%s block=%s", rec.workflow_id, tx_hash, block)


def _ineligible(reason: str) -> CheckEventResult:
    return CheckEventResult(outcome=CheckOutcome.INELIGIBLE, reason=reason)


def _reorg_reason(ev: PositionLiquidated, head: int) -> str:
    if head < ev.block_number:
        return f"chain rolled back below block {ev.block_number} (head {head})"
    return f"block {ev.block_number} {ev.block_hash} is no longer canonical"
