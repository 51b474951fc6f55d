"""The signer's venue config: accounts by venue name, tiers the venue sells, neutral access details."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from perpflow.config import load_yaml
from perpflow.errors import ConfigError
from perpflow.orders.config import SignerConfig
from perpflow.venues import registry
from perpflow.venues.base import RequestLimits, VenueName


def signer_yaml(tmp_path: Path, **account: object) -> Path:
    path = tmp_path / "signer.yaml"
    entry = {"name": "maker", "account_index": 7, "api_key_index": 3, "api_key": "env:MAKER_KEY", **account}
    path.write_text(yaml.safe_dump({"lighter": {"url": "http://127.0.0.1:9"}, "accounts": [entry]}))
    return path


def test_a_lighter_account_reaches_its_venue_with_its_key_proxy_and_tier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAKER_KEY", "0xkey")
    path = signer_yaml(tmp_path, venue="lighter", tier="premium", proxy={"url": "http://proxy:8080"})
    config = load_yaml(path, SignerConfig)
    (account,) = config.with_proxies()
    access = config.access(account, tmp_path)
    assert account.venue is VenueName.LIGHTER
    assert (access.url, access.account_index, access.api_key_index) == ("http://127.0.0.1:9", 7, 3)
    assert access.private_key is not None and access.private_key.get_secret_value() == "0xkey"
    assert access.proxy is not None and access.proxy.url == "http://proxy:8080"
    assert access.limits == RequestLimits(tier="premium")


def test_a_tier_the_venue_does_not_sell_fails_the_config_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lighter has no account tier 'gold'"):
        load_yaml(signer_yaml(tmp_path, tier="gold"), SignerConfig)


def test_an_unknown_venue_fails_the_config_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"accounts\.0\.venue"):
        load_yaml(signer_yaml(tmp_path, venue="mtgox"), SignerConfig)


def test_every_venue_perpflow_ships_has_its_registry_line() -> None:
    assert set(registry.ADAPTERS) == set(VenueName)
