"""An order's state in the ledger, and which state may follow which.

The first four are perpflow's own steps around a send; the last four are what the venue says of
the order (``venues.types.OrderStatus``, same words). These are the only words the ledger has
ever written, so older rows read as they are.
"""

from __future__ import annotations

from enum import StrEnum

from perpflow.venues.types import OrderStatus


class OrderState(StrEnum):
    INTENT = "intent"  # claimed with its client order index; nothing signed, nothing sent
    SUBMITTING = "submitting"  # signed and recorded: from here the send may have reached the venue
    SUBMITTED = "submitted"  # the venue took the send; the look-up right after did not show it yet
    REJECTED = "rejected"  # refused as specified before it executed: never on the venue
    PENDING = "pending"
    OPEN = "open"
    FILLED = "filled"
    CANCELED = "canceled"

    @classmethod
    def seen(cls, status: OrderStatus) -> OrderState:
        return cls(status.value)

    def may_become(self, state: OrderState) -> bool:
        return state in TRANSITIONS[self]

    def passed(self, state: OrderState) -> bool:
        """Whether this state lies beyond ``state``: a report of ``state`` is older news."""
        return self != state and self in _REACHABLE[state]


S = OrderState
_ON_VENUE = frozenset({S.PENDING, S.OPEN, S.FILLED, S.CANCELED})
# Orders in these states may be changing the account's position right now.
IN_FLIGHT = frozenset({S.INTENT, S.SUBMITTING, S.SUBMITTED, S.PENDING})
# A venue state may repeat: a look-up refreshes the fills and the venue's reason.
TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    # An order the venue cannot sign as specified (a size off its lot) is refused before any send:
    # final for its key, so no reconciler waits on it as in flight.
    S.INTENT: frozenset({S.SUBMITTING, S.REJECTED}),
    # Refused outright (bad nonce, 429) it is an intent again; a crash before the venue answered
    # leaves it here, and after the indexing grace a resend signs it again.
    S.SUBMITTING: frozenset({S.INTENT, S.SUBMITTING, S.SUBMITTED, S.REJECTED}) | _ON_VENUE,
    S.SUBMITTED: frozenset({S.SUBMITTING}) | _ON_VENUE,
    S.PENDING: _ON_VENUE,
    S.OPEN: frozenset({S.OPEN, S.FILLED, S.CANCELED}),
    S.FILLED: frozenset({S.FILLED}),
    S.CANCELED: frozenset({S.CANCELED}),
    S.REJECTED: frozenset(),
}


def _reachable(start: OrderState) -> frozenset[OrderState]:
    found: set[OrderState] = set()
    todo = [start]
    while todo:
        for nxt in TRANSITIONS[todo.pop()] - found:
            found.add(nxt)
            todo.append(nxt)
    return frozenset(found)


_REACHABLE = {state: _reachable(state) for state in OrderState}
_SOURCES = {state: frozenset(s for s in OrderState if s.may_become(state)) for state in OrderState}


def sources(state: OrderState) -> frozenset[OrderState]:
    """The states an order may move to ``state`` from."""
    return _SOURCES[state]
