"""Watches of workflows that ended without deactivating them are swept: the watch goes inactive
and the account stream only it asked for stops (operator trial: a terminated grid session on an
unknown account kept its ``account_all`` stream, never healthy, and the dev stack never ready)."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from perpflow.db.ledger import Ledger
from perpflow.db.watches import Watches
from perpflow.marketdata.models import Watch, WatchKind, WatchSpec
from perpflow.marketdata.service import MarketDataService
from tests.plugins.marketdata import MdRig, RecorderWorkflow, eventually, md_config, running
from tests.plugins.sim import SimHandle

# Account indexes no other test registers: the stream exists only because a watch names it.
_ACCOUNTS = itertools.count(700_000 + uuid.uuid4().int % 100_000 * 10)


def rig(sim: SimHandle, tmp_path: Path, *, every_s: float, grace_s: float) -> MdRig:
    r = md_config(sim, tmp_path)
    return MdRig(r.url, dataclasses.replace(r.config, sweep_every_s=every_s, sweep_grace_s=grace_s))


@asynccontextmanager
async def started(client: Client, workflow_id: str) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    """A recorder workflow under ``workflow_id``, running until the block ends (or terminated)."""
    queue = f"md-sweep-{uuid.uuid4()}"
    async with Worker(
        client, task_queue=queue, workflows=[RecorderWorkflow], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        handle = await client.start_workflow(RecorderWorkflow.run, id=workflow_id, task_queue=queue)
        yield handle
        description = await handle.describe()
        if description.close_time is None:
            await handle.signal(RecorderWorkflow.finish)
            await handle.result()


async def watch_account(ledger: Ledger, workflow_id: str, *, wants_feed_state: bool = False) -> Watch:
    """An order watch on an account of its own, as a grid session registers for its account."""
    spec = WatchSpec(
        workflow_id=workflow_id,
        name="fills",
        kind=WatchKind.ORDER,
        market="ETH",
        account_index=next(_ACCOUNTS),
        client_order_index=1,
        wants_feed_state=wants_feed_state,
    )
    return await Watches(ledger).register(spec)


async def is_active(ledger: Ledger, watch: Watch) -> bool:
    return any(w.id == watch.id for w in await Watches(ledger).active())


def stream_of(watch: Watch) -> str:
    return f"account-{watch.spec.account_index}"


async def streamed(svc: MarketDataService, watch: Watch) -> None:
    async def present() -> bool:
        return stream_of(watch) in svc.streams

    await eventually(present, f"stream {stream_of(watch)} started")


async def sweeps_after(svc: MarketDataService, registered: datetime, grace_s: float, count: int = 2) -> None:
    """Wait until ``count`` sweeps have started after ``registered`` + the grace (the first that
    saw the watch as old may have been under way before it)."""

    async def past_grace() -> bool:
        return datetime.now(UTC) > registered + timedelta(seconds=grace_s)

    await eventually(past_grace, "watch older than the grace")
    done = svc.sweep.sweeps

    async def swept() -> bool:
        return svc.sweep.sweeps >= done + count

    await eventually(swept, f"{count} sweeps")


async def test_a_terminated_workflows_watch_is_deactivated_and_its_account_stream_stops(
    sim: SimHandle, temporal_env: WorkflowEnvironment, pg_ledger: Ledger, tmp_path: Path
) -> None:
    client = temporal_env.client
    # A quote in the id: the visibility query must still parse and find it.
    async with started(client, f"md-sweep-o'dead-{uuid.uuid4()}") as wf:
        watch = await watch_account(pg_ledger, wf.id)
        async with running(rig(sim, tmp_path, every_s=0.2, grace_s=0.5), client, pg_ledger) as svc:
            await streamed(svc, watch)
            await wf.terminate(reason="operator")

            async def swept() -> bool:
                return not await is_active(pg_ledger, watch) and stream_of(watch) not in svc.streams

            await eventually(swept, "watch deactivated and its stream stopped")


async def test_the_watches_of_running_workflows_are_kept(
    sim: SimHandle, temporal_env: WorkflowEnvironment, pg_ledger: Ledger, tmp_path: Path
) -> None:
    client = temporal_env.client
    md = rig(sim, tmp_path, every_s=0.2, grace_s=0.5)
    # Ids with a quote (found by the visibility query) and a double quote (which it matches no
    # id with: the workflow's own record tells it is running).
    first, second = f"md-sweep-o'live-{uuid.uuid4()}", f'md-sweep-"live"-{uuid.uuid4()}'
    async with started(client, first) as a, started(client, second) as b:
        watches = [await watch_account(pg_ledger, a.id), await watch_account(pg_ledger, b.id)]
        registered = datetime.now(UTC)
        async with running(md, client, pg_ledger) as svc:
            for watch in watches:
                await streamed(svc, watch)
            await sweeps_after(svc, registered, md.config.sweep_grace_s)
            for watch in watches:
                assert await is_active(pg_ledger, watch)
                assert stream_of(watch) in svc.streams


async def test_a_watch_younger_than_the_grace_is_kept_though_its_workflow_is_not_visible(
    sim: SimHandle, temporal_env: WorkflowEnvironment, pg_ledger: Ledger, tmp_path: Path
) -> None:
    client = temporal_env.client
    # No such workflow (yet): as a just-started one the visibility store does not show.
    watch = await watch_account(pg_ledger, f"md-sweep-unseen-{uuid.uuid4()}")
    async with running(rig(sim, tmp_path, every_s=0.2, grace_s=60.0), client, pg_ledger) as svc:
        await streamed(svc, watch)
        done = svc.sweep.sweeps

        async def swept_twice() -> bool:
            return svc.sweep.sweeps >= done + 2

        await eventually(swept_twice, "two sweeps")
        assert await is_active(pg_ledger, watch)
        assert stream_of(watch) in svc.streams


async def test_a_signal_not_found_deactivates_the_workflows_watches_without_waiting_for_a_sweep(
    sim: SimHandle, temporal_env: WorkflowEnvironment, pg_ledger: Ledger, tmp_path: Path
) -> None:
    client = temporal_env.client
    # One sweep at the start, none after: only the NOT_FOUND of a feed_changed can deactivate.
    async with running(rig(sim, tmp_path, every_s=3600, grace_s=0), client, pg_ledger) as svc:

        async def first_sweep_done() -> bool:
            return svc.sweep.sweeps >= 1

        await eventually(first_sweep_done, "the first sweep")
        async with started(client, f"md-sweep-gone-{uuid.uuid4()}") as wf:
            await wf.terminate(reason="operator")
        watch = await watch_account(pg_ledger, wf.id, wants_feed_state=True)

        async def gone() -> bool:
            return not await is_active(pg_ledger, watch) and stream_of(watch) not in svc.streams

        await eventually(gone, "watch deactivated on NOT_FOUND and its stream stopped")
        assert svc.sweep.sweeps == 1
