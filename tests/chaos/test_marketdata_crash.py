"""A market-data worker SIGKILLed and restarted loses no fill, and no fill counts twice.

``python -m workers.market_data`` runs as its own process, its Temporal connection through a
proxy the test can cut. It is killed right after a fill's signal was taken (its fill log not yet
saved) or while a fill it saw is still being signalled (Temporal cut away), and a fill happens
while no worker runs. The restarted worker must bring every fill the venue made to the workflow.
Signals are at least once, so one may arrive twice: the fill id makes it count once, and a real
hedge cycle fed a fill twice hedges it once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from perpflow.db.ledger import Ledger
from perpflow.hedge.models import CycleResult, CycleState
from perpflow.marketdata.models import WorkerStatus
from perpflow.marketdata.status import read_status, status_path
from perpflow.models import AccountRef
from perpflow.signals import ORDER_FILLED
from perpflow.venues.feed import StreamState
from perpflow.venues.types import Side
from tests.plugins.hedge import HedgeRig
from tests.plugins.marketdata import Maker, eventually, fills_of, recorded, recorder
from tests.plugins.sim import SimHandle
from tests.tcp_proxy import CuttableProxy, cuttable_proxy

ROOT = Path(__file__).parents[2]
# A start imports the venue SDK (seconds) and the status file is rewritten only every 2 s.
WAIT_S = 40.0
FILL_LOG = "marketdata-fills.json"
SIZE = Decimal("0.05")  # the hedge rig's cycle size


class MarketDataWorker:
    """``python -m workers.market_data`` as a separate process, killed and restarted at will."""

    def __init__(self, env: dict[str, str], state_dir: Path) -> None:
        self.env, self.state_dir = env, state_dir
        self.log = state_dir / "market-data.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = datetime.now(UTC)

    def start(self) -> None:
        self.started_at = datetime.now(UTC)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "workers.market_data", "--markets", "ETH", "--metrics-port", "0"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """SIGKILL: no drain, no last fill-log save, no goodbye to Temporal."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def status(self) -> WorkerStatus | None:
        """This run's status file; None until the running process has written one."""
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-3000:]
        path = status_path(self.state_dir)
        if not path.exists():
            return None
        status = read_status(path)
        return status if status.updated_at > self.started_at else None

    def fill_log(self) -> set[str]:
        """Fill ids the worker has handled and saved, all accounts."""
        path = self.state_dir / FILL_LOG
        if not path.exists():
            return set()
        return {i for ids in json.loads(path.read_text())["accounts"].values() for i in ids}

    async def streaming(self, *accounts: int) -> None:
        wanted = {f"account-{a}" for a in accounts}

        async def up() -> bool:
            s = self.status()
            return s is not None and wanted <= {x.name for x in s.streams if x.state is StreamState.CONNECTED}

        await eventually(up, "the worker's account streams connected", WAIT_S)

    async def signalling(self) -> None:
        async def pending() -> bool:
            s = self.status()
            return s is not None and s.pending_signals > 0

        await eventually(pending, "a signal in flight at the worker", WAIT_S)

    async def settled(self, fill_ids: set[str]) -> None:
        """Every fill handled and saved by this run, and nothing left to signal."""
        since = datetime.now(UTC)

        async def done() -> bool:
            s = self.status()
            return (
                fill_ids <= self.fill_log()
                and s is not None
                and s.updated_at > since
                and not s.pending_signals
            )

        await eventually(done, "the restarted worker to settle", WAIT_S)


@pytest.fixture
async def link(temporal_env: WorkflowEnvironment) -> AsyncIterator[CuttableProxy]:
    """The worker's only way to Temporal."""
    async with cuttable_proxy(temporal_env.client.service_client.config.target_host) as proxy:
        yield proxy


@pytest.fixture
def worker(
    tmp_path: Path, temporal_env: WorkflowEnvironment, sim: SimHandle, postgres_url: str, link: CuttableProxy
) -> Iterator[MarketDataWorker]:
    env = {
        **os.environ,
        "PERPFLOW_TEMPORAL_ADDRESS": link.address,
        "PERPFLOW_TEMPORAL_NAMESPACE": temporal_env.client.namespace,
        "PERPFLOW_STATE_DIR": str(tmp_path),
        "PERPFLOW_LIGHTER_URL": sim.url,
        "DATABASE_URL": postgres_url,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    w = MarketDataWorker(env, tmp_path)
    yield w
    w.kill()


async def venue_fills(maker: Maker, count: int) -> set[str]:
    """The maker's fills as the venue tells them: what the workflow must end up with."""
    made: set[str] = set()

    async def all_made() -> bool:
        made.update(f.fill_id for f in (await maker.venue.fills("ETH"))[0])
        return len(made) >= count

    await eventually(all_made, f"{count} fills on the venue", WAIT_S)
    assert len(made) == count, made
    return made


@pytest.mark.parametrize("killed", ["right-after-a-signal", "mid-signal"])
async def test_market_data_worker_sigkilled_and_restarted_loses_no_fill_and_counts_none_twice(
    worker: MarketDataWorker,
    link: CuttableProxy,
    maker: Maker,
    temporal_env: WorkflowEnvironment,
    killed: str,
) -> None:
    async with recorder(temporal_env.client) as wf:
        worker.start()
        await worker.streaming(maker.account.account_index)
        await maker.fill_one(wf.id, "maker-before")
        await fills_of(wf, 1, WAIT_S)
        if killed == "mid-signal":
            await link.cut()  # the worker sees the next fill but cannot hand it over
            await maker.fill_one(wf.id, "maker-in-flight")
            await worker.signalling()
        worker.kill()
        await maker.fill_one(wf.id, "maker-while-down")
        await link.open()
        worker.start()

        made = await venue_fills(maker, 3 if killed == "mid-signal" else 2)
        await fills_of(wf, len(made), WAIT_S)
        await worker.settled(made)
        rec = await recorded(wf)
        assert set(rec.fills) == made
        assert rec.raw_fills >= len(made)  # at least once: a redelivery is deduplicated by id


async def fill_signals(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The fill id of every ``order_filled`` signal in the workflow's history, repeats included."""
    ids = []
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_execution_signaled_event_attributes"):
            attrs = event.workflow_execution_signaled_event_attributes
            if attrs.signal_name == ORDER_FILLED:
                ids.append(json.loads(attrs.input.payloads[0].data)["fill_id"])
    return ids


async def test_a_fill_signalled_again_after_a_sigkill_is_hedged_once(
    worker: MarketDataWorker, hedge_rig: HedgeRig, pg_ledger: Ledger
) -> None:
    rig = hedge_rig
    for account in (rig.maker, rig.taker):
        ref = AccountRef(
            name=f"md-{account.account_index}", venue="lighter", account_index=account.account_index
        )
        await pg_ledger.upsert_account(ref)
    worker.start()
    await worker.streaming(rig.maker.account_index, rig.taker.account_index)
    handle = await rig.start(rig.cycle(Side.BUY, hold_s=600))
    await rig.quoting(handle)
    await rig.move_through(Side.BUY)
    await rig.until(handle, lambda s: s.hedged == SIZE, "the maker fill hedged", timeout=WAIT_S)
    maker_fills = {f.fill_id for f in (await rig.maker_venue.fills("ETH"))[0]}

    worker.kill()
    # As if the kill had come before the fill log's save (0.2 s after a signal): all is resent.
    (worker.state_dir / FILL_LOG).unlink(missing_ok=True)
    worker.start()
    await worker.settled(maker_fills)
    signalled = await fill_signals(handle)
    assert all(signalled.count(f) >= 2 for f in maker_fills), signalled

    await rig.until(handle, lambda s: s.state is CycleState.HOLDING, "holding", timeout=WAIT_S)
    await handle.signal("flatten", {"by": "pytest"})
    result: CycleResult = await handle.result()
    assert result.state is CycleState.DONE, result
    # Counted twice, the fill would show as 0.1 filled, and as a second hedge while quoting.
    assert result.maker_filled == result.hedged == SIZE
    hedges = [f for f in (await rig.taker_venue.fills("ETH"))[0] if f.side is Side.SELL]
    assert sum(f.size for f in hedges) == SIZE  # what the venue saw hedged
    assert await rig.positions() == (Decimal(0), Decimal(0))
