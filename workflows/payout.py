"""LiquidationPayoutWorkflow: one PositionLiquidated event -> at most one payout, ever.

confirmations and canonical check -> eligibility and tiered amount -> approval gate above the
threshold -> the wallet's nonce lane (sign once, store, broadcast) -> receipt and its
confirmations, rebroadcast when lost, fee bump when stuck -> DONE. The on-chain ``paid[id]``
mapping is the last guard against a second payout.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from perpflow.names import CYCLE_STATE, KIND, Kind, wallet_queue
    from perpflow.payouts import models as m
    from perpflow.payouts.errors import PayoutIneligible, PayoutStateError
    from perpflow.payouts.rules import needs_approval, tier_amount_wei
    from workflows.calls import (
        AWAIT_TX,
        BUMP_PAYOUT,
        CHECK_EVENT,
        NOTIFY_PAYOUT,
        RECORD_PAYOUT_STATE,
        SEND_PAYOUT,
        Activity,
    )
    from workflows.commands import CommandLog, RejectsUnknownSignals
    from workflows.failures import unless_cancelled
    from workflows.options import PAYOUT_LOCAL
    from workflows.validation import FAIL_ON_INVALID_INPUT, parse_input

S = m.PayoutState
Wait = TypeVar("Wait", m.CheckEventRequest, m.AwaitTxRequest)
Answer = TypeVar("Answer", m.CheckEventResult, m.AwaitTxResult)
Lane = Activity[m.SendRequest, m.SendResult]
# Payouts begun before this patch wait in local activities and upsert every state; after it they
# look once locally, wait in regular activities, get their search attributes from the watcher's
# start and skip the transient CHECKING upsert (fewer workflow tasks and history events each).
WAITS_AS_ACTIVITIES = "payout-waits-as-activities"
# From this patch a tx is stuck once its send's timer fired, not by the clock (workflows.timers).
STUCK_BY_TIMER = "payout-stuck-by-timer"
# The wallet lane's business refusals, and the state each one ends the payout in.
LANE_REFUSALS = {PayoutIneligible.__name__: S.INELIGIBLE, PayoutStateError.__name__: S.FAILED}


@workflow.defn(name="LiquidationPayoutWorkflow", failure_exception_types=FAIL_ON_INVALID_INPUT)
class LiquidationPayoutWorkflow(RejectsUnknownSignals):
    def __init__(self) -> None:
        self.commands = CommandLog("payout")
        self._input: m.PayoutInput | None = None
        self._current: m.PayoutStatus | None = None
        self._decision: tuple[bool, m.ApprovalDecision] | None = None
        self._new_waits = False
        self._lane_call: asyncio.Task[m.SendResult] | None = None

    @workflow.run
    async def run(self, raw: Any = None) -> m.PayoutStatus:
        inp = self._input = parse_input(m.PayoutInput, raw, Kind.PAYOUT)
        self._current = m.PayoutStatus(
            workflow_id=workflow.info().workflow_id,
            state=S.CONFIRMING,
            user=inp.event.user,
            leverage=inp.event.leverage,
            rejected_commands=self.commands.rejected,
        )
        self._new_waits = workflow.patched(WAITS_AS_ACTIVITIES)
        if not self._new_waits or workflow.info().typed_search_attributes.get(KIND) is None:
            workflow.upsert_search_attributes(
                [KIND.value_set(Kind.PAYOUT), CYCLE_STATE.value_set(S.CONFIRMING)]
            )
        try:
            await self._pay(inp)
        except asyncio.CancelledError:
            await self._cancelled()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._status

    async def _pay(self, inp: m.PayoutInput) -> None:
        amount = tier_amount_wei(inp.event.leverage, inp.policy)
        self._status.amount_wei = amount
        check = await self._confirm_and_check(amount)
        if check.outcome is m.CheckOutcome.REORGED:
            await self._decide(S.REORGED, reason=check.reason)
        elif check.outcome is m.CheckOutcome.INELIGIBLE:
            await self._decide(S.INELIGIBLE, reason=check.reason)
        elif check.outcome is m.CheckOutcome.ALREADY_PAID:
            await self._decide(S.DONE, reason="already paid on-chain", final_tx_hash=check.paid_tx_hash)
        elif await self._approved(amount):
            await self._send_and_confirm()

    async def _cancelled(self) -> None:
        """A Temporal cancel. Before the wallet lane took it, nothing was sent and no nonce was
        taken: end CANCELLED. After a broadcast a payout cannot be unsent: it is tracked to its
        final receipt, and the workflow says so and completes."""
        st = self._status
        if self._lane_call is not None and not self._lane_call.done():
            with contextlib.suppress(ActivityError):
                self._sent_by(await self._lane_call)
        if not st.tx_hashes:
            await self._decide(S.CANCELLED, reason=f"cancelled in {st.state}: nothing was sent")
            raise asyncio.CancelledError(st.reason)
        st.reason = "cancel requested after broadcast: a sent payout cannot be unsent; tracked to its receipt"
        workflow.logger.warning("payout %s %s", st.workflow_id, st.reason)
        if not st.state.final:
            await self._track_receipt()

    @property
    def _inp(self) -> m.PayoutInput:
        assert self._input is not None
        return self._input

    @property
    def _status(self) -> m.PayoutStatus:
        assert self._current is not None
        return self._current

    @workflow.query
    def status(self) -> m.PayoutStatus:
        return self._status

    @workflow.update
    async def approve(self, decision: m.ApprovalDecision) -> m.PayoutStatus:
        self._decision = (True, decision)
        await workflow.wait_condition(lambda: self._status.state is not S.AWAITING_APPROVAL)
        return self._status

    @approve.validator
    def _validate_approve(self, decision: m.ApprovalDecision) -> None:
        self._require_pending_decision()

    @workflow.update
    async def reject(self, decision: m.ApprovalDecision) -> m.PayoutStatus:
        self._decision = (False, decision)
        await workflow.wait_condition(lambda: self._status.state is not S.AWAITING_APPROVAL)
        return self._status

    @reject.validator
    def _validate_reject(self, decision: m.ApprovalDecision) -> None:
        self._require_pending_decision()

    def _require_pending_decision(self) -> None:
        if self._status.state is not S.AWAITING_APPROVAL or self._decision is not None:
            raise ValueError(
                f"payout {self._status.workflow_id} is {self._status.state}, not awaiting approval"
            )

    async def _confirm_and_check(self, amount: int) -> m.CheckEventResult:
        inp, alerted = self._inp, False
        req = m.CheckEventRequest(
            workflow_id=self._status.workflow_id, event=inp.event, policy=inp.policy, amount_wei=amount
        )
        look_first = True
        while True:
            check = await self._wait(CHECK_EVENT, req, look_first)
            look_first = False
            if check.pending:
                continue  # the activity already waited; ask again for more confirmations
            if check.outcome is not m.CheckOutcome.POOL_LOW:
                if check.outcome is not m.CheckOutcome.REORGED:
                    # No upsert: the next state follows in this same workflow task.
                    self._move(S.CHECKING, upsert=not self._new_waits)
                return check
            if not alerted:  # an empty pool is an operator's job: wait for funds, do not drop
                await self._notify("alert", check.reason or "payout pool too low")
                alerted = True
            await workflow.sleep(timedelta(seconds=inp.policy.pool_recheck_s))

    async def _approved(self, amount: int) -> bool:
        if not needs_approval(amount, self._inp.policy):
            self._move(S.SENDING)
            return True
        self._status.needs_approval = True
        await self._decide(S.AWAITING_APPROVAL)
        try:
            await workflow.wait_condition(
                lambda: self._decision is not None,
                timeout=timedelta(seconds=self._inp.policy.approval_timeout_s),
            )
        except TimeoutError:
            self._status.escalated = True
            await self._notify("escalation", f"payout of {amount} wei awaits approval")
            await workflow.wait_condition(lambda: self._decision is not None)
        assert self._decision is not None
        approved, decision = self._decision
        self._status.decided_by, self._status.decision_note = decision.by, decision.note
        # The note travels as the reason, the way decided_by reaches the ledger row and the audit.
        verb = "approved" if approved else "rejected"
        reason = f"{verb} by {decision.by}" + (f": {decision.note}" if decision.note else "")
        await self._decide(S.SENDING if approved else S.REJECTED, reason=reason, decided_by=decision.by)
        return approved

    async def _send_and_confirm(self) -> None:
        sent = await self._lane(SEND_PAYOUT, new_nonce=False)
        if sent is None:
            return
        if sent.outcome is m.SendOutcome.ALREADY_PAID:
            check = await self._confirm_and_check(self._status.amount_wei or 0)
            await self._decide(S.DONE, reason="already paid on-chain", final_tx_hash=check.paid_tx_hash)
            return
        await self._track_receipt()

    async def _track_receipt(self) -> None:
        self._move(S.CONFIRMING_TX)
        last_send, stuck_after = workflow.now(), timedelta(seconds=self._inp.policy.stuck_after_s)
        timed = workflow.patched(STUCK_BY_TIMER)  # before it: the clock since last_send
        since_send = asyncio.create_task(workflow.sleep(stuck_after)) if timed else None
        req = m.AwaitTxRequest(workflow_id=self._status.workflow_id, policy=self._inp.policy)
        look_first = True
        while True:
            result = await self._wait(AWAIT_TX, req, look_first)
            look_first = False
            if result.outcome is m.TxOutcome.CONFIRMED:
                self._move(S.DONE, reason=result.reason, final_tx_hash=result.tx_hash)
                return
            if result.outcome is m.TxOutcome.REVERTED:
                self._move(S.FAILED, reason=result.reason)
                await self._notify("alert", result.reason or "payout reverted")
                return
            stuck = since_send.done() if since_send is not None else workflow.now() - last_send >= stuck_after
            taken = result.outcome is m.TxOutcome.NONCE_TAKEN
            if taken or stuck:
                again = await self._lane(SEND_PAYOUT if taken else BUMP_PAYOUT, new_nonce=taken)
                if again is None:
                    return
                if since_send is not None:  # each send its own (an old one firing late decides nothing)
                    since_send = asyncio.create_task(workflow.sleep(stuck_after))
                last_send = workflow.now()

    async def _lane(self, lane: Lane, *, new_nonce: bool) -> m.SendResult | None:
        """One call into the wallet's nonce lane; a business refusal ends the payout."""
        policy = self._inp.policy
        self._lane_call = lane.start(
            m.SendRequest(workflow_id=self._status.workflow_id, policy=policy, new_nonce=new_nonce),
            task_queue=wallet_queue(policy.chain_id, policy.wallet_address),
        )
        try:
            # Shielded: a cancel waits for the lane, which may be broadcasting this very moment.
            result: m.SendResult = await asyncio.shield(self._lane_call)
        except ActivityError as exc:
            cause = exc.cause
            if not isinstance(cause, ApplicationError) or cause.type not in LANE_REFUSALS:
                raise
            await self._decide(LANE_REFUSALS[cause.type], reason=cause.message)
            return None
        self._sent_by(result)
        return result

    def _sent_by(self, result: m.SendResult) -> None:
        if result.tx_hash is not None and result.tx_hash not in self._status.tx_hashes:
            self._status.tx_hashes.append(result.tx_hash)

    def _move(
        self, state: S, *, reason: str | None = None, final_tx_hash: str | None = None, upsert: bool = True
    ) -> None:
        """The payout's state as the workflow tells it (query, search attribute, log). The ledger
        row follows in the step that made the move true (see ``PayoutBook``)."""
        old = self._status.state
        if state is not old:
            m.check_transition(old, state)
        self._status.state, self._status.reason = state, reason or self._status.reason
        if final_tx_hash is not None:
            self._status.final_tx_hash = final_tx_hash
        if upsert:
            workflow.upsert_search_attributes([CYCLE_STATE.value_set(state)])
        workflow.logger.info("payout %s %s -> %s %s", self._status.workflow_id, old, state, reason or "")

    async def _decide(
        self, state: S, *, reason: str | None = None, decided_by: str | None = None,
        final_tx_hash: str | None = None,
    ) -> None:  # fmt: skip
        """A move only the workflow knows of: the ledger row learns it through the record activity."""
        self._move(state, reason=reason, final_tx_hash=final_tx_hash)
        req = m.RecordStateRequest(
            workflow_id=self._status.workflow_id, state=state, reason=reason, decided_by=decided_by,
            final_tx_hash=final_tx_hash,
        )  # fmt: skip
        await unless_cancelled(RECORD_PAYOUT_STATE.run_local(req))

    async def _notify(self, kind: str, message: str) -> None:
        notice = m.Notice(workflow_id=self._status.workflow_id, kind=kind, message=message)
        await unless_cancelled(NOTIFY_PAYOUT.run_local(notice))

    async def _wait(self, check: Activity[Wait, Answer], req: Wait, look_first: bool) -> Answer:
        """The answer of a confirmation or receipt check. First one look beside the workflow (a
        local activity: on a fast chain the answer is already there); if that is still pending,
        the waiting activity, which polls up to check_max_wait_s without holding a workflow task."""
        if not self._new_waits:  # a payout begun before the patch replays as it ran
            return await unless_cancelled(check.run_local(req, preset=PAYOUT_LOCAL))
        if look_first:
            look = req.model_copy(update={"wait": False})
            first = await unless_cancelled(check.run_local(look, preset=PAYOUT_LOCAL))
            if not first.pending:
                return first
        return await unless_cancelled(check.run(req))
