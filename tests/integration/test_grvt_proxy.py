"""Per-account proxies on GRVT: the adapter's login, orders and reads, and the account's fill stream
(its login and its websocket) go through the account's proxy, a real pproxy process, to the sim's
GRVT face; with the proxy gone nothing reaches the venue."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from perpflow.venues.base import Proxy
from perpflow.venues.errors import TransportError
from perpflow.venues.feed import StreamHooks, StreamState
from perpflow.venues.grvt.client import GrvtVenue
from perpflow.venues.grvt.feed import GrvtFeed
from perpflow.venues.types import OrderKind, OrderSpec, OrderStatus, Side, TimeInForce, VenueFill
from tests.integration.test_grvt_adapter import ETH, SIZE, GrvtAccount, best, grvt_venue, new_grvt_account
from tests.integration.test_grvt_adapter_feed import OPTIONS, condition, running
from tests.plugins.sim import SimHandle
from tests.plugins.venues import ProxyServer


def sim_port(sim: SimHandle) -> int:
    return int(sim.url.rsplit(":", 1)[1])


def proxy_of(server: ProxyServer, password: str = "s3cret") -> Proxy:
    return Proxy(url=server.url, username="trader", password=SecretStr(password))


def proxied_venue(sim: SimHandle, account: GrvtAccount, proxy: Proxy) -> GrvtVenue:
    return GrvtVenue(
        f"{sim.url}/grvt", account.account_index, api_key_index=0,
        private_key=account.signer, session_key=account.api_key, proxy=proxy,
    )  # fmt: skip


def kill(server: ProxyServer) -> None:
    server.proc.kill()
    server.proc.wait()


async def test_a_grvt_accounts_login_orders_and_reads_go_through_its_proxy(
    sim: SimHandle, proxy_server: ProxyServer
) -> None:
    account = await new_grvt_account(sim)
    venue = proxied_venue(sim, account, proxy_of(proxy_server))
    try:
        bid, _ = await best(venue)  # a public read: through the proxy as well
        assert proxy_server.connections_to(sim_port(sim)) >= 1
        spec = OrderSpec(
            market=ETH, client_order_index=77, side=Side.BUY, kind=OrderKind.LIMIT,
            tif=TimeInForce.POST_ONLY, size=SIZE, price=bid - 10,
        )  # fmt: skip
        await venue.submit(await venue.sign_order(spec))
        order = await venue.order_by_client_index(ETH, 77)
        assert order is not None and order.status is OrderStatus.OPEN
        assert venue.session is not None and venue.session.logins == 1
        # Nothing goes direct: without its proxy the account reaches neither the trades host
        # (its live cookie notwithstanding) nor the login.
        kill(proxy_server)
        with pytest.raises(TransportError):  # the kept-alive connection to the proxy broke
            await venue.open_orders(ETH)
        with pytest.raises(TransportError, match="ClientProxyConnectionError"):
            await venue.open_orders(ETH)
        venue.session.expire()
        with pytest.raises(TransportError, match="ClientProxyConnectionError"):
            await venue.session.login()
    finally:
        await venue.close()
    assert "s3cret" not in proxy_server.log.read_text()


async def test_a_grvt_proxy_refusing_our_credentials_is_a_transport_error_not_an_auth_error(
    sim: SimHandle, proxy_server: ProxyServer
) -> None:
    account = await new_grvt_account(sim)
    venue = proxied_venue(sim, account, proxy_of(proxy_server, password="wrong"))
    try:
        with pytest.raises(TransportError):  # the proxy's 407: not the venue refusing the API key
            await venue.open_orders(ETH)
        with pytest.raises(TransportError):
            await venue.markets()
    finally:
        await venue.close()
    assert proxy_server.connections_to(sim_port(sim)) == 0


async def test_a_grvt_account_stream_logs_in_and_connects_through_its_proxy(
    sim: SimHandle, proxy_server: ProxyServer
) -> None:
    account = await new_grvt_account(sim)
    trader = grvt_venue(sim, account)  # the orders go direct: only the stream is under test
    feed = GrvtFeed(f"{sim.url}/grvt")
    await feed.start(asyncio.Event())  # the public instrument list: no account, no proxy
    feed.add_login(account.account_index, account.api_key)
    assert proxy_server.connections_to(sim_port(sim)) == 0
    fills: list[VenueFill] = []
    hooks = StreamHooks(options=OPTIONS)
    stream = feed.account("acct", account.account_index, proxy_of(proxy_server), fills.extend, hooks)
    try:
        async with running(stream):
            await condition(lambda: stream.state is StreamState.CONNECTED)
            # The login and the upgrade (aiohttp keeps one connection to the proxy for both).
            assert proxy_server.connections_to(sim_port(sim)) >= 1
            _, ask = await best(trader)
            spec = OrderSpec(
                market=ETH, client_order_index=7101, side=Side.BUY, kind=OrderKind.MARKET,
                tif=TimeInForce.IOC, size=SIZE, price=ask + 5,
            )  # fmt: skip
            await trader.submit(await trader.sign_order(spec))
            await condition(lambda: any(f.client_order_index == 7101 for f in fills))
            # The socket runs through the proxy: killing it ends the socket, and every reconnect
            # fails at the proxy (its login first) rather than going direct.
            kill(proxy_server)
            await condition(lambda: stream.state is not StreamState.CONNECTED)
            await condition(lambda: stream.status().failures_in_row >= 2)
            error = stream.status().error
            assert "grvt login" in error and "ClientProxyConnectionError" in error
            assert stream.state is not StreamState.CONNECTED
    finally:
        await trader.close()
        await feed.close()
    assert "s3cret" not in proxy_server.log.read_text()
