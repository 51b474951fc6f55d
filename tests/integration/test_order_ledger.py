"""Order states in the ledger (both backends): moves follow the table, older venue reports are dropped."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

import pytest

from perpflow.db.fast import Done, Statement
from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.db.risk import RiskStates
from perpflow.orders import OrderIntent
from perpflow.orders.errors import IllegalTransition, IntentConflict
from perpflow.orders.status import OrderState
from perpflow.risk import GLOBAL_SCOPE, TradingState, account_scope
from perpflow.venues.base import SignedTx
from perpflow.venues.types import OrderStatus, Side, VenueOrder

TX = SignedTx(tx_type=14, tx_info="{}", tx_hash="0xfeed", nonce=7, api_key_index=3)


def venue_order(coi: int, status: OrderStatus, filled: str) -> VenueOrder:
    return VenueOrder(
        market="ETH", order_index=42, client_order_index=coi, side=Side.BUY, price=Decimal(2000),
        size=Decimal(1), filled_size=Decimal(filled), remaining_size=1 - Decimal(filled), status=status,
    )  # fmt: skip


async def sent_order(orders: Orders) -> int:
    intent = OrderIntent(
        key="wf/maker-0", workflow_id="wf", account_index=1, market="ETH", side=Side.BUY,
        size=Decimal(1), price=Decimal(2000),
    )  # fmt: skip
    record = await orders.claim(intent)
    assert record.status is OrderState.INTENT
    await orders.mark_submitting("wf/maker-0", TX)
    await orders.mark_sent("wf/maker-0")
    return record.client_order_index


async def status(orders: Orders) -> OrderState:
    record = await orders.get("wf/maker-0")
    assert record is not None
    return record.status


async def test_a_venue_report_older_than_the_ledgers_is_dropped(ledger: Ledger) -> None:
    orders = Orders(ledger)
    coi = await sent_order(orders)
    await orders.mark_seen("wf/maker-0", venue_order(coi, OrderStatus.FILLED, "1"))
    await orders.mark_seen("wf/maker-0", venue_order(coi, OrderStatus.OPEN, "0.4"))  # a slower read
    await orders.mark_sent("wf/maker-0")
    assert await status(orders) is OrderState.FILLED


async def test_an_order_seen_on_the_venue_cannot_be_marked_for_another_send(ledger: Ledger) -> None:
    orders = Orders(ledger)
    coi = await sent_order(orders)
    await orders.mark_seen("wf/maker-0", venue_order(coi, OrderStatus.OPEN, "0"))
    with pytest.raises(IllegalTransition, match="from open to submitting"):
        await orders.mark_submitting("wf/maker-0", TX)
    with pytest.raises(IllegalTransition, match="from open to rejected"):
        await orders.mark_rejected("wf/maker-0", "too late")
    assert await status(orders) is OrderState.OPEN


async def test_a_venue_contradicting_the_ledger_is_refused(ledger: Ledger) -> None:
    orders = Orders(ledger)
    coi = await sent_order(orders)
    await orders.mark_seen("wf/maker-0", venue_order(coi, OrderStatus.CANCELED, "0"))
    with pytest.raises(IllegalTransition):
        await orders.mark_seen("wf/maker-0", venue_order(coi, OrderStatus.FILLED, "1"))
    assert await status(orders) is OrderState.CANCELED


async def test_a_batch_claims_its_new_intents_at_once_and_finds_those_claimed_before(ledger: Ledger) -> None:
    orders = Orders(ledger)

    def level(i: int, price: int = 2000) -> OrderIntent:
        return OrderIntent(key=f"grid/L{i}-g0", workflow_id="grid", account_index=1, market="ETH",
                           side=Side.BUY, size=Decimal(1), price=Decimal(price - i))  # fmt: skip

    before = await orders.claim(level(1))
    records = (await orders.claim_all([level(0), level(1), level(2)], ())).records
    assert [r.intent.key for r in records] == ["grid/L0-g0", "grid/L1-g0", "grid/L2-g0"]
    assert records[1].client_order_index == before.client_order_index
    assert len({r.client_order_index for r in records}) == 3
    again = (await orders.claim_all([level(2), level(0)], ())).records  # a retried batch: the same orders
    assert [r.client_order_index for r in again] == [
        records[2].client_order_index,
        records[0].client_order_index,
    ]
    with pytest.raises(IntentConflict):
        await orders.claim_all([level(3), level(1, price=2100)], ())


def bid(key: str, i: int = 0) -> OrderIntent:
    return OrderIntent(key=key, workflow_id="grid", account_index=1, market="ETH", side=Side.BUY,
                       size=Decimal(1), price=Decimal(2000 - i))  # fmt: skip


@pytest.mark.parametrize("size", [1, 3])
async def test_a_claim_reads_the_strictest_trading_state_over_its_scopes_new_or_retried(
    ledger: Ledger, size: int
) -> None:
    """The risk gate's ledger read comes with the claim, for a first claim and for a retried one
    (its keys claimed already) alike; only the scopes asked for count."""
    orders, states = Orders(ledger), RiskStates(ledger)
    account = account_scope("lighter", 1)

    async def claimed(round_: int) -> TradingState:
        intents = [bid(f"grid/L{i}-r{round_}", i) for i in range(size)]
        first = await orders.claim_all(intents, (GLOBAL_SCOPE, account))
        again = await orders.claim_all(intents, (GLOBAL_SCOPE, account))
        assert [r.client_order_index for r in again.records] == [r.client_order_index for r in first.records]
        assert again.state is first.state
        return first.state

    assert await claimed(0) is TradingState.ACTIVE
    await states.set(account, TradingState.REDUCING, reason="test", by="pytest")
    assert await claimed(1) is TradingState.REDUCING
    await states.set(account_scope("lighter", 2), TradingState.HALTED, reason="test", by="pytest")
    assert await claimed(2) is TradingState.REDUCING  # another account's halt is not this one's
    await states.set(GLOBAL_SCOPE, TradingState.HALTED, reason="test", by="pytest")
    assert await claimed(3) is TradingState.HALTED
    assert (await orders.claim_all([bid("other/0")], ())).state is TradingState.ACTIVE  # none asked


async def test_a_new_intent_alone_is_claimed_with_its_trading_state_in_one_statement(
    pg_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refill or a hedge: one round trip to Postgres before its signature, not two."""
    await RiskStates(pg_ledger).set(GLOBAL_SCOPE, TradingState.REDUCING, reason="test", by="pytest")
    statements: list[object] = []
    run = pg_ledger.one

    async def counted(statement: Statement, params: Mapping[str, object]) -> Done:
        statements.append(statement)
        return await run(statement, params)

    monkeypatch.setattr(pg_ledger, "one", counted)
    claimed = await Orders(pg_ledger).claim_all([bid("hedge/0")], (GLOBAL_SCOPE, account_scope("lighter", 1)))
    assert (len(statements), claimed.state, claimed.records[0].status) == (
        1, TradingState.REDUCING, OrderState.INTENT,
    )  # fmt: skip


async def test_a_chunks_signed_orders_are_stored_together_and_a_refused_move_is_named(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch transaction's orders are stored before its send in one round trip (one statement on
    Postgres), each with its own signature; an order that may not move fails the store by name."""
    orders = Orders(ledger)
    keys = [f"grid/L{i}-s" for i in range(4)]
    await orders.claim_all([bid(key, i) for i, key in enumerate(keys)], ())
    signed = [(key, replace(TX, nonce=7 + i, tx_hash=f"0x{i}")) for i, key in enumerate(keys)]
    calls: list[str] = []
    one, many = ledger.one, ledger.many

    async def counted_one(statement: Statement, params: Mapping[str, object]) -> Done:
        calls.append("one")
        return await one(statement, params)

    async def counted_many(statement: Statement, params: Sequence[Mapping[str, object]]) -> int:
        calls.append("many")
        return await many(statement, params)

    monkeypatch.setattr(ledger, "one", counted_one)
    monkeypatch.setattr(ledger, "many", counted_many)
    await orders.mark_all_submitting(signed[:3])
    assert calls == ["many"]
    records = [await orders.get(key) for key in keys[:3]]
    assert [(r.status, r.nonce, r.signed.tx_hash) for r in records if r and r.signed] == [
        (OrderState.SUBMITTING, 7 + i, f"0x{i}") for i in range(3)
    ]
    await orders.mark_seen(keys[1], venue_order(records[1].client_order_index, OrderStatus.OPEN, "0"))  # type: ignore[union-attr]
    with pytest.raises(IllegalTransition, match=f"order {keys[1]} may not go from open to submitting"):
        await orders.mark_all_submitting(signed[1:])
    last = await orders.get(keys[3])
    assert last is not None and (last.status, last.nonce) == (OrderState.SUBMITTING, 10)


async def test_claims_of_one_key_at_once_get_one_record_and_another_order_conflicts(ledger: Ledger) -> None:
    """A retry racing the first attempt (two claims of one key in flight together): one row, one
    client order index for both; the same key naming another order is refused."""
    orders = Orders(ledger)
    intent = OrderIntent(
        key="wf/hedge-0", workflow_id="wf", account_index=1, market="ETH", side=Side.SELL,
        size=Decimal("0.5"), price=Decimal(1999),
    )  # fmt: skip
    records = await asyncio.gather(*(orders.claim(intent) for _ in range(8)))
    assert len({r.client_order_index for r in records}) == 1
    assert all(r.status is OrderState.INTENT and r.intent.same_order_as(intent) for r in records)
    with pytest.raises(IntentConflict):
        await orders.claim(intent.model_copy(update={"size": Decimal(1)}))
