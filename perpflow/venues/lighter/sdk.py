"""The lighter-sdk's HTTP client for one account: its base URL, its proxy, and our HTTP session."""

from __future__ import annotations

import aiohttp
import lighter
from yarl import URL

from perpflow.venues.types import Proxy


def configuration(url: str, proxy: Proxy | None) -> lighter.Configuration:
    cfg = lighter.Configuration(host=url)
    if proxy is not None:
        # Credentials go in the proxy URL: aiohttp sends ``proxy_headers`` only on CONNECT
        # tunnels, but derives Proxy-Authorization from the URL for plain-HTTP requests too.
        proxy_url = URL(proxy.url)
        if proxy.username:
            secret = proxy.password.get_secret_value() if proxy.password else ""
            proxy_url = proxy_url.with_user(proxy.username).with_password(secret)
        cfg.proxy = str(proxy_url)
    return cfg


def api_client(url: str, proxy: Proxy | None) -> lighter.ApiClient:
    """The SDK's API client on an HTTP session that ignores the environment. The SDK's own trusts
    it (proxy variables, .netrc): an account without a proxy would go out through the process's,
    and both are looked up in a thread before every request, two turns of the event loop and a
    thread's wait for the GIL ahead of each send. An account's proxy is its own, set explicitly.
    Build inside a running event loop."""
    api = lighter.ApiClient(configuration=configuration(url, proxy))
    sdk_session = api.rest_client.pool_manager
    api.rest_client.pool_manager = aiohttp.ClientSession(connector=sdk_session.connector, trust_env=False)
    sdk_session.detach()  # its connector (the account's connection pool) is the new session's now
    return api
