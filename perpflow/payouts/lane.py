"""The wallet's nonce lane: allocate, sign once, store, broadcast; bump fees with the same nonce.

Runs only in the wallet worker (the one process holding the key), one activity at a time on the
wallet's task queue. ``send`` returns right after the broadcast: receipts are awaited elsewhere,
so the next payout's nonce goes out without waiting (pipelining).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from perpflow.chain.client import ChainClient
from perpflow.chain.errors import AlreadyImported, NonceTooLow, ReplacementUnderpriced
from perpflow.chain.fees import bump_fees
from perpflow.chain.models import Eip1559Fees, SignedTx, TxState, UnsignedTx
from perpflow.chain.wallet import HotWallet
from perpflow.metrics.instruments import WALLET_BROADCASTS
from perpflow.payouts.book import PayoutBook
from perpflow.payouts.errors import PayoutIneligible, PayoutStateError
from perpflow.payouts.ledger import Exposure, PayoutLedger
from perpflow.payouts.models import PayoutRecord, SendOutcome, SendRequest, SendResult
from perpflow.payouts.rules import cap_violation, day_start
from perpflow.payouts.stored import stored_signed

log = logging.getLogger(__name__)

# Answers to a rebroadcast that mean "the node already has this nonce": the tracker then looks
# up every stored hash, which is the only reliable way to learn what happened.
DOUBT = (NonceTooLow, AlreadyImported, ReplacementUnderpriced)
FEES_TTL_S = 1.0
# What a broadcast is (perpflow_wallet_broadcasts_total's kind): a new tx, the same signed bytes
# again, or a replacement with higher fees.
FIRST, REBROADCAST, FEE_BUMP = "first", "rebroadcast", "fee_bump"
# Told each named step of a send ("after_store", "after_broadcast"): a chaos test's crash points.
FaultHook = Callable[[str], None]


class WalletLane:
    def __init__(
        self,
        chain: ChainClient,
        wallet: HotWallet,
        repo: PayoutLedger,
        chain_id: int,
        fault: FaultHook | None = None,
    ) -> None:
        self.chain, self.wallet, self.repo, self.chain_id = chain, wallet, repo, chain_id
        self.book = PayoutBook(repo)
        self._fault = fault
        self._reconciled = False
        self._fees: tuple[float, Eip1559Fees] | None = None

    async def send(self, req: SendRequest) -> SendResult:
        if not self._reconciled:  # once per process, before the first nonce is taken
            await self.reconcile()
        rec = await self.repo.get(req.workflow_id)
        kind = REBROADCAST
        if rec.raw_tx is not None and not req.new_nonce:
            signed = stored_signed(rec)  # a retry: never a second nonce, the same bytes again
        else:
            kind = FIRST
            # Three independent reads at once: the lane is serial, its latency is the throughput.
            paid, exp, pool = await asyncio.gather(
                self.chain.paid(rec.liquidation_id),
                self.repo.exposure(
                    rec.user_address, day_start(datetime.now(UTC)), self.wallet.address, rec.workflow_id
                ),
                self.chain.pool_balance(),
            )
            if paid:
                log.info("payout already paid on-chain workflow_id=%s", rec.workflow_id)
                return SendResult(outcome=SendOutcome.ALREADY_PAID)
            _check_limits(rec, req, exp, pool)
            signed = await self._allocate_sign_store(rec, chain_pending=req.new_nonce)
            self._step("after_store")
        await self.broadcast(signed, kind)
        self._step("after_broadcast")
        return SendResult(outcome=SendOutcome.SENT, tx_hash=signed.tx_hash, nonce=signed.nonce)

    async def bump(self, req: SendRequest) -> SendResult:
        """Replace the stuck tx: same nonce, fees >= 2x (and >= what the node asks for now)."""
        rec = await self.repo.get(req.workflow_id)
        old = stored_signed(rec)
        if await self.chain.paid(rec.liquidation_id):
            return SendResult(outcome=SendOutcome.ALREADY_PAID)
        fees = bump_fees(old.fees, await self.chain.suggest_fees())
        signed = self.wallet.sign(self._payout_tx(rec, old.nonce, fees))
        await self.repo.store_replacement(rec.workflow_id, signed)
        log.info(
            "fee bump workflow_id=%s nonce=%s old_tx=%s new_tx=%s max_fee=%s",
            rec.workflow_id, old.nonce, old.tx_hash, signed.tx_hash, fees.max_fee_per_gas,
        )  # fmt: skip
        await self.broadcast(signed, FEE_BUMP)
        return SendResult(outcome=SendOutcome.SENT, tx_hash=signed.tx_hash, nonce=signed.nonce)

    async def broadcast(self, signed: SignedTx, kind: str) -> None:
        """Send the stored bytes; a duplicate or stale answer is settled by the receipt lookup."""
        WALLET_BROADCASTS.labels(str(self.chain_id), self.wallet.address, kind).inc()
        try:
            await self.chain.send_raw(signed)
        except DOUBT as exc:
            log.info(
                "broadcast in doubt tx=%s nonce=%s: %s", signed.tx_hash, signed.nonce, type(exc).__name__
            )

    async def reconcile(self) -> int:
        """At lane start: rebroadcast stored txs the node lost (restart, rollback) and move the
        ledger's next nonce past anything the chain already used. Returns the rebroadcast count."""
        address = self.wallet.address
        latest = await self.chain.latest_nonce(address)
        resent = 0
        for rec in await self.repo.stored_from_nonce(self.chain_id, address, latest):
            signed = stored_signed(rec)
            if await self.chain.tx_state(signed.tx_hash) is TxState.UNKNOWN:
                await self.broadcast(signed, REBROADCAST)
                resent += 1
        await self.repo.advance_next_nonce(self.chain_id, address, await self.chain.pending_nonce(address))
        self._reconciled = True
        log.info("lane reconciled wallet=%s latest_nonce=%s rebroadcast=%s", address, latest, resent)
        return resent

    def _step(self, name: str) -> None:
        if self._fault is not None:
            self._fault(name)

    async def _allocate_sign_store(self, rec: PayoutRecord, *, chain_pending: bool) -> SignedTx:
        if rec.amount_wei is None or rec.state.final:
            raise PayoutStateError(f"payout {rec.workflow_id} is {rec.state} without a sendable amount")
        fees = await self._current_fees()
        # The ledger's counter leads (reconciled at start); ask the node only when a nonce was
        # taken behind our back, so the steady state costs no extra round trip.
        pending = await self.chain.pending_nonce(self.wallet.address) if chain_pending else None
        signed = await self.book.sign_and_store(
            rec.workflow_id,
            self.chain_id,
            self.wallet.address,
            pending,
            lambda nonce: self.wallet.sign(self._payout_tx(rec, nonce, fees)),
        )
        log.info(
            "signed and stored workflow_id=%s nonce=%s tx=%s", rec.workflow_id, signed.nonce, signed.tx_hash
        )
        return signed

    async def _current_fees(self) -> Eip1559Fees:
        # 2x base fee + tip stays valid for ~6 full blocks; one look per second is plenty.
        now = time.monotonic()
        if self._fees is None or now - self._fees[0] > FEES_TTL_S:
            self._fees = (now, await self.chain.suggest_fees())
        return self._fees[1]

    def _payout_tx(self, rec: PayoutRecord, nonce: int, fees: Eip1559Fees) -> UnsignedTx:
        return self.chain.build_payout_tx(
            chain_id=self.chain_id,
            user=rec.user_address,
            amount_wei=rec.amount_wei or 0,
            liquidation_id=rec.liquidation_id,
            nonce=nonce,
            fees=fees,
        )


def _check_limits(rec: PayoutRecord, req: SendRequest, exp: Exposure, pool: int) -> None:
    # Checked again here, in the one-slot lane, because concurrent workflows' earlier checks
    # could each pass alone: this is the atomic one (per hot wallet).
    amount = rec.amount_wei or 0
    violation = cap_violation(amount, exp.user_today, exp.all_today, req.policy)
    if violation is not None:
        raise PayoutIneligible(violation)
    available = pool - exp.in_flight
    if available < amount:
        raise PayoutIneligible(f"pool balance {available} wei (after in-flight) below {amount} wei")
