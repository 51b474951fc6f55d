"""GRVT accounts in the signer's config: the venue, both keys by reference, its signer queue, its adapter."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from perpflow import names
from perpflow.config import load_yaml
from perpflow.devstack.ports import free_port
from perpflow.errors import ConfigError
from perpflow.orders.config import SignerConfig
from perpflow.venues import registry
from perpflow.venues.base import Venue, VenueName
from perpflow.venues.errors import TransportError
from perpflow.venues.grvt.client import GrvtVenue
from perpflow.venues.grvt.feed import GrvtFeed

KEY = "0xf7934647276a6e1fa0af3f4467b4b8ddaf45d25a7368fa1a295eef49a446819d"


def signer_yaml(tmp_path: Path, venues: dict[str, object], **account: object) -> Path:
    path = tmp_path / "signer.yaml"
    entry = {"name": "grid", "venue": "grvt", "account_index": 8289849667772468, "api_key_index": 2,
             "api_key": "env:GRVT_SIGNER", "session_key": "env:GRVT_API_KEY", **account}  # fmt: skip
    path.write_text(yaml.safe_dump({**venues, "accounts": [entry]}))
    return path


async def test_a_grvt_account_builds_the_grvt_venue_with_both_keys_and_its_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRVT_SIGNER", KEY)
    monkeypatch.setenv("GRVT_API_KEY", "api-key-1")
    monkeypatch.setenv("PROXY_PASSWORD", "s3cret")
    # A proxy address nothing listens on: the venue's public read and its login both fail there,
    # naming it (sent direct, they would fail naming the venue's own host).
    port = free_port()
    proxy = {"url": f"http://127.0.0.1:{port}", "username": "trader", "password": "env:PROXY_PASSWORD"}
    path = signer_yaml(tmp_path, {"grvt": {"url": "https://testnet.grvt.io"}}, proxy=proxy)
    config = load_yaml(path, SignerConfig)
    (account,) = config.with_proxies()
    access = config.access(account, tmp_path)
    assert account.venue is VenueName.GRVT
    assert access.session_key is not None and access.session_key.get_secret_value() == "api-key-1"
    assert access.proxy is not None and access.proxy.url == f"http://127.0.0.1:{port}"
    assert access.proxy.password is not None and access.proxy.password.get_secret_value() == "s3cret"
    venue = registry.build_venue(account.venue, access)
    try:
        assert isinstance(venue, GrvtVenue) and isinstance(venue, Venue)
        assert venue.endpoints.chain_id == 326 and venue.session is not None
        assert (
            venue._signer is not None
            and venue._signer.address == "0xE10eC9Bb1eE30Af8bE35B32B163E7458a07aD987"
        )
        at_the_proxy = rf"ClientProxyConnectionError: Cannot connect to host 127\.0\.0\.1:{port}\b"
        with pytest.raises(TransportError, match=at_the_proxy):
            await venue.markets()  # a public read
        with pytest.raises(TransportError, match=at_the_proxy):
            await venue.session.login()  # the API-key login
    finally:
        await venue.close()
    queue = names.signer_queue(account.venue, account.account_index, account.api_key_index)
    assert queue == "perpflow-signer-grvt-8289849667772468-2"
    assert isinstance(registry.build_feed(VenueName.GRVT, "https://grvt.io"), GrvtFeed)


def test_a_grvt_account_without_its_login_key_fails_the_config_load(tmp_path: Path) -> None:
    path = signer_yaml(tmp_path, {"grvt": {"url": "https://grvt.io"}}, session_key=None)
    with pytest.raises(ConfigError, match="session_key"):
        load_yaml(path, SignerConfig)


def test_an_account_on_a_venue_without_its_endpoint_fails_the_config_load(tmp_path: Path) -> None:
    path = signer_yaml(tmp_path, {"lighter": {"url": "http://127.0.0.1:9"}})
    with pytest.raises(ConfigError, match="grvt need that venue's endpoint"):
        load_yaml(path, SignerConfig)
