"""Fills from the sim's account stream reach their workflows: live, across a websocket outage,
across a Temporal outage and across a market-data worker restart, each fill once."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RetryConfig
from temporalio.testing import WorkflowEnvironment

from perpflow.db.ledger import Ledger
from perpflow.marketdata.delivery import Delivery, Signaller
from perpflow.marketdata.service import MarketDataService
from perpflow.signals import PRICE_CROSSED, Direction, PriceCrossed
from perpflow.venues.feed import StreamState
from tests.plugins.marketdata import Maker, eventually, fills_of, md_config, recorded, recorder, running
from tests.plugins.sim import SimHandle
from tests.tcp_proxy import cuttable_proxy

# The SDK retries an unreachable server for ~10 s before it raises; give up within a second so
# the service's own retry loop, the one that must never drop a fill, is what the test exercises.
GIVE_UP_FAST = RetryConfig(initial_interval_millis=100, max_interval_millis=300, max_elapsed_time_millis=1000)


async def account_stream_up(svc: MarketDataService, maker: Maker) -> None:
    name = f"account-{maker.account.account_index}"

    async def up() -> bool:
        s = svc.streams.get(name)
        return s is not None and s.state is StreamState.CONNECTED

    await eventually(up, "account stream connected")


async def test_a_fill_is_signalled_to_the_workflow_that_owns_the_order(
    sim: SimHandle, temporal_env: WorkflowEnvironment, pg_ledger: Ledger, maker: Maker, tmp_path: Path
) -> None:
    client = temporal_env.client
    async with recorder(client) as wf, running(md_config(sim, tmp_path), client, pg_ledger) as svc:
        await account_stream_up(svc, maker)
        coi = await maker.fill_one(wf.id, "maker-0")
        await fills_of(wf, 1)
        rec = await recorded(wf)
        (fill,) = rec.fills.values()
        assert fill.client_order_index == coi
        assert fill.account_index == maker.account.account_index
        assert fill.fill_id.startswith("lighter-") and fill.fill_id.endswith("-buy")
        assert rec.raw_fills == 1


async def test_fills_during_a_websocket_outage_reach_their_workflow_after_reconnect(
    sim: SimHandle, temporal_env: WorkflowEnvironment, pg_ledger: Ledger, maker: Maker, tmp_path: Path
) -> None:
    client = temporal_env.client
    async with recorder(client) as wf, running(md_config(sim, tmp_path), client, pg_ledger) as svc:
        await account_stream_up(svc, maker)
        stream = svc.streams[f"account-{maker.account.account_index}"]
        await sim.admin.inject_fault("ws_drop", seconds=1.5)
        await maker.fill_one(wf.id, "maker-outage")  # new sockets are refused for 1.5 s
        await fills_of(wf, 1)
        assert stream.reconnects >= 1
        assert (await recorded(wf)).raw_fills == 1


async def test_worker_restart_loses_no_fill_and_signals_none_twice(
    sim: SimHandle, temporal_env: WorkflowEnvironment, pg_ledger: Ledger, maker: Maker, tmp_path: Path
) -> None:
    client = temporal_env.client
    config = md_config(sim, tmp_path)
    async with recorder(client) as wf:
        async with running(config, client, pg_ledger) as svc:
            await account_stream_up(svc, maker)
            await maker.fill_one(wf.id, "maker-before")
            await fills_of(wf, 1)
        # The worker is gone: this fill happens with nobody streaming.
        coi = await maker.fill_one(wf.id, "maker-while-down")
        await eventually(lambda: _filled(maker, coi), "the fill, published to no one")
        async with running(config, client, pg_ledger) as svc:
            await fills_of(wf, 2)
            await eventually(lambda: _idle(svc), "signals settled")
        rec = await recorded(wf)
        assert len(rec.fills) == 2
        assert rec.raw_fills == 2  # the first fill was not signalled again after the restart


async def test_fills_seen_while_temporal_is_unreachable_are_retried_until_delivered(
    sim: SimHandle, temporal_env: WorkflowEnvironment, pg_ledger: Ledger, maker: Maker, tmp_path: Path
) -> None:
    server = temporal_env.client.service_client.config.target_host
    async with recorder(temporal_env.client) as wf, cuttable_proxy(server) as link:
        client = await Client.connect(
            link.address,
            namespace=temporal_env.client.namespace,
            data_converter=pydantic_data_converter,
            retry_config=GIVE_UP_FAST,
        )
        async with running(md_config(sim, tmp_path), client, pg_ledger) as svc:
            await account_stream_up(svc, maker)
            await link.cut()  # the live connection is reset, new ones are refused
            await maker.fill_one(wf.id, "maker-unreachable")
            await eventually(lambda: _retried(svc, 2), "the fill's signal to fail twice")
            assert (await recorded(wf)).fills == {}
            await link.open()
            await fills_of(wf, 1)
            await eventually(lambda: _idle(svc), "signals settled")
        (fill_id,) = (await recorded(wf)).fills
        venue_fills, _ = await maker.venue.fills("ETH")
        assert [f.fill_id for f in venue_fills] == [fill_id]


async def test_a_signal_being_retried_still_lands_before_the_next_one_to_its_workflow(
    temporal_env: WorkflowEnvironment,
) -> None:
    """A crossing retried after a newer fact would set the workflow's price back: signals to one
    workflow land in the order they were handed over, a retry's back-off (1-2 s here) included."""
    server = temporal_env.client.service_client.config.target_host
    async with recorder(temporal_env.client) as wf, cuttable_proxy(server) as link:
        client = await Client.connect(
            link.address, namespace=temporal_env.client.namespace, data_converter=pydantic_data_converter,
            retry_config=GIVE_UP_FAST,
        )  # fmt: skip
        retried: list[Delivery] = []
        signaller = Signaller(client, on_retry=retried.append, retry_initial_s=2.0, retry_max_s=2.0)
        await link.cut()
        signaller.send(_crossing(wf.id, 1))

        async def failed_once() -> bool:
            return bool(retried)

        await eventually(failed_once, "the first signal to fail")
        await link.open()
        signaller.send(_crossing(wf.id, 2))
        await signaller.flush()
        assert [c.watch_id for c in (await recorded(wf)).crossings] == [1, 2]


def _crossing(workflow_id: str, watch_id: int) -> Delivery:
    payload = PriceCrossed(
        watch_id=watch_id, venue="lighter", market="ETH", level=Decimal(3000), direction=Direction.UP,
        price=Decimal(3001), at=datetime.now(UTC),
    )  # fmt: skip
    return Delivery(workflow_id, PRICE_CROSSED, payload, key=f"cross-{watch_id}", kind="crossing")


async def _retried(svc: MarketDataService, times: int) -> bool:
    failed = svc.metrics.registry.get_sample_value("perpflow_md_signal_retries_total", {"kind": "fill"})
    return (failed or 0) >= times


async def _filled(maker: Maker, coi: int) -> bool:
    order = await maker.venue.order_by_client_index("ETH", coi)
    return order is not None and order.filled_size > 0


async def _idle(svc: MarketDataService) -> bool:
    return svc.signaller.pending == 0 and not svc._background
