"""Session fixture: the simulated venue as a subprocess on a free port (manual prices, seed 1).

Load with ``pytest_plugins = ["tests.plugins.sim"]`` (or ``-p tests.plugins.sim``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from perpflow.devstack.harness import SimProcess, start_sim, stop_sim
from perpflow.sim.admin_client import SimAdmin


@dataclass(frozen=True)
class SimHandle:
    url: str
    ws_url: str
    admin: SimAdmin


@pytest.fixture(scope="session")
def sim_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    sim = start_sim(tmp_path_factory.mktemp("sim"))
    yield sim
    stop_sim(sim.proc)


@pytest.fixture(scope="session")
async def sim(sim_process: SimProcess) -> AsyncIterator[SimHandle]:
    admin = SimAdmin(sim_process.url)
    yield SimHandle(url=sim_process.url, ws_url=sim_process.ws_url, admin=admin)
    await admin.close()


@dataclass
class Trader:
    """A funded sim account with one registered API key and an SDK SignerClient."""

    account_index: int
    api_key_index: int
    private_key: str
    client: object  # lighter.SignerClient (untyped module)

    def auth_token(self) -> str:
        token, err = self.client.create_auth_token_with_expiry(api_key_index=self.api_key_index)  # type: ignore[attr-defined]
        assert err is None, err
        return str(token)


async def new_trader(sim: SimHandle, collateral: str = "100000", api_key_index: int = 3) -> Trader:
    """Must run inside the event loop: SignerClient builds an aiohttp client."""
    import lighter

    private_key, public_key, err = lighter.create_api_key()
    assert err is None, err
    account_index = await sim.admin.create_account(collateral, {api_key_index: public_key})
    client = lighter.SignerClient(
        url=sim.url, account_index=account_index, api_private_keys={api_key_index: private_key}
    )
    return Trader(account_index, api_key_index, private_key, client)


@pytest.fixture
async def fresh(sim: SimHandle) -> AsyncIterator[SimHandle]:
    """The sim reset to its start (accounts, orders, prices, faults) for tests that need that."""
    await sim.admin.reset()
    yield sim
    await sim.admin.clear_faults()


@pytest.fixture
async def trader(fresh: SimHandle) -> AsyncIterator[Trader]:
    t = await new_trader(fresh)
    yield t
    await t.client.close()  # type: ignore[attr-defined]


@pytest.fixture
async def api(fresh: SimHandle) -> AsyncIterator[object]:
    import lighter

    client = lighter.ApiClient(configuration=lighter.Configuration(host=fresh.url))
    yield client
    await client.close()
