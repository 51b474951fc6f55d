"""``feed_changed``: a workflow whose watch asks for the feed state learns it at registration,
then hears a websocket drop as one ``down`` and one ``up`` per stream, in order, the ``up`` only
after the outage's fills were signalled. A workflow that did not ask hears nothing of it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.watches import WatchActivities
from perpflow.db.ledger import Ledger
from perpflow.marketdata.liveness import BOOKS, account_stream
from perpflow.marketdata.models import Watch, WatchKind, WatchSpec
from perpflow.marketdata.service import MarketDataService
from perpflow.models import Model, RejectedCommand
from perpflow.signals import FEED_CHANGED, ORDER_FILLED, Direction, FeedChanged, FeedState, OrderFilled
from tests.plugins.marketdata import Maker, eventually, md_config, running
from tests.plugins.sim import SimHandle
from workflows.commands import CommandLog, RejectsUnknownSignals

FAR = Decimal(1_000_000)  # a band no test price reaches: the watch is there for its feed state


class Heard(Model):
    registered: Watch | None
    signals: list[FeedChanged]  # every feed_changed, as it came
    events: list[str]  # fills and the feed changes taken (newer than what was known), in order
    rejected: list[RejectedCommand]


def band(workflow_id: str, account_index: int, *, wants_feed_state: bool) -> WatchSpec:
    return WatchSpec(
        workflow_id=workflow_id,
        name="far-band",
        kind=WatchKind.BAND,
        market="ETH",
        account_index=account_index,
        level=FAR,
        direction=Direction.UP,
        wants_feed_state=wants_feed_state,
    )


class WatcherBase(RejectsUnknownSignals):
    """Registers one far band watch, records fills; unknown signals are rejected commands."""

    wants_feed_state = False

    def __init__(self) -> None:
        self.commands = CommandLog("watcher")
        self.registered: Watch | None = None
        self.signals: list[FeedChanged] = []
        self.events: list[str] = []
        self.done = False

    async def watch(self, account_index: int) -> None:
        spec = band(workflow.info().workflow_id, account_index, wants_feed_state=self.wants_feed_state)
        self.registered = await workflow.execute_activity(
            "register_watch", spec, result_type=Watch, start_to_close_timeout=timedelta(seconds=10)
        )
        await workflow.wait_condition(lambda: self.done)

    @workflow.signal(name=ORDER_FILLED)
    def order_filled(self, payload: dict[str, Any]) -> None:
        self.events.append(f"fill {OrderFilled.model_validate(payload).fill_id}")

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def heard(self) -> Heard:
        return Heard(
            registered=self.registered,
            signals=self.signals,
            events=self.events,
            rejected=self.commands.rejected,
        )


@workflow.defn
class FeedWatcherWorkflow(WatcherBase):
    """Asks for the feed state and keeps, per stream, the newest epoch it knows."""

    wants_feed_state = True

    @workflow.run
    async def run(self, account_index: int) -> None:
        await self.watch(account_index)

    @workflow.signal(name=FEED_CHANGED)
    def feed_changed(self, payload: dict[str, Any]) -> None:
        change = FeedChanged.model_validate(payload)
        self.signals.append(change)
        known = self.registered.feed if self.registered else []
        newest = max([c.epoch for c in [*known, *self.signals[:-1]] if c.stream == change.stream] or [0])
        if change.epoch > newest:
            self.events.append(f"{change.stream} {change.state.value}")


@workflow.defn
class QuietWatcherWorkflow(WatcherBase):
    """Like a hedge cycle: a watch without the flag, and no ``feed_changed`` handler."""

    @workflow.run
    async def run(self, account_index: int) -> None:
        await self.watch(account_index)


@asynccontextmanager
async def started(
    client: Client, ledger: Ledger, state_dir: Path, cls: type[WatcherBase], account_index: int
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    queue = f"feed-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[cls],
        activities=WatchActivities(ledger, state_dir).all(),
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(
            cls.__name__, account_index, id=f"feed-{uuid.uuid4()}", task_queue=queue
        )
        yield handle
        await handle.signal("finish")
        await handle.result()


async def heard(handle: WorkflowHandle[Any, Any]) -> Heard:
    return await handle.query("heard", result_type=Heard)


async def all_up(svc: MarketDataService, *streams: str) -> None:
    async def up() -> bool:
        return all(
            (c := svc.liveness.current.get(s)) is not None and c.state is FeedState.UP for s in streams
        )

    await eventually(up, f"{', '.join(streams)} up")


async def test_a_websocket_drop_is_told_as_down_then_up_once_each_after_the_outage_fills(
    sim: SimHandle, temporal_env: WorkflowEnvironment, pg_ledger: Ledger, maker: Maker, tmp_path: Path
) -> None:
    client = temporal_env.client
    index = maker.account.account_index
    streams = (BOOKS, account_stream(index))
    async with running(md_config(sim, tmp_path), client, pg_ledger) as svc:
        await all_up(svc, *streams)
        async with (
            started(client, pg_ledger, tmp_path, FeedWatcherWorkflow, index) as wf,
            started(client, pg_ledger, tmp_path, QuietWatcherWorkflow, index) as quiet,
        ):

            async def told_current() -> bool:
                return len((await heard(wf)).signals) >= len(streams)

            await eventually(told_current, "the current state told on first sight")
            registered = (await heard(wf)).registered
            assert registered is not None and registered.feed_up is True
            assert {(c.stream, c.state) for c in registered.feed} == {(s, FeedState.UP) for s in streams}
            assert (await heard(wf)).events == []  # what it was told matched what it registered

            await sim.admin.inject_fault("ws_drop", seconds=1.5)  # new sockets refused for 1.5 s
            await maker.fill_one(wf.id, "fill-while-down")

            async def back_up() -> bool:
                events = (await heard(wf)).events
                return all(f"{s} up" in events for s in streams)

            await eventually(back_up, "both streams told up again")
            await eventually(lambda: _settled(svc), "signals settled")
            got = await heard(wf)
            quiet_heard = await heard(quiet)

    for stream in streams:
        assert [e for e in got.events if e.startswith(stream)] == [f"{stream} down", f"{stream} up"]
    fill = next(e for e in got.events if e.startswith("fill "))
    assert got.events.index(fill) < got.events.index(f"{account_stream(index)} up")
    # Each change reached the workflow once: the first-sight repeats of the registered state
    # plus one down and one up per stream.
    assert len(got.signals) == 3 * len(streams)
    assert len({(c.stream, c.epoch) for c in got.signals}) == len(got.signals)
    assert got.rejected == []
    assert quiet_heard.signals == [] and quiet_heard.rejected == []
    assert quiet_heard.registered is not None and quiet_heard.registered.feed_up is None


async def test_a_watch_registered_while_no_worker_runs_is_down(
    temporal_env: WorkflowEnvironment, pg_ledger: Ledger, tmp_path: Path
) -> None:
    async with started(temporal_env.client, pg_ledger, tmp_path, FeedWatcherWorkflow, 1) as wf:

        async def registered() -> bool:
            return (await heard(wf)).registered is not None

        await eventually(registered, "the watch registered")
        watch = (await heard(wf)).registered
    assert watch is not None and watch.feed_up is False and watch.feed == []


async def _settled(svc: MarketDataService) -> bool:
    return svc.signaller.pending == 0 and not svc._background
