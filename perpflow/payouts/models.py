"""Payloads of the payout workflow, its activities and its operator messages (pure data).

Amounts are integer wei on the chain side and ``Decimal`` ETH in config; the policy carried in the
workflow input holds no secret (the hot wallet's key stays in the wallet worker process).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, Field, field_validator

from perpflow.chain.models import Address, Hash32, PositionLiquidated, liquidation_id
from perpflow.models import Model, RejectedCommand
from perpflow.payouts.errors import IllegalTransition

WEI_PER_ETH = 10**18


class PayoutState(StrEnum):
    CONFIRMING = "CONFIRMING"  # waiting for the event's confirmations
    CHECKING = "CHECKING"  # canonical, eligibility and amount
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    SENDING = "SENDING"  # in (or queued for) the wallet lane
    CONFIRMING_TX = "CONFIRMING_TX"  # broadcast; waiting for the receipt's confirmations
    DONE = "DONE"
    REORGED = "REORGED"
    INELIGIBLE = "INELIGIBLE"
    REJECTED = "REJECTED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"  # a Temporal cancel before the wallet lane sent anything

    @property
    def final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset(
    {
        PayoutState.DONE,
        PayoutState.REORGED,
        PayoutState.INELIGIBLE,
        PayoutState.REJECTED,
        PayoutState.FAILED,
        PayoutState.CANCELLED,
    }
)
# States in which the amount counts against caps and the pool: it is (or may be) on its way.
COMMITTED_STATES = frozenset({PayoutState.SENDING, PayoutState.CONFIRMING_TX, PayoutState.DONE})

_S = PayoutState
TRANSITIONS: dict[PayoutState, frozenset[PayoutState]] = {
    _S.CONFIRMING: frozenset({_S.CHECKING, _S.REORGED, _S.CANCELLED}),
    _S.CHECKING: frozenset(
        {_S.AWAITING_APPROVAL, _S.SENDING, _S.INELIGIBLE, _S.DONE, _S.REORGED, _S.CANCELLED}
    ),
    _S.AWAITING_APPROVAL: frozenset({_S.SENDING, _S.REJECTED, _S.CANCELLED}),
    # SENDING -> CANCELLED only when the lane sent nothing (the workflow waits for it to say).
    _S.SENDING: frozenset({_S.CONFIRMING_TX, _S.INELIGIBLE, _S.DONE, _S.FAILED, _S.CANCELLED}),
    _S.CONFIRMING_TX: frozenset({_S.SENDING, _S.DONE, _S.FAILED}),
}


def check_transition(old: PayoutState, new: PayoutState) -> None:
    if new not in TRANSITIONS.get(old, frozenset()):
        raise IllegalTransition(f"payout state {old} -> {new} is not allowed")


def _reachable(old: PayoutState) -> frozenset[PayoutState]:
    seen: set[PayoutState] = set()
    todo = [old]
    while todo:
        for nxt in TRANSITIONS.get(todo.pop(), frozenset()) - seen:
            seen.add(nxt)
            todo.append(nxt)
    return frozenset(seen)


REACHABLE = {state: _reachable(state) for state in PayoutState}


def check_row_move(old: PayoutState, new: PayoutState) -> None:
    """A ledger row skips the states the workflow passed through without a write (a verdict on
    a check that never wrote CHECKING) and is written again by a retry; it never goes where the
    table cannot lead, so a final row never moves."""
    if new is not old and new not in REACHABLE[old]:
        raise IllegalTransition(f"payout row {old} -> {new} is not allowed")


def eth_to_wei(eth: Decimal) -> int:
    wei = eth * WEI_PER_ETH
    if wei != wei.to_integral_value():
        raise ValueError(f"{eth} ETH is not a whole number of wei")
    return int(wei)


class Tier(Model):
    """Pays ``amount_eth`` when the leverage is strictly above ``above_leverage``."""

    above_leverage: Decimal = Field(ge=0)
    amount_eth: Decimal = Field(gt=0)


class PayoutPolicy(Model):
    """Everything the workflow needs to decide and send one payout (no secrets)."""

    chain_id: int = Field(gt=0)
    guard_address: Address
    wallet_address: Address
    confirmations: int = Field(default=1, ge=1, description="of the event's block before paying")
    tx_confirmations: int = Field(default=1, ge=1, description="of the payout receipt before DONE")
    tiers: list[Tier]
    default_amount_eth: Decimal = Field(gt=0)
    per_user_daily_cap_eth: Decimal = Field(gt=0)
    daily_cap_eth: Decimal = Field(gt=0)
    approval_threshold_eth: Decimal | None = Field(default=None, ge=0)
    approval_timeout_s: float = Field(default=3600, gt=0)
    stuck_after_s: float = Field(default=30, gt=0, description="no receipt this long after a send: bump")
    check_max_wait_s: float = Field(default=5, gt=0, le=8)
    pool_recheck_s: float = Field(default=60, gt=0)

    @field_validator("tiers")
    @classmethod
    def _descending(cls, tiers: list[Tier]) -> list[Tier]:
        return sorted(tiers, key=lambda t: t.above_leverage, reverse=True)


class PayoutInput(Model):
    event: PositionLiquidated
    policy: PayoutPolicy


class ApprovalDecision(Model):
    by: str = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=500)


class PayoutStatus(Model):
    workflow_id: str
    state: PayoutState
    user: Address
    leverage: Decimal
    amount_wei: int | None = None
    needs_approval: bool = False
    escalated: bool = False
    decided_by: str | None = None
    decision_note: str | None = None  # the approver's or rejecter's --note
    tx_hashes: list[Hash32] = Field(default_factory=list)
    final_tx_hash: Hash32 | None = None
    reason: str | None = None
    rejected_commands: list[RejectedCommand] = Field(default_factory=list)  # unknown signals


# -- activities --------------------------------------------------------------------------------


class CheckOutcome(StrEnum):
    PENDING = "PENDING"  # not enough confirmations yet: ask again
    REORGED = "REORGED"
    ELIGIBLE = "ELIGIBLE"
    INELIGIBLE = "INELIGIBLE"
    POOL_LOW = "POOL_LOW"  # eligible, but the pool cannot pay it now
    ALREADY_PAID = "ALREADY_PAID"


class CheckEventRequest(Model):
    workflow_id: str
    event: PositionLiquidated
    policy: PayoutPolicy
    amount_wei: int = Field(gt=0)
    wait: bool = True  # False: look once and answer (PENDING if not yet)


class CheckEventResult(Model):
    outcome: CheckOutcome
    confirmations: int = 0
    reason: str | None = None
    paid_tx_hash: Hash32 | None = None

    @property
    def pending(self) -> bool:
        return self.outcome is CheckOutcome.PENDING


class RecordStateRequest(Model):
    """A move the workflow decided alone (a verdict, an operator's decision, a refusal, a cancel)."""

    workflow_id: str
    state: PayoutState
    reason: str | None = None
    decided_by: str | None = None
    final_tx_hash: Hash32 | None = None


class SendRequest(Model):
    workflow_id: str
    policy: PayoutPolicy
    new_nonce: bool = False  # the stored tx's nonce was consumed by something else: re-sign


class SendOutcome(StrEnum):
    SENT = "SENT"
    ALREADY_PAID = "ALREADY_PAID"


class SendResult(Model):
    outcome: SendOutcome
    tx_hash: Hash32 | None = None
    nonce: int | None = None


class TxOutcome(StrEnum):
    CONFIRMED = "CONFIRMED"
    REVERTED = "REVERTED"
    PENDING = "PENDING"  # not mined (or not deep enough) yet
    NONCE_TAKEN = "NONCE_TAKEN"  # our nonce was consumed by a tx we did not sign for this payout


class AwaitTxRequest(Model):
    workflow_id: str
    policy: PayoutPolicy
    wait: bool = True  # False: look once and answer (PENDING if not yet)


class AwaitTxResult(Model):
    outcome: TxOutcome
    tx_hash: Hash32 | None = None
    reason: str | None = None

    @property
    def pending(self) -> bool:
        return self.outcome is TxOutcome.PENDING


class Notice(Model):
    workflow_id: str
    kind: str  # "escalation", "alert"
    message: str


# -- ledger rows -------------------------------------------------------------------------------


class PayoutRecord(Model):
    """One row of ``payouts`` as the repository returns it."""

    workflow_id: str
    chain_id: int
    event_tx_hash: str
    event_log_index: int
    event_block_number: int
    user_address: str
    leverage_ratio: int
    liquidation_amount_wei: int
    amount_wei: int | None
    state: PayoutState
    wallet: str | None
    nonce: int | None
    raw_tx: str | None
    tx_hashes: list[str]
    final_tx_hash: str | None
    gas_used: int | None
    block_number: int | None
    approved_by: str | None
    reason: str | None
    created_at: AwareDatetime
    updated_at: AwareDatetime

    @property
    def liquidation_id(self) -> str:
        return liquidation_id(self.event_tx_hash, self.event_log_index)


class PayoutMove(Model):
    """A payout row's next state and the facts that come with it (None: left as stored)."""

    state: PayoutState
    reason: str | None = None
    amount_wei: int | None = None
    approved_by: str | None = None
    final_tx_hash: str | None = None
    gas_used: int | None = None
    block_number: int | None = None


class NewPayout(Model):
    workflow_id: str
    chain_id: int
    event: PositionLiquidated
    at: datetime
