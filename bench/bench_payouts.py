"""Benchmark liquidation payouts: 200 events -> 200 confirmed payouts through perpflow, against a
baseline that sends the same 200 payouts directly with web3 (run by ``make bench``).

Everything on this machine, laid out as in production: anvil (automine), the Temporal dev server
(in memory), a Postgres ledger (SQLite when none is reachable), and the orchestrator, wallet and
chain-watcher workers as their own processes, started and polling before the clock runs. This
process only sends the liquidations and watches the ledger. perpflow's figure runs from the
first liquidation sent to the last payout confirmed in the ledger; the latency of one payout is
its ledger DONE time minus its liquidation's send time. Baselines (on fresh guards, same users,
same liquidation ids): web3 pipelined (local nonce counter, sign and send all, then wait for every
receipt) and web3 sequential (send, wait for the receipt, next).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml
from sqlalchemy import func, select
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.testing import WorkflowEnvironment

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import backend, bench_ledger  # noqa: E402
from perpflow import names  # noqa: E402
from perpflow.chain.client import ChainClient  # noqa: E402
from perpflow.chain.models import SignedTx, UnsignedTx, liquidation_id  # noqa: E402
from perpflow.chain.wallet import HotWallet  # noqa: E402
from perpflow.db import tables as t  # noqa: E402
from perpflow.db.ledger import Ledger  # noqa: E402
from perpflow.db.payouts import PayoutRepository  # noqa: E402
from perpflow.devstack import chain_admin  # noqa: E402
from perpflow.devstack.anvil import AnvilConfig, AnvilNode  # noqa: E402
from perpflow.devstack.chain_admin import DevNode, new_wallet, wait_for_receipt  # noqa: E402
from perpflow.devstack.harness import local_temporal  # noqa: E402
from perpflow.devstack.ports import free_port  # noqa: E402
from perpflow.devstack.probes import queue_has_pollers  # noqa: E402
from perpflow.payouts.models import WEI_PER_ETH as ETH  # noqa: E402
from perpflow.payouts.models import PayoutState  # noqa: E402
from perpflow.payouts.watcher import cursor_name  # noqa: E402

N = int(os.environ.get("BENCH_PAYOUTS", "200"))
USERS = 20
KEY_ENV = "PERPFLOW_BENCH_WALLET_KEY"
WORKERS = ("workers.orchestrator", "workers.wallet", "workers.chain_watcher")
ACTIVITY = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
# The baselines poll their receipts as fast as the node mines (automine: milliseconds).
RECEIPT_POLL_S = 0.005


@dataclass
class Result:
    total: float
    p50: float
    p99: float
    cpu: dict[str, float]  # CPU seconds each part of the stack spent during the run


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_snapshot(groups: dict[str, str]) -> dict[int, tuple[str, float]]:
    """CPU seconds so far of every process whose command line holds one of `groups`' markers."""
    out: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        for group, marker in groups.items():
            if marker in cmdline:
                out[int(entry.name)] = (group, (int(fields[11]) + int(fields[12])) / TICKS)
                break
    return out


def cpu_spent(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    spent: dict[str, float] = {}
    for pid, (group, seconds) in after.items():
        spent[group] = spent.get(group, 0.0) + seconds - before.get(pid, (group, 0.0))[1]
    return spent


async def new_guard(client: ChainClient, users: list[str]) -> tuple[ChainClient, HotWallet]:
    owner = new_wallet()
    async with DevNode(client.rpc_url) as node:
        await node.set_balance(owner.address, 10_000 * ETH)
    guard = await chain_admin.deploy(client, owner)
    await chain_admin.fund(guard, owner, 1_000 * ETH)
    for user in users:
        await chain_admin.whitelist(guard, owner, user)
    return guard, owner


async def sign_all(
    guard: ChainClient, wallet: HotWallet, calls: list[tuple[str, tuple[object, ...]]]
) -> list[SignedTx]:
    nonce = await guard.pending_nonce(wallet.address)
    fees, chain_id = await guard.suggest_fees(), await guard.chain_id()
    return [
        wallet.sign(
            UnsignedTx(
                chain_id=chain_id, nonce=nonce + i, to=guard.guard_address,
                data=guard.encode_guard_call(fn, *args), gas=150_000, fees=fees,
            )
        )
        for i, (fn, args) in enumerate(calls)
    ]  # fmt: skip


async def baseline(client: ChainClient, users: list[str], ids: list[str], pipelined: bool) -> float:
    guard, owner = await new_guard(client, users)
    amounts = [ETH // 100] * N
    calls = [("executePayout", (users[i % USERS], amounts[i], bytes.fromhex(ids[i][2:]))) for i in range(N)]
    started = time.perf_counter()
    signed = await sign_all(guard, owner, calls)
    receipts = []
    for tx in signed:
        await guard.send_raw(tx)
        if not pipelined:
            receipts.append(await wait_for_receipt(guard, tx.tx_hash, 60, RECEIPT_POLL_S))
    if pipelined:
        receipts = [await wait_for_receipt(guard, tx.tx_hash, 60, RECEIPT_POLL_S) for tx in signed]
    elapsed = time.perf_counter() - started
    assert all(r.succeeded for r in receipts)
    return elapsed


def spawn(module: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", module], env=env, cwd=ROOT, stdout=out, stderr=out)


def process_env(env: WorkflowEnvironment, tmp: Path, url: str, config: Path, key: str) -> dict[str, str]:
    return {
        **os.environ,
        "PERPFLOW_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "PERPFLOW_TEMPORAL_NAMESPACE": env.client.namespace,
        "PERPFLOW_STATE_DIR": str(tmp),
        "PERPFLOW_LOG_LEVEL": "WARNING",
        "DATABASE_URL": url,
        "PERPFLOW_PAYOUTS_CONFIG": str(config),
        KEY_ENV: key,
    }


async def done_count(ledger: Ledger, wallet: str) -> int:
    query = select(func.count()).where(t.Payout.wallet == wallet, t.Payout.state == PayoutState.DONE)
    async with ledger.session() as s:
        return int(await s.scalar(query) or 0)


async def ready(
    env: WorkflowEnvironment, repo: PayoutRepository, guard: ChainClient, chain_id: int, wallet: str
) -> None:
    """Every process up (pollers on both queues, the watcher's cursor past an empty block) before
    the clock runs."""
    async with DevNode(guard.rpc_url) as node:
        await node.call("evm_mine")
    target, namespace = env.client.service_client.config.target_host, env.client.namespace
    checks = [
        lambda: queue_has_pollers(target, namespace, names.ORCHESTRATOR_QUEUE),
        lambda: queue_has_pollers(target, namespace, names.wallet_queue(chain_id, wallet), ACTIVITY),
        lambda: _has_cursor(repo, cursor_name(chain_id, guard.guard_address)),
    ]
    deadline = time.monotonic() + 60
    for check in checks:
        while not await check():
            assert time.monotonic() < deadline, "bench processes did not come up; see their logs"
            await asyncio.sleep(0.1)


async def _has_cursor(repo: PayoutRepository, name: str) -> bool:
    return await repo.load_cursor(name) is not None


async def run_perpflow(
    env: WorkflowEnvironment, client: ChainClient, ledger: Ledger, anvil: AnvilNode, *, tmp: Path, url: str
) -> tuple[Result, list[str], list[str]]:
    users = [new_wallet().address for _ in range(USERS)]
    guard, owner = await new_guard(client, users)
    reporter = new_wallet()
    async with DevNode(client.rpc_url) as node:
        await node.set_balance(reporter.address, 100 * ETH)
    await chain_admin.set_reporter(guard, owner, reporter.address)
    chain_id = await guard.chain_id()
    config = tmp / "payouts.yaml"
    config.write_text(yaml.safe_dump({
        "chain": {"chain_id": chain_id, "rpc_url": anvil.http_url, "ws_url": anvil.ws_url,
                  "guard_address": guard.guard_address, "start_block": await guard.head_number() + 1},
        "wallet": {"address": owner.address, "key": f"env:{KEY_ENV}"},
        "rules": {"per_user_daily_cap_eth": "1000", "daily_cap_eth": "100000"},
        "timing": {"confirmations": 1, "tx_confirmations": 1, "stuck_after_s": 30},
    }))  # fmt: skip
    penv = process_env(env, tmp, url, config, owner._key.get_secret_value())
    repo = PayoutRepository(ledger)
    procs = [spawn(module, penv, tmp / f"{module.split('.')[1]}.log") for module in WORKERS]
    await ready(env, repo, guard, chain_id, owner.address)
    calls = [("liquidate", (users[i % USERS], 300 + 100 * (i % 12), ETH)) for i in range(N)]
    signed = await sign_all(guard, reporter, calls)
    sent_at: dict[str, datetime] = {}
    temporal_port = env.client.service_client.config.target_host.rsplit(":", 1)[1]
    groups = {
        "Temporal dev server": f"start-dev --port {temporal_port}",
        **{module: f"-m {module}" for module in WORKERS},
        "anvil": f"--port {anvil.config.port}",
        "PostgreSQL (all backends)": "postgres:",
        "bench (sends, polls the ledger)": "bench_payouts.py",
    }
    cpu_before = cpu_snapshot(groups)
    started = time.perf_counter()
    for tx in signed:
        await guard.send_raw(tx)
        sent_at[tx.tx_hash] = datetime.now(UTC)
    while True:  # polling the ledger is the measurement: DONE is written there
        if await done_count(ledger, owner.address) >= N:
            break
        await asyncio.sleep(0.05)
    total = time.perf_counter() - started
    cpu = cpu_spent(cpu_before, cpu_snapshot(groups))
    for proc in procs:
        proc.terminate()
        proc.wait(15)
    rows = [r for r in await repo.recent(10 * N) if r.wallet == owner.address]
    nonces = sorted(r.nonce or 0 for r in rows)
    assert nonces == list(range(nonces[0], nonces[0] + N)), "nonce gap"
    latencies = sorted((r.updated_at - sent_at[r.event_tx_hash]).total_seconds() for r in rows)
    result = Result(total, statistics.median(latencies), latencies[min(N - 1, round(0.99 * N))], cpu)
    return result, [liquidation_id(tx.tx_hash, 0) for tx in signed], users


async def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-payouts-"))
    with bench_ledger(tmp) as url:
        anvil = AnvilNode(AnvilConfig(port=free_port())).start()
        env = await local_temporal()
        client = ChainClient(anvil.http_url)
        ledger = Ledger(url)
        try:
            ours, ids, users = await run_perpflow(env, client, ledger, anvil, tmp=tmp, url=url)
            pipelined = await baseline(client, users, ids, pipelined=True)
            sequential = await baseline(client, users, ids, pipelined=False)
        finally:
            await ledger.close()
            await client.close()
            await env.shutdown()
            anvil.stop(graceful=False)
    where = f"anvil automine, 1 confirmation, {backend(url)} ledger, logs in {tmp}"
    print(f"liquidation payouts: {N} events, {where}")
    print(
        f"  perpflow         total {ours.total:6.2f} s {N / ours.total:6.1f}/s   "
        f"event -> confirmed payout p50 {ours.p50 * 1000:5.0f} ms  p99 {ours.p99 * 1000:5.0f} ms"
    )
    print(f"  web3 pipelined   total {pipelined:6.2f} s {N / pipelined:6.1f}/s")
    print(f"  web3 sequential  total {sequential:6.2f} s {N / sequential:6.1f}/s")
    cores = os.cpu_count() or 1
    print(
        f"  CPU during perpflow's run (there were {cores} x {ours.total:.1f} = {cores * ours.total:.1f} s):"
    )
    for group, seconds in [*sorted(ours.cpu.items(), key=lambda kv: -kv[1]), ("all", sum(ours.cpu.values()))]:
        print(f"    {group:34s} {seconds:6.2f} s  {seconds / N * 1000:6.1f} ms per payout")
    print(f"  ratio  perpflow / web3 pipelined {ours.total / pipelined:4.1f}x   "
          f"perpflow / web3 sequential {ours.total / sequential:4.1f}x   (target <= 3x)")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)
