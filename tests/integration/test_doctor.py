"""`perpflow doctor` on a stack of real worker processes: the orchestrator, a signer holding two
sim accounts' keys, the payout wallet on anvil's guard, market data; a dev server, the sim, anvil,
the SQLite ledger in the state dir (as `perpflow dev` lays them out).

The dev server's long polls expire every 2 s (production: a minute), so an idle worker polls again
every 2 s and doctor can be told a poller older than 10 s is gone: a stopped signer shows within
seconds instead of the minute and a half production allows.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from temporalio.testing import WorkflowEnvironment

from perpflow import names
from perpflow.cli.doctor import DoctorOptions, diagnose
from perpflow.db.migrate import upgrade
from perpflow.devstack.harness import local_temporal
from perpflow.health import Diagnosis, Finding, Status
from perpflow.models import HealthCheckInput
from perpflow.settings import Settings
from perpflow.venues.lighter.client import LighterVenue
from perpflow.venues.types import OrderKind, OrderSpec, Side, TimeInForce
from tests.plugins.chain import ChainEnv
from tests.plugins.chaos import Proc, WorkerProcs, market_data_proc, worker_procs
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount, best, new_account, venue_for

PERPFLOW = str(Path(sys.executable).parent / "perpflow")
POLLER_MAX_AGE_S = 10.0
LONG_POLL = 'matching.longPollExpirationInterval="2s"'
WALLET_KEY_ENV = "PERPFLOW_TEST_WALLET_KEY"
WAIT_S = 180.0  # processes starting on a loaded two-core machine
MANUAL_COI = 4242


@dataclass
class Stack:
    temporal: WorkflowEnvironment
    settings: Settings
    procs: WorkerProcs
    others: list[Proc]
    accounts: list[SimAccount]
    chain: ChainEnv
    sim: SimHandle
    env: dict[str, str]
    stopped: set[str] = field(default_factory=set)  # processes a test stopped on purpose

    @property
    def signer(self) -> Proc:
        return self.procs.signer

    async def diagnose(self) -> Diagnosis:
        await self.chain.mine_now()  # anvil mines on demand: a fresh head, as a live chain has
        opts = DoctorOptions(timeout_s=10, poller_max_age_s=POLLER_MAX_AGE_S)
        return await diagnose(self.settings, opts)

    async def until(self, what: str, check: Callable[[Diagnosis], bool]) -> Diagnosis:
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while True:
            found = await self.diagnose()
            if check(found):
                return found
            for proc in (p for p in (*self.procs.all, *self.others) if p.name not in self.stopped):
                assert proc.proc is not None and proc.proc.poll() is None, (
                    f"{proc.name} exited:\n{proc.tail()}"
                )
            assert asyncio.get_running_loop().time() < deadline, f"no {what}:\n{table(found)}"
            await asyncio.sleep(0.5)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [PERPFLOW, "doctor", "--poller-max-age", str(POLLER_MAX_AGE_S), "--timeout", "10", *args]
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=120)


def table(diagnosis: Diagnosis) -> str:
    return "\n".join(f"{f.status:8} {f.part:12} {f.name}: {f.detail}" for f in diagnosis.findings)


def problems(diagnosis: Diagnosis) -> list[Finding]:
    return diagnosis.problems


def named(diagnosis: Diagnosis, part: str, name: str) -> Finding:
    return next(f for f in diagnosis.findings if (f.part, f.name) == (part, name))


@pytest.fixture(scope="module")
async def fast_temporal() -> AsyncIterator[WorkflowEnvironment]:
    env = await local_temporal(dev_server_extra_args=["--dynamic-config-value", LONG_POLL])
    yield env
    await env.shutdown()


def payout_config(chain: ChainEnv, path: Path) -> None:
    config = {
        "chain": {
            "chain_id": 31337,
            "rpc_url": chain.node.http_url,
            "guard_address": chain.guard.guard_address,
            "start_block": chain.deploy_block,
        },
        "wallet": {"address": chain.owner.address, "key": f"env:{WALLET_KEY_ENV}"},
        "timing": {"confirmations": 1, "tx_confirmations": 1},
    }
    path.write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
async def stack(
    fast_temporal: WorkflowEnvironment,
    sim: SimHandle,
    chain_session: ChainEnv,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    state = tmp_path_factory.mktemp("doctor")
    ledger_url = f"sqlite:///{state / 'ledger.db'}"
    upgrade(ledger_url)
    # The signer registers its accounts in the ledger itself: the orphan checks below rely on it.
    accounts = [await new_account(sim), await new_account(sim)]
    payout_config(chain_session, state / "payouts.yaml")  # found in the state dir, as in the dev stack
    procs = worker_procs(fast_temporal, sim, ledger_url, accounts, state)
    wallet_env = {**procs.orchestrator.env, WALLET_KEY_ENV: chain_session.owner._key.get_secret_value()}
    wallet = Proc("wallet", [sys.executable, "-m", "workers.wallet"], wallet_env, state / "wallet.log")
    others = [wallet, market_data_proc(procs, state)]
    env = {k: v for k, v in procs.orchestrator.env.items() if not k.startswith("CHAOS_KEY_")}
    env.pop("DATABASE_URL")  # doctor finds the dev stack's SQLite ledger in the state dir
    settings = Settings(
        temporal_address=env["PERPFLOW_TEMPORAL_ADDRESS"], temporal_namespace=fast_temporal.client.namespace,
        state_dir=state, lighter_url=sim.url,
    )  # fmt: skip
    for proc in (*procs.all, *others):
        proc.start()
    try:
        yield Stack(fast_temporal, settings, procs, others, accounts, chain_session, sim, env)
    finally:
        for proc in (*procs.all, *others):
            proc.kill()


async def test_doctor_passes_on_a_healthy_stack_probing_every_part(stack: Stack) -> None:
    healthy = await stack.until("healthy stack", lambda d: d.ok)
    parts = {f.part for f in healthy.findings if f.status is Status.OK}
    assert parts >= {"temporal", "pollers", "orchestrator", "workflows", "ledger", "orphans", "venue",
                     "market-data", "chain", "wallet", "pool"}, table(healthy)  # fmt: skip
    polled = {f.name for f in healthy.findings if f.part == "pollers"}
    for a in stack.accounts:
        key = ("lighter", a.account_index, a.api_key_index)
        assert {names.signer_queue(*key), names.signer_read_queue(*key)} <= polled
    assert names.wallet_queue(31337, stack.chain.owner.address) in polled
    assert names.ORCHESTRATOR_QUEUE in polled
    assert [f.status for f in healthy.findings if f.status is Status.SKIPPED] == [], table(healthy)

    done = stack.cli("--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["ok"] is True


async def test_doctor_fails_on_an_order_no_workflow_owns_naming_it(stack: Stack) -> None:
    await stack.until("healthy stack", lambda d: d.ok)
    account = stack.accounts[0]
    venue = venue_for(stack.sim, account)
    try:
        await rest_by_hand(venue)
        found = await stack.until("orphan found", lambda d: any(f.part == "orphans" for f in problems(d)))
        [orphan] = [f for f in problems(found) if f.part == "orphans"]
        assert f"orphan order coi {MANUAL_COI}" in orphan.detail and "no perpflow owner" in orphan.detail
        assert f"c0 (lighter {account.account_index})" in orphan.detail
        await venue.cancel_all("ETH")
        await stack.until("healthy again", lambda d: d.ok)
    finally:
        await venue.close()


async def rest_by_hand(venue: LighterVenue) -> None:
    """A post-only bid far under the market, straight on the venue: what a person does by hand."""
    bid, _ = await best(venue)
    price = (bid * Decimal("0.9")).quantize(Decimal("0.01"))
    spec = OrderSpec(
        market="ETH", client_order_index=MANUAL_COI, side=Side.BUY, kind=OrderKind.LIMIT,
        tif=TimeInForce.POST_ONLY, size=Decimal("0.05"), price=price,
    )  # fmt: skip
    await venue.submit(await venue.sign_order(spec))


async def test_doctor_fails_naming_the_queues_of_a_stopped_signer(stack: Stack) -> None:
    await stack.until("healthy stack", lambda d: d.ok)
    stack.signer.kill()
    stack.stopped.add(stack.signer.name)
    try:
        stopped = await stack.until("signer missed", lambda d: any(f.part == "pollers" for f in problems(d)))
        missed = {f.name: f.detail for f in problems(stopped) if f.part == "pollers"}
        for i, a in enumerate(stack.accounts):
            queue = names.signer_queue("lighter", a.account_index, a.api_key_index)
            assert f"no poller: the signer of c{i} (workers.signer) is not running" in missed[queue]
        assert named(stopped, "orphans", "look").status is Status.SKIPPED  # its reads go to the signer

        done = stack.cli()
        assert done.returncode == 1, done.stdout + done.stderr
        queue = names.signer_queue(
            "lighter", stack.accounts[0].account_index, stack.accounts[0].api_key_index
        )
        assert queue in done.stderr and "problem" in done.stderr
    finally:
        stack.signer.start()
        stack.stopped.discard(stack.signer.name)
    await stack.until("signer back", lambda d: d.ok)


async def test_doctor_fails_naming_a_workflow_on_a_queue_nobody_polls(stack: Stack) -> None:
    await stack.until("healthy stack", lambda d: d.ok)
    queue = "perpflow-nobody-polls-this"  # a worker doctor does not know of, never started
    handle = await stack.temporal.client.start_workflow(
        "HealthCheckWorkflow", HealthCheckInput(), id="doctor-test-orphaned-queue", task_queue=queue
    )
    try:
        waiting = await stack.until(
            "stuck workflow", lambda d: named(d, "workflows", "stuck").status is Status.PROBLEM
        )
        detail = named(waiting, "workflows", "stuck").detail
        assert f"{handle.id} (workflow task waiting" in detail and f"for a worker on {queue})" in detail
    finally:
        await handle.terminate("test over")
    await stack.until("healthy again", lambda d: d.ok)
