"""Named activity presets: timeouts and retry policy declared once, used by every workflow.

Non-retryable error types are the exception classes the activities raise (Temporal matches them by
class name); they come from modules that load no I/O library.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from perpflow.chain.errors import ChainConfigError
    from perpflow.hedge.errors import CycleIdReused
    from perpflow.orders.errors import IntentConflict, OrderNotFound
    from perpflow.payouts.errors import (
        DuplicatePayoutEvent,
        PayoutIneligible,
        PayoutNotFound,
        PayoutStateError,
    )
    from perpflow.risk import RiskRejected
    from perpflow.venues.errors import AuthError, InsufficientMargin, InvalidOrder, Unrepresentable


def _doubling(first_ms: int, cap_s: int, *final: type[Exception], attempts: int = 0) -> RetryPolicy:
    """Retries from `first_ms` apart, doubling up to `cap_s`, `attempts` at most (0: no limit);
    the `final` error types never retry."""
    return RetryPolicy(
        initial_interval=timedelta(milliseconds=first_ms),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=cap_s),
        maximum_attempts=attempts,
        non_retryable_error_types=[error.__name__ for error in final],
    )


# Ledger reads and writes: short, retried quickly; a database outage heals by itself.
LEDGER: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=15),
    "retry_policy": _doubling(200, 10, CycleIdReused),
}

# Records and alerts beside a risk-reducing path (hedge, close, unwind, cancel): a few quick
# attempts, never waited on before the orders that reduce exposure. Alerts land in the ledger's
# outbox, whose delivery retries on its own.
BESIDE: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": _doubling(200, 2, CycleIdReused, attempts=5),
}

# A first read of each leg's signer queue: a queue nobody polls (an unknown account or API key,
# a signer that is not running) fails the cycle within this time instead of waiting forever.
SIGNER_PRESENT = timedelta(seconds=10)

# Health probes report a failure as data; retrying would only hide the latency being measured.
PROBE: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_attempts=2),
}

_PAYOUT_RETRY = _doubling(200, 10, PayoutNotFound, PayoutStateError, DuplicatePayoutEvent, ValidationError)

# Payout ledger writes and notifications beside the workflow (local activities: milliseconds, no
# server round trip).
PAYOUT_LOCAL: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=20),
    "retry_policy": _PAYOUT_RETRY,
}

# Payout waits (confirmations and eligibility, receipts): regular activities, because each may poll
# the node for up to the policy's check_max_wait_s (<= 8 s) and a local activity would hold its
# workflow task, and with it a workflow-task slot, that long: hundreds of payouts waiting for
# receipts would keep new events from even starting. Same queue as the workflow: eagerly started.
PAYOUT_WAIT: dict[str, Any] = {"start_to_close_timeout": timedelta(seconds=30), "retry_policy": _PAYOUT_RETRY}

# The wallet lane (one slot): allocate + sign + store + broadcast returns fast; a retry rebroadcasts
# the stored bytes. Business refusals are final; node and ledger trouble retries with back-off.
CHAIN_TX: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    # A send takes milliseconds; a lane worker that died mid-send is retried after this.
    "heartbeat_timeout": timedelta(seconds=5),
    "retry_policy": _doubling(500, 15, PayoutIneligible, PayoutStateError, PayoutNotFound, ChainConfigError),
}

# Orders on a signer queue. A transport failure or a not-yet-visible order retries (the
# activity looks before it sends again); business refusals never do. A placement takes well
# under a second, so a signer that died mid-order is given up on (and retried) after 10 s.
_ORDER_REFUSED = (
    InsufficientMargin, InvalidOrder, Unrepresentable, RiskRejected, AuthError, IntentConflict, OrderNotFound,
)  # fmt: skip
ORDER: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": _doubling(250, 5, *_ORDER_REFUSED),
}

# Reads of the venue (books, orders, positions): cheap to repeat.
VENUE_READ: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=15),
    "retry_policy": _doubling(250, 5, InvalidOrder, AuthError, OrderNotFound),
}


# -- the exposure reconciler ------------------------------------------------------------------------
# Its Schedule skips a run while the last one still runs, so one call that never returns would stop
# every later run: each call gives up within seconds, the account is reported unread (or the action
# failed) for this run, and the next period looks again.

# Venue reads on a signer's read queue, and the owners look-up (ledger + Temporal).
RECONCILE_READ: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=10),
    "schedule_to_close_timeout": timedelta(seconds=20),
    "retry_policy": _doubling(250, 2, InvalidOrder, AuthError, OrderNotFound, attempts=4),
}

# Its cancels and reduce-only closes on a signer queue: the ORDER preset's final error types, and a
# bound. A close is sized from a fresh look each run, and an order still in flight defers the next
# run's position judgement, so giving up here never doubles a close.
RECONCILE_ACTION: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=10),
    "schedule_to_close_timeout": timedelta(seconds=30),
    "retry_policy": _doubling(250, 5, *_ORDER_REFUSED, attempts=5),
}
