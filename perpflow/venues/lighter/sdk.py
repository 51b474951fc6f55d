"""The lighter-sdk's HTTP configuration for one account: its base URL and its proxy."""

from __future__ import annotations

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
