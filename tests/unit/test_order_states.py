"""The ledger's order states: which may follow which, and what a stale venue report is."""

from __future__ import annotations

from itertools import pairwise

import pytest

from perpflow.orders.status import TRANSITIONS, OrderState, sources
from perpflow.venues.types import OrderStatus

S = OrderState


def test_the_states_are_the_words_ledger_rows_already_hold() -> None:
    assert [s.value for s in OrderState] == [
        "intent", "submitting", "submitted", "rejected", "pending", "open", "filled", "canceled",
    ]  # fmt: skip
    assert {OrderState.seen(s) for s in OrderStatus} == {S.PENDING, S.OPEN, S.FILLED, S.CANCELED}


def test_a_send_walks_the_table_from_intent_to_filled() -> None:
    path = [S.INTENT, S.SUBMITTING, S.SUBMITTED, S.PENDING, S.OPEN, S.OPEN, S.FILLED]
    assert all(a.may_become(b) for a, b in pairwise(path))


@pytest.mark.parametrize("state", [S.PENDING, S.OPEN, S.FILLED, S.CANCELED, S.REJECTED])
def test_an_order_the_venue_has_seen_or_refused_is_never_sent_again(state: OrderState) -> None:
    assert state not in sources(S.SUBMITTING)
    assert not state.may_become(S.INTENT)


@pytest.mark.parametrize("state", [S.FILLED, S.CANCELED, S.REJECTED])
def test_final_states_go_nowhere_else(state: OrderState) -> None:
    assert TRANSITIONS[state] <= {state}


def test_a_report_older_than_the_ledger_is_told_from_a_contradiction() -> None:
    assert S.FILLED.passed(S.OPEN)
    assert S.OPEN.passed(S.PENDING)
    assert not S.OPEN.passed(S.OPEN)
    assert not S.CANCELED.passed(S.FILLED)  # the venue contradicting itself is not "older news"
    assert not S.INTENT.passed(S.OPEN)
