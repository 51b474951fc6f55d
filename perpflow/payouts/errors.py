"""Why a payout step refuses, as exception classes (pure: no I/O library behind them).

Activities raise these and retry policies name them as non-retryable; the workflow tells a
business refusal of the wallet lane from a transport failure by these names.
"""

from __future__ import annotations


class PayoutNotFound(Exception):
    """No ledger row for this payout workflow (the workflow writes it first)."""


class DuplicatePayoutEvent(Exception):
    """Another workflow already owns this event's row: never two payouts for one event."""


class PayoutIneligible(Exception):
    """A business reason not to pay (cap, pool, whitelist)."""


class PayoutStateError(Exception):
    """The ledger row cannot be sent (no amount, final already)."""


class IllegalTransition(Exception):
    """A bug: the state table forbids this move."""
