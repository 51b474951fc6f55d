"""One engine, several faces: the server mounts each, feeds each the same changes, resets each."""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from perpflow.sim.account import Account
from perpflow.sim.changes import Changes
from perpflow.sim.enums import CancelReason, OrderKind, OrderStatus, Side, TimeInForce
from perpflow.sim.faces.lighter.codes import KIND_WORDS, ORDER_KINDS, TIF_WORDS, TIMES_IN_FORCE, status_word
from perpflow.sim.faces.lighter.face import LighterFace
from perpflow.sim.order import NewOrder, Trade
from perpflow.sim.server import build_app, publish
from perpflow.sim.venue import SimConfig, Venue

LIGHTER_KEY = "ab" * 40


class EmptyView:
    def account(self, acct: Account) -> dict[str, Any]:
        return {}

    def trade(self, trade: Trade) -> dict[str, Any]:
        return {}

    def book(self, market_id: int) -> dict[str, Any]:
        return {}


@dataclass
class RecordingFace:
    """A second face made only from the Face protocol: it records what the server gives it."""

    view: EmptyView = field(default_factory=EmptyView)
    credentials: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    batches: list[Changes] = field(default_factory=list)
    resets: int = 0

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/recording", self.ping)

    async def ping(self, request: web.Request) -> web.Response:
        return web.json_response({"batches": len(self.batches)})

    def add_credentials(self, account: int, body: dict[str, Any]) -> None:
        self.credentials.append((account, body))

    async def publish(self, changes: Changes) -> None:
        self.batches.append(changes)

    def background(self) -> list[Coroutine[Any, Any, None]]:
        return []

    async def drop_sockets(self, refuse_seconds: float = 0.0) -> int:
        return 0

    def reset(self) -> None:
        self.resets += 1


@dataclass
class Rig:
    venue: Venue
    recording: RecordingFace
    http: TestClient[web.Request, web.Application]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    venue = Venue(SimConfig(price_path="manual"))
    recording = RecordingFace()
    app = build_app(venue, [LighterFace(venue), recording])
    async with TestClient(TestServer(app)) as http:
        yield Rig(venue, recording, http)


async def test_each_face_registers_its_own_credentials_from_one_admin_call(rig: Rig) -> None:
    resp = await rig.http.post("/_sim/accounts", json={"collateral": "1000", "api_keys": {"3": LIGHTER_KEY}})
    account = (await resp.json())["account_index"]
    keys = await (await rig.http.get(f"/api/v1/apikeys?account_index={account}")).json()
    assert [(k["api_key_index"], k["public_key"]) for k in keys["api_keys"]] == [(3, LIGHTER_KEY)]
    assert rig.recording.credentials == [(account, {"collateral": "1000", "api_keys": {"3": LIGHTER_KEY}})]
    assert (await (await rig.http.get("/recording")).json()) == {"batches": 0}


async def test_every_face_gets_the_same_batch_of_engine_changes(rig: Rig) -> None:
    engine = rig.venue.engine
    account = engine.create_account(10**12).index
    req = NewOrder(0, 7, 100, 290000, Side.BUY, OrderKind.LIMIT, TimeInForce.GOOD_TILL_TIME)
    engine.submit(account, req)
    other = RecordingFace()
    await publish(rig.venue, [rig.recording, other])
    [batch] = rig.recording.batches
    assert other.batches == [batch] and other.batches[0] is batch
    assert account in batch.accounts and (Side.BUY, 290000) in batch.levels[0]
    await publish(rig.venue, [rig.recording])
    assert rig.recording.batches[1] == Changes({}, [], set())


async def test_reset_forgets_every_face_state(rig: Rig) -> None:
    await rig.http.post("/_sim/accounts", json={"collateral": "1000", "api_keys": {"3": LIGHTER_KEY}})
    await rig.http.post("/_sim/reset")
    assert rig.recording.resets == 1
    resp = await rig.http.post("/_sim/accounts", json={"collateral": "1000"})
    account = (await resp.json())["account_index"]
    keys = await (await rig.http.get(f"/api/v1/apikeys?account_index={account}")).json()
    assert (account, keys["api_keys"]) == (100, [])


def test_lighter_has_a_word_for_every_engine_term() -> None:
    assert set(ORDER_KINDS.values()) == set(KIND_WORDS) == set(OrderKind)
    assert set(TIMES_IN_FORCE.values()) == set(TIF_WORDS) == set(TimeInForce)
    req = NewOrder(0, 0, 100, 1, Side.SELL, OrderKind.LIMIT, TimeInForce.IMMEDIATE_OR_CANCEL)
    order = req.accept(order_index=1 << 48, account=100, now_ms=0)
    for status in set(OrderStatus) - {OrderStatus.CANCELED}:
        order.status = status
        assert status_word(order)
    order.status = OrderStatus.CANCELED
    for reason in CancelReason:
        order.cancel_reason = reason
        assert status_word(order).startswith("canceled")
