"""Per-account proxies: all of an account's venue traffic goes through a real proxy process."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import SecretStr

from perpflow.venues.base import Proxy
from perpflow.venues.config import ProxyConfig, VenueAccount, assign_proxies
from perpflow.venues.errors import TransportError
from perpflow.venues.types import OrderKind, OrderSpec, Side, TimeInForce
from tests.plugins.sim import SimHandle
from tests.plugins.venues import ProxyServer, SimAccount, best, venue_for


def sim_port(sim: SimHandle) -> int:
    return int(sim.url.rsplit(":", 1)[1])


async def test_an_accounts_rest_traffic_goes_through_its_proxy(
    sim: SimHandle, sim_account: SimAccount, proxy_server: ProxyServer
) -> None:
    proxy = Proxy(url=proxy_server.url, username="trader", password=SecretStr("s3cret"))
    venue = venue_for(sim, sim_account, proxy=proxy)
    try:
        bid, _ = await best(venue)
        spec = OrderSpec(
            market="ETH",
            client_order_index=77,
            side=Side.BUY,
            kind=OrderKind.LIMIT,
            tif=TimeInForce.POST_ONLY,
            size=Decimal("0.05"),
            price=bid - 10,
        )
        await venue.submit(await venue.sign_order(spec))
        assert (await venue.order_by_client_index("ETH", 77)) is not None
        assert proxy_server.connections_to(sim_port(sim)) >= 1
        # Nothing goes direct: without its proxy the account cannot reach the venue at all.
        proxy_server.proc.kill()
        proxy_server.proc.wait()
        with pytest.raises(TransportError):
            await venue.open_orders("ETH")
    finally:
        await venue.close()
    assert "s3cret" not in proxy_server.log.read_text()


async def test_an_account_without_a_proxy_never_goes_out_through_the_environments(
    sim: SimHandle, sim_account: SimAccount, proxy_server: ProxyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process's proxy variables are not an account's proxy: without one of its own it goes
    direct, whatever the environment says."""
    through = proxy_server.url.replace("http://", "http://trader:s3cret@")
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, through)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    venue = venue_for(sim, sim_account)
    try:
        bid, _ = await best(venue)
        spec = OrderSpec(
            market="ETH", client_order_index=78, side=Side.BUY, kind=OrderKind.LIMIT,
            tif=TimeInForce.POST_ONLY, size=Decimal("0.05"), price=bid - 10,
        )  # fmt: skip
        await venue.submit(await venue.sign_order(spec))
        assert (await venue.order_by_client_index("ETH", 78)) is not None
    finally:
        await venue.close()
    assert proxy_server.connections_to(sim_port(sim)) == 0


async def test_a_proxy_that_refuses_our_credentials_is_a_transport_error(
    sim: SimHandle, sim_account: SimAccount, proxy_server: ProxyServer
) -> None:
    venue = venue_for(
        sim, sim_account, proxy=Proxy(url=proxy_server.url, username="trader", password=SecretStr("wrong"))
    )
    try:
        with pytest.raises(TransportError):
            await venue.markets()
    finally:
        await venue.close()
    assert proxy_server.connections_to(sim_port(sim)) == 0


def test_twenty_accounts_share_three_proxies_round_robin() -> None:
    pool = [ProxyConfig(url=f"http://proxy-{n}:8080") for n in range(3)]
    own = ProxyConfig(url="http://dedicated:8080")
    accounts = [
        VenueAccount(
            name=f"a{n}",
            account_index=n,
            api_key_index=3,
            api_key=f"env:KEY_{n}",
            proxy=own if n == 5 else None,
        )
        for n in range(20)
    ]
    assigned = assign_proxies(accounts, pool)
    urls = [a.proxy.url for a in assigned if a.proxy is not None]
    assert urls[5] == own.url
    shared = [u for i, u in enumerate(urls) if i != 5]
    assert [shared.count(p.url) for p in pool] == [7, 6, 6]
    assert shared[:4] == [pool[0].url, pool[1].url, pool[2].url, pool[0].url]
