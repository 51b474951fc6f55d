"""``feed_changed``: a workflow whose watch asks for the feed state learns it at registration,
then hears a websocket drop as one ``down`` and one ``up`` per stream, in order, the ``up`` only
after the outage's fills were signalled. A workflow that did not ask hears nothing of it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
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
from tests.plugins.marketdata import FAST, Maker, MdRig, eventually, md_config, running
from tests.plugins.sim import SimHandle
from workflows.commands import CommandLog, RejectsUnknownSignals

FAR = Decimal(1_000_000)  # a band no test price reaches: the watch is there for its feed state


def rig(sim: SimHandle, state_dir: Path) -> MdRig:
    """Fast reconnects, but staleness as slow as in production: a busy machine stalling the
    test's loop for seconds must not count as one more outage."""
    base = md_config(sim, state_dir)
    return replace(base, config=replace(base.config, stream=replace(FAST, stale_after_s=30.0)))


class Heard(Model):
    registered: Watch | None
    signals: list[FeedChanged]  # every feed_changed, as it came
    latest: dict[str, FeedChanged]  # per stream, the newest change known (registered or told)
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
        self.latest: dict[str, FeedChanged] = {}
        self.events: list[str] = []
        self.done = False

    async def watch(self, account_index: int) -> None:
        spec = band(workflow.info().workflow_id, account_index, wants_feed_state=self.wants_feed_state)
        self.registered = await workflow.execute_activity(
            "register_watch", spec, result_type=Watch, start_to_close_timeout=timedelta(seconds=10)
        )
        for change in self.registered.feed:
            self.take(change)
        await workflow.wait_condition(lambda: self.done)

    @workflow.signal(name=ORDER_FILLED)
    def order_filled(self, payload: dict[str, Any]) -> None:
        self.events.append(f"fill {OrderFilled.model_validate(payload).fill_id}")

    def take(self, change: FeedChanged) -> bool:
        """The epoch rule: a change at or below the newest known for its stream is stale."""
        known = self.latest.get(change.stream)
        if known is not None and change.epoch <= known.epoch:
            return False
        self.latest[change.stream] = change
        return True

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def heard(self) -> Heard:
        return Heard(
            registered=self.registered,
            signals=self.signals,
            latest=self.latest,
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
        if self.take(change):
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


def told_after(got: Heard, stream: str, epoch: int) -> list[FeedState]:
    """The states told for a stream after an epoch, once per change, in epoch order."""
    told = {c.epoch: c.state for c in got.signals if c.stream == stream and c.epoch > epoch}
    return [told[e] for e in sorted(told)]


def fill_before_last_up(got: Heard, stream: str) -> bool:
    """A fill was taken before the stream's last ``up``: the gap's fills came first."""
    fill = next(i for i, e in enumerate(got.events) if e.startswith("fill "))
    return fill < max(i for i, e in enumerate(got.events) if e == f"{stream} up")


async def test_a_websocket_drop_is_told_as_down_then_up_once_each_after_the_outage_fills(
    sim: SimHandle, temporal_env: WorkflowEnvironment, pg_ledger: Ledger, maker: Maker, tmp_path: Path
) -> None:
    client = temporal_env.client
    index = maker.account.account_index
    streams = (BOOKS, account_stream(index))
    async with running(rig(sim, tmp_path), client, pg_ledger) as svc:
        await all_up(svc, *streams)
        async with (
            started(client, pg_ledger, tmp_path, FeedWatcherWorkflow, index) as wf,
            started(client, pg_ledger, tmp_path, QuietWatcherWorkflow, index) as quiet,
        ):

            async def told_current() -> bool:
                got = await heard(wf)
                return got.registered is not None and len(got.signals) >= len(streams)

            await eventually(told_current, "the current state told on first sight")
            first_sight = await heard(wf)
            registered = first_sight.registered
            assert registered is not None and registered.feed_up is True
            assert {(c.stream, c.state) for c in registered.feed} == {(s, FeedState.UP) for s in streams}
            base = {c.stream: c.epoch for c in registered.feed}
            assert {(c.stream, c.epoch) for c in first_sight.signals} == set(base.items())

            await sim.admin.inject_fault("ws_drop", seconds=1.5)  # new sockets refused for 1.5 s
            await maker.fill_one(wf.id, "fill-while-down")

            async def back_up() -> bool:
                got = await heard(wf)
                return all(told_after(got, s, base[s])[-1:] == [FeedState.UP] for s in streams)

            await eventually(back_up, "both streams told up again")
            await eventually(lambda: _settled(svc), "signals settled")
            got = await heard(wf)
            quiet_heard = await heard(quiet)

    for stream in streams:
        assert told_after(got, stream, base[stream]) == [FeedState.DOWN, FeedState.UP]
    assert fill_before_last_up(got, account_stream(index))
    # Each change reached the workflow once: the state at first sight, one down and one up.
    assert len(got.signals) == 3 * len(streams)
    assert got.rejected == []
    assert quiet_heard.signals == [] and quiet_heard.rejected == []
    assert quiet_heard.registered is not None and quiet_heard.registered.feed_up is None


async def test_a_worker_restart_is_told_up_with_a_newer_epoch_after_the_missed_fill(
    sim: SimHandle, temporal_env: WorkflowEnvironment, pg_ledger: Ledger, maker: Maker, tmp_path: Path
) -> None:
    client = temporal_env.client
    index = maker.account.account_index
    streams = (BOOKS, account_stream(index))
    config = rig(sim, tmp_path)
    async with started(client, pg_ledger, tmp_path, FeedWatcherWorkflow, index) as wf:
        async with running(config, client, pg_ledger) as svc:
            await all_up(svc, *streams)

            async def knows_up() -> bool:
                latest = (await heard(wf)).latest
                return all(s in latest and latest[s].state is FeedState.UP for s in streams)

            await eventually(knows_up, "the workflow knows both streams up")
            before = {s: c.epoch for s, c in (await heard(wf)).latest.items()}
        await maker.fill_one(wf.id, "fill-while-no-worker")
        async with running(config, client, pg_ledger) as svc:

            async def up_again() -> bool:
                got = await heard(wf)
                return all(told_after(got, s, before[s])[-1:] == [FeedState.UP] for s in streams)

            await eventually(up_again, "both streams told up by the new run")
            await eventually(lambda: _settled(svc), "signals settled")
            got = await heard(wf)
    # The new run tells "down" from a stream's start only if it sees the watch before the stream is
    # up (on a loaded machine it may not): the "up" with a newer epoch (up_again) is the reconnect.
    assert fill_before_last_up(got, account_stream(index))


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
