"""Fixtures for venue-layer tests: fresh sim accounts with run-time keys, and our LighterVenue."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import lighter
import pytest
from pydantic import SecretStr

from perpflow.db.ledger import Ledger
from perpflow.db.orders import Orders
from perpflow.devstack.ports import free_port
from perpflow.risk import RiskLimits
from perpflow.venues.lighter.client import LighterVenue
from tests.plugins.sim import SimHandle

KEY_INDEX = 3


@dataclass(frozen=True)
class SimAccount:
    account_index: int
    api_key_index: int
    private_key: SecretStr
    public_key: str = ""


async def new_account(sim: SimHandle, collateral: str = "100000") -> SimAccount:
    private_key, public_key, err = lighter.create_api_key()
    assert err is None, err
    index = await sim.admin.create_account(collateral, {KEY_INDEX: public_key})
    return SimAccount(index, KEY_INDEX, SecretStr(private_key), public_key)


async def account_again(sim: SimHandle, account: SimAccount, collateral: str = "100000") -> None:
    """After a reset (every account forgotten), the account anew with its key and index, as a
    fresh dev stack seeds its own: it holds nothing of what it had."""
    index = await sim.admin.create_account(collateral, {account.api_key_index: account.public_key})
    assert index == account.account_index, f"the reset sim gave index {index}, not {account.account_index}"


def venue_for(sim: SimHandle, account: SimAccount, **kwargs: object) -> LighterVenue:
    return LighterVenue(
        sim.url,
        account.account_index,
        api_key_index=account.api_key_index,
        private_key=account.private_key,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
async def sim_account(sim: SimHandle) -> SimAccount:
    return await new_account(sim)


@pytest.fixture
async def venue(sim: SimHandle, sim_account: SimAccount) -> AsyncIterator[LighterVenue]:
    v = venue_for(sim, sim_account)
    yield v
    await v.close()


@pytest.fixture
def order_activities(venue: LighterVenue, ledger: Ledger) -> object:
    from activities.orders import OrderActivities

    return OrderActivities(venue, Orders(ledger), RiskLimits())


async def best(venue: LighterVenue, market: str = "ETH") -> tuple[Decimal, Decimal]:
    book = await venue.book(market, 5)
    assert book.best_bid is not None and book.best_ask is not None
    return book.best_bid, book.best_ask


@dataclass
class ProxyServer:
    port: int
    log: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connections_to(self, port: int) -> int:
        return sum(f"-> 127.0.0.1:{port}" in line for line in self.log.read_text().splitlines())


@pytest.fixture
def proxy_server(tmp_path: Path) -> Iterator[ProxyServer]:
    """pproxy, a standalone HTTP proxy, requiring basic auth on every request (``--auth 0``:
    it otherwise trusts an IP for 30 days after one good login) and logging every connection."""
    port, log = free_port(), tmp_path / "proxy.log"
    with log.open("wb") as out:
        listen = f"http://127.0.0.1:{port}#trader:s3cret"
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "pproxy"), "-l", listen, "--auth", "0", "-v"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 10
    while "Serving on" not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    yield ProxyServer(port, log, proc)
    proc.kill()
    proc.wait()
