"""GRVT on the real stack (no fixtures here): accounts on the sim's GRVT face (a sub-account id of
their own, a trading key and a View-only key), the signer YAML naming both venues, and perpflow's
worker processes configured for both by their environment alone."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import yaml
from eth_account import Account
from pydantic import SecretStr
from temporalio.client import WorkflowHandle, WorkflowQueryFailedError
from temporalio.testing import WorkflowEnvironment

from perpflow.marketdata.models import WorkerStatus
from perpflow.marketdata.status import read_status, status_path
from perpflow.venues.feed import StreamState
from perpflow.venues.grvt.client import GrvtVenue
from tests.plugins.chaos import Proc
from tests.plugins.sim import SimHandle
from tests.plugins.venues import SimAccount

ETH_GRVT = "ETH_USDT_Perp"  # the sim's market 0 through the GRVT face
WAIT_S = 60.0
JOB_WAIT_S = 90.0  # a job through the worker processes: orders placed, filled, hedged, closed
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class GrvtSimAccount:
    engine_index: int  # the sim engine's account (the Lighter face's index)
    account_index: int  # its GRVT sub-account id: perpflow's account index on GRVT
    signer: SecretStr  # the private key the trading key is tagged to: it signs the orders
    trade_key: SecretStr  # API key with trade + view
    view_key: SecretStr  # API key with view only (another address): enough for market data


async def admin_post(sim: SimHandle, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.post(f"{sim.url}{path}", json=body) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


async def new_grvt_account(sim: SimHandle, collateral: str = "100000") -> GrvtSimAccount:
    """A funded engine account reached through the GRVT face only, under a 16-digit sub-account id
    (as GRVT's are), so it never equals a Lighter account index by chance."""
    signer, viewer, tag = Account.create(), Account.create(), uuid.uuid4().hex[:10]
    sub = 10**15 + secrets.randbelow(8 * 10**15)
    keys = [
        {"api_key": f"trade-{tag}", "signer": signer.address, "permissions": ["trade", "view"]},
        {"api_key": f"view-{tag}", "signer": viewer.address, "permissions": ["view"]},
    ]
    body = {"collateral": collateral, "grvt_sub_account_id": str(sub), "grvt_api_keys": keys}
    engine = int((await admin_post(sim, "/_sim/accounts", body))["account_index"])
    return GrvtSimAccount(
        engine, sub, SecretStr(signer.key.hex()), SecretStr(f"trade-{tag}"), SecretStr(f"view-{tag}")
    )


def grvt_url(sim: SimHandle) -> str:
    return f"{sim.url}/grvt"


def grvt_venue(sim: SimHandle, account: GrvtSimAccount) -> GrvtVenue:
    return GrvtVenue(
        grvt_url(sim), account.account_index, api_key_index=0,
        private_key=account.signer, session_key=account.trade_key,
    )  # fmt: skip


async def best(venue: GrvtVenue, market: str = ETH_GRVT) -> tuple[Decimal, Decimal]:
    book = await venue.book(market, 5)
    assert book.best_bid is not None and book.best_ask is not None
    return book.best_bid, book.best_ask


@dataclass(frozen=True)
class Stack:
    """The environment and the signer config every worker process of one test shares."""

    env: dict[str, str]
    signer_config: Path
    state_dir: Path

    def proc(self, name: str, *argv: str) -> Proc:
        return Proc(name, [sys.executable, "-m", *argv], self.env, self.state_dir / f"{name}.log")

    def orchestrator(self) -> Proc:
        return self.proc("orchestrator", "workers.orchestrator")

    def signer(self) -> Proc:
        return self.proc("signer", "workers.signer", str(self.signer_config))

    def market_data(self, *markets: str) -> Proc:
        args = ["--signer-config", str(self.signer_config), "--markets", ",".join(markets)]
        return self.proc("market-data", "workers.market_data", *args, "--metrics-port", "0")

    def status(self) -> WorkerStatus | None:
        path = status_path(self.state_dir)
        return read_status(path) if path.exists() else None

    async def streams_connected(self, names: Iterable[str], proc: Proc) -> WorkerStatus:
        """The market-data worker's status once these streams (as its status file names them)
        are connected."""
        wanted = set(names)

        def connected() -> WorkerStatus | None:
            status = self.status()
            up = {s.name for s in status.streams if s.state is StreamState.CONNECTED} if status else set()
            return status if wanted <= up else None

        return await until_value(connected, f"streams {sorted(wanted)} connected", proc)


def grvt_stack(
    temporal: WorkflowEnvironment,
    sim: SimHandle,
    postgres_url: str,
    state_dir: Path,
    grvt: Sequence[GrvtSimAccount],
    lighter: Sequence[SimAccount] = (),
    *,
    view_login: bool = False,
) -> Stack:
    """Both venues' URLs in the environment, every account's keys in the signer YAML by reference
    (``env:``): GRVT accounts sign with their trading key and log in with it (``view_login``: with
    their View-only key, for a file only the market-data worker reads). Accounts are named by their
    index: the signer registers an account in the (session-wide) ledger only under a name no other
    module's stack has taken."""
    keys: dict[str, str] = {}
    accounts: list[dict[str, Any]] = []
    for i, g in enumerate(grvt):
        login = g.view_key if view_login else g.trade_key
        keys |= {f"GRVT_SIGNER_{i}": g.signer.get_secret_value(), f"GRVT_KEY_{i}": login.get_secret_value()}
        accounts.append({
            "name": f"grvt-{g.account_index}", "venue": "grvt", "account_index": g.account_index,
            "api_key_index": 0, "api_key": f"env:GRVT_SIGNER_{i}", "session_key": f"env:GRVT_KEY_{i}",
        })  # fmt: skip
    for i, a in enumerate(lighter):
        keys[f"LIGHTER_KEY_{i}"] = a.private_key.get_secret_value()
        accounts.append({
            "name": f"lighter-{a.account_index}", "account_index": a.account_index,
            "api_key_index": a.api_key_index, "api_key": f"env:LIGHTER_KEY_{i}", "tier": "premium",
        })  # fmt: skip
    config = state_dir / "signer.yaml"
    venues = {"lighter": {"url": sim.url}, "grvt": {"url": grvt_url(sim)}}
    config.write_text(yaml.safe_dump({**venues, "accounts": accounts}))
    env = {
        **os.environ,
        "PERPFLOW_TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
        "PERPFLOW_TEMPORAL_NAMESPACE": temporal.client.namespace,
        # A killed orchestrator's runs resume 2 s later instead of the default 10 (chaos kills it).
        "PERPFLOW_ORCHESTRATOR_STICKY_TIMEOUT_S": "2",
        "PERPFLOW_STATE_DIR": str(state_dir),
        "DATABASE_URL": postgres_url,
        "PERPFLOW_LIGHTER_URL": sim.url,
        "PERPFLOW_GRVT_URL": grvt_url(sim),
        "NO_PROXY": "127.0.0.1,localhost",
        "TZ": "UTC",
        **keys,
    }
    return Stack(env, config, state_dir)


@asynccontextmanager
async def workers_running(
    stack: Stack, markets: Sequence[str], streams: Iterable[str]
) -> AsyncIterator[list[Proc]]:
    """The orchestrator, the signer and the market-data worker (keeping `markets`) as processes,
    yielded once the first two poll and the named streams are connected (a grid places nothing
    while its feed is down); killed on the way out."""
    procs = [stack.orchestrator(), stack.signer(), stack.market_data(*markets)]
    try:
        for p in procs:
            p.start()
        await asyncio.gather(procs[0].polling(), procs[1].polling())
        await stack.streams_connected(streams, procs[2])
        yield procs
    finally:
        for p in procs:
            p.kill()


class ProcWaits:
    """Waits of a test rig over its worker processes (``procs``): each fails with their logs when
    one of them exits or the time runs out."""

    procs: list[Proc]

    def tails(self) -> str:
        return "\n".join(f"-- {p.name}\n{p.tail(60)}" for p in self.procs)

    async def outcome(self, handle: WorkflowHandle[Any, R]) -> R:
        """The workflow's result, with the processes' logs when it fails or never ends."""
        try:
            return await asyncio.wait_for(handle.result(), JOB_WAIT_S)
        except BaseException as exc:
            raise AssertionError(f"{handle.id} did not end well: {exc!r}\n{self.tails()}") from exc

    async def until(self, check: Callable[[], Awaitable[Any]], what: str) -> Any:
        """``await check()`` once truthy (None while a query fails)."""
        deadline = asyncio.get_running_loop().time() + JOB_WAIT_S
        while True:
            with contextlib.suppress(WorkflowQueryFailedError):
                if value := await check():
                    return value
            for p in self.procs:
                assert p.proc is not None and p.proc.poll() is None, f"{p.name} exited:\n{p.tail()}"
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.tails()}")
            await asyncio.sleep(0.2)


async def until_value(get: Callable[[], T | None], what: str, *watched: Proc, timeout: float = WAIT_S) -> T:
    """``get()`` once it is not None; fails early, with its log, if a watched process exits."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (value := get()) is None:
        for p in watched:
            assert p.proc is not None and p.proc.poll() is None, f"{p.name} exited:\n{p.tail()}"
        if asyncio.get_running_loop().time() > deadline:
            tails = "\n".join(f"-- {p.name}\n{p.tail()}" for p in watched)
            raise AssertionError(f"timed out waiting for {what}\n{tails}")
        await asyncio.sleep(0.05)
    return value


async def until_true(
    check: Callable[[], Awaitable[bool]], what: str, *watched: Proc, timeout: float = WAIT_S
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        for p in watched:
            assert p.proc is not None and p.proc.poll() is None, f"{p.name} exited:\n{p.tail()}"
        if asyncio.get_running_loop().time() > deadline:
            tails = "\n".join(f"-- {p.name}\n{p.tail()}" for p in watched)
            raise AssertionError(f"timed out waiting for {what}\n{tails}")
        await asyncio.sleep(0.1)
